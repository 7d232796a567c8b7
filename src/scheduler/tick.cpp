// One scheduler tick (see tick.hpp).
//
// The scheduler only decides what is due: planning reads the catalog once per tick and walks the
// consistency groups in topological order. Each due unit (a singleton, or every member of an
// atomic group) is run by refresh::RunScheduledUnit (src/refresh/unit.cpp) in three steps:
//   T1  take the members' single-flight locks (session-level, so they span T2) and commit RUNNING
//       history rows: a crash during the refresh leaves evidence that start-up recovery turns
//       into FAILED;
//   T2  refresh the unit inside one internal subtransaction, all members on one snapshot; the
//       members' catalog rows are read again there, after the snapshot (refresh::RefreshUnit):
//       T1's copies only name them, so a rebuild request (needs_reinit) that commits between T1
//       and T2 is acted on, and one that commits later is not erased; on failure the
//       subtransaction is rolled back (no member changes) and the failure bookkeeping
//       (FAILED / ROLLED_BACK rows, error counter, suspension, alerts) is written in T2 outside it;
//   T3  release the locks, once T2's results are visible to whoever takes them next.
#include "scheduler/tick.hpp"

#include "api/restore.hpp"
#include "bridge/guard.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "pgt_catalog/catalog.hpp"
#include "pgt_catalog/history.hpp"
#include "config/guc.hpp"
#include "core/dag.hpp"
#include "core/schedule.hpp"
#include "capture/capture.hpp"
#include "refresh/unit.hpp"

#include <algorithm>
#include <map>
#include <set>

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/snapmgr.h"
}

namespace pgtrickle::scheduler {

namespace {

using bridge::InTransaction;
using bridge::PgCall;
using bridge::SpiExec;
using catalog::StreamTable;

using refresh::Runnable;

bool InBackoff(const StreamTable &st, const core::Schedule &schedule, core::TimestampUs now) {
	if (st.consecutive_errors <= 0 || !st.last_error_at) {
		return false;
	}
	return now < core::RetryNotBefore(st.consecutive_errors, *st.last_error_at, schedule);
}

} // namespace

bool ExtensionPresent() {
	bool present = false;
	PgCall([&] {
		StartTransactionCommand();
		present = OidIsValid(get_extension_oid("pg_trickle", true)) && !creating_extension;
		CommitTransactionCommand();
	});
	return present;
}

namespace {

// Whether some stream table's stored tree was left for a later tick: its relations were locked
// (api::RefreshDefiningTrees never waits for them).
bool defining_trees_pending = false;

} // namespace

void RecoverInterruptedRefreshes() {
	InTransaction([] { defining_trees_pending = !api::RefreshDefiningTrees(); });
	InTransaction([] {
		bridge::AsExtensionOwner as_owner;
		auto r = SpiExec("UPDATE pgtrickle.pgt_refresh_history SET status = 'FAILED', "
		                 "end_time = clock_timestamp(), error_message = 'interrupted: the "
		                 "pg_trickle scheduler restarted while this refresh was running' "
		                 "WHERE status = 'RUNNING'");
		if (r.processed > 0) {
			ereport(LOG, (errmsg("pg_trickle: marked %llu interrupted refreshes as failed",
			                     (unsigned long long)r.processed)));
		}
	});
}

void RunTick(SchedulerState &state) {
	if (defining_trees_pending) {
		InTransaction([] { defining_trees_pending = !api::RefreshDefiningTrees(); });
	}
	std::vector<StreamTable> all;
	std::vector<core::Group> groups;
	std::vector<std::optional<int>> numbers;
	std::map<std::int64_t, bool> pending_base;
	bool cycle = false;
	InTransaction([&] {
		// Stream tables restored from a dump are rebound first (api/restore.hpp).
		auto error = bridge::RunInSubtransaction([] { api::RebindRestored(true); });
		if (error) {
			std::string message = error->what();
			PgCall([&] {
				ereport(WARNING, (errmsg("pg_trickle could not rebind restored stream tables: %s",
				                         message.c_str())));
			});
		}
		all = catalog::LoadAll();
		try {
			core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
			groups = dag.Groups();
		} catch (const core::Error &e) {
			cycle = true;
			ereport(WARNING, (errmsg("pg_trickle scheduler skipped a tick: %s", e.what())));
			return;
		}
		numbers = refresh::GroupNumbers(groups);
		// Only 'calculated' schedules depend on pending changes; the others are due by time.
		// Needed for 'calculated' schedules, and for every member of a consistency group (whose
		// pending changes make calculated members downstream of it due).
		std::set<std::int64_t> grouped;
		for (const auto &g : groups) {
			if (!g.IsSingleton()) {
				grouped.insert(g.members.begin(), g.members.end());
			}
		}
		std::vector<StreamTable> wanted;
		for (const auto &st : all) {
			bool calculated =
			    core::ParseSchedule(st.schedule, 0).kind == core::ScheduleKind::kCalculated;
			if ((calculated || grouped.count(st.pgt_id) > 0) && Runnable(st)) {
				wanted.push_back(st);
			}
		}
		auto pending = capture::PendingForAll(wanted, true);
		for (const auto &[id, p] : pending) {
			pending_base[id] = p;
		}
		// stale_data alerts, once per episode. Staleness has one definition, the `stale` column of
		// stream_tables_info (docs/configuration.md), for every kind of schedule.
		std::set<std::int64_t> stale;
		for (const auto &row :
		     SpiExec("SELECT pgt_id FROM pgtrickle.stream_tables_info WHERE stale").rows) {
			stale.insert(std::stoll(*row[0]));
		}
		for (const auto &st : all) {
			if (stale.count(st.pgt_id) > 0) {
				if (state.stale_alerted.insert(st.pgt_id).second) {
					catalog::Alert("stale_data", st.Display(),
					               "data older than twice the schedule (" + st.schedule + ")");
				}
			} else {
				state.stale_alerted.erase(st.pgt_id);
			}
		}
	});
	if (cycle) {
		return;
	}

	std::map<std::int64_t, StreamTable *> by_id;
	std::map<Oid, std::int64_t> by_relid;
	for (auto &st : all) {
		by_id[st.pgt_id] = &st;
		by_relid[st.relid] = st.pgt_id;
	}
	// Due check with the in-memory state, which this tick updates as units refresh, so that a
	// 'calculated' reader refreshes in the same tick as its upstream.
	// `changing`: relids of stream tables of the same group that will see changes this tick, so
	// that a 'calculated' member downstream of them counts as having pending changes too (else a
	// slowest group of calculated members would wait for itself forever).
	auto member_due = [&](const StreamTable &st, core::TimestampUs now, std::set<Oid> *changing) {
		bool pending = pending_base[st.pgt_id];
		for (const auto &dep : st.deps) {
			if (changing != nullptr && changing->count(dep.relid) > 0) {
				pending = true;
			}
		}
		for (const auto &dep : st.deps) {
			auto it = by_relid.find(dep.relid);
			if (it == by_relid.end()) {
				continue;
			}
			if (core::UpstreamChanged(by_id[it->second]->data_timestamp, st.data_timestamp)) {
				pending = true;
			}
		}
		if (pending && changing != nullptr) {
			changing->insert(st.relid);
		}
		if (st.needs_reinit || !st.is_populated) {
			return true;
		}
		core::Schedule s = core::ParseSchedule(st.schedule, 0);
		return core::IsDue(s, st.last_refresh_at, now, pending);
	};
	auto blocked = [&](const StreamTable &st, core::TimestampUs now) {
		return !Runnable(st) || InBackoff(st, core::ParseSchedule(st.schedule, 0), now);
	};

	for (std::size_t gi = 0; gi < groups.size(); gi++) {
		const core::Group &group = groups[gi];
		core::TimestampUs now = catalog::NowUs();
		std::vector<refresh::Unit> units;
		if (group.atomic) {
			// Held: a member that cannot run keeps the whole group at its last consistent
			// version (health_check() names it).
			bool held = std::any_of(group.members.begin(), group.members.end(),
			                        [&](std::int64_t id) { return blocked(*by_id[id], now); });
			if (held) {
				continue;
			}
			std::vector<bool> due;
			std::set<Oid> changing;
			for (auto id : group.members) { // topological order
				due.push_back(member_due(*by_id[id], now, &changing));
			}
			if (core::GroupDue(group.policy, due)) {
				refresh::Unit unit{{}, numbers[gi], true};
				for (auto id : group.members) {
					unit.members.push_back(*by_id[id]);
				}
				units.push_back(std::move(unit));
			}
		} else {
			for (auto id : group.members) {
				const StreamTable &st = *by_id[id];
				if (!blocked(st, now) && member_due(st, now, nullptr)) {
					units.push_back(refresh::Unit{{st}, numbers[gi], false});
				}
			}
		}
		for (const auto &unit : units) {
			pgstat_report_activity(STATE_RUNNING, "pg_trickle: refreshing");
			auto refreshed_at = refresh::RunScheduledUnit(unit);
			pgstat_report_activity(STATE_IDLE, nullptr);
			for (const auto &member : unit.members) {
				std::int64_t id = member.pgt_id;
				StreamTable &st = *by_id[id];
				if (refreshed_at) {
					st.data_timestamp = *refreshed_at;
					st.last_refresh_at = *refreshed_at;
					st.is_populated = true;
					st.needs_reinit = false;
					st.consecutive_errors = 0;
					pending_base[id] = false;
				} else {
					// Failed or skipped: re-read next tick; do not retry within this one.
					st.consecutive_errors = std::max(st.consecutive_errors, 1);
					st.last_error_at = now;
				}
			}
		}
	}
}

} // namespace pgtrickle::scheduler
