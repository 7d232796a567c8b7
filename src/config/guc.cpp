// Definition of the pg_trickle.* GUCs.
#include "config/guc.hpp"

#include "core/options.hpp"

#include <climits>

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
}

namespace pgtrickle::config {

bool enabled = true;
int scheduler_interval_ms = 1000;
int min_schedule_seconds = 1;
int max_consecutive_errors = 3;
int diamond_consistency = static_cast<int>(core::DiamondConsistency::kAtomic);
int diamond_schedule_policy = static_cast<int>(core::SchedulePolicy::kFastest);
char *change_buffer_schema = nullptr;
double differential_max_change_ratio = 0.15;
double auto_full_min_saving = 10000.0;
int max_buffer_rows = 1000000;

namespace {

const struct config_enum_entry kConsistencyOptions[] = {
    {"none", static_cast<int>(core::DiamondConsistency::kNone), false},
    {"atomic", static_cast<int>(core::DiamondConsistency::kAtomic), false},
    {nullptr, 0, false},
};

const struct config_enum_entry kPolicyOptions[] = {
    {"fastest", static_cast<int>(core::SchedulePolicy::kFastest), false},
    {"slowest", static_cast<int>(core::SchedulePolicy::kSlowest), false},
    {nullptr, 0, false},
};

} // namespace

void DefineGucs() {
	DefineCustomBoolVariable(
	    "pg_trickle.enabled",
	    "Lets the scheduler refresh stream tables; manual refresh always works.", nullptr, &enabled,
	    true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("pg_trickle.scheduler_interval_ms",
	                        "Interval between two scheduler ticks, in milliseconds.", nullptr,
	                        &scheduler_interval_ms, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
	                        nullptr, nullptr, nullptr);
	DefineCustomIntVariable("pg_trickle.min_schedule_seconds",
	                        "Smallest duration schedule accepted, in seconds.", nullptr,
	                        &min_schedule_seconds, 1, 1, 86400 * 7, PGC_SUSET, GUC_UNIT_S, nullptr,
	                        nullptr, nullptr);
	DefineCustomIntVariable("pg_trickle.max_consecutive_errors",
	                        "Failed refreshes in a row after which a stream table is suspended.",
	                        nullptr, &max_consecutive_errors, 3, 1, 1000, PGC_SIGHUP, 0, nullptr,
	                        nullptr, nullptr);
	DefineCustomEnumVariable("pg_trickle.diamond_consistency",
	                         "Default diamond_consistency of new stream tables.", nullptr,
	                         &diamond_consistency, diamond_consistency, kConsistencyOptions,
	                         PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomEnumVariable("pg_trickle.diamond_schedule_policy",
	                         "Default diamond_schedule_policy of new stream tables.", nullptr,
	                         &diamond_schedule_policy, diamond_schedule_policy, kPolicyOptions,
	                         PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomStringVariable("pg_trickle.change_buffer_schema",
	                           "Schema holding the change buffers.", nullptr, &change_buffer_schema,
	                           "pgtrickle_changes", PGC_SUSET, 0, nullptr, nullptr, nullptr);
	DefineCustomRealVariable(
	    "pg_trickle.differential_max_change_ratio",
	    "Share of changed rows above which AUTO and DIFFERENTIAL refresh FULL.", nullptr,
	    &differential_max_change_ratio, 0.15, 0.0, 1000000.0, PGC_USERSET, 0, nullptr, nullptr,
	    nullptr);
	DefineCustomRealVariable(
	    "pg_trickle.auto_full_min_saving",
	    "Estimated cost a FULL refresh must save over DIFFERENTIAL for AUTO to choose it.",
	    "In the planner's cost units, written rows included. Below it AUTO refreshes "
	    "DIFFERENTIAL, which writes only the change.",
	    &auto_full_min_saving, 10000.0, 0.0, 1.0e12, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable(
	    "pg_trickle.max_buffer_rows",
	    "Captured changes a change buffer keeps for lagging stream tables before they are "
	    "rebuilt in full instead.",
	    "0 keeps changes for as long as any reader needs them.", &max_buffer_rows, 1000000, 0,
	    INT_MAX, PGC_SUSET, 0, nullptr, nullptr, nullptr);
	MarkGUCPrefixReserved("pg_trickle");
}

} // namespace pgtrickle::config
