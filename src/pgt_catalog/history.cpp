// Refresh bookkeeping (see history.hpp).
#include "pgt_catalog/history.hpp"

#include "bridge/security.hpp"
#include "bridge/spi.hpp"

namespace pgtrickle::catalog {

using bridge::SpiExec;
using bridge::Value;

const char *Name(Initiator who) {
	switch (who) {
	case Initiator::kScheduler:
		return "SCHEDULER";
	case Initiator::kManual:
		return "MANUAL";
	case Initiator::kInitial:
		return "INITIAL";
	}
	return "MANUAL";
}

namespace {

Value OptText(const std::optional<std::int64_t> &v) {
	return v ? Value(std::to_string(*v)) : Value();
}

constexpr const char *kTsFromUs = "('epoch'::timestamptz + %s::bigint * interval '1 microsecond')";

std::string TsExpr(const char *param) {
	char buf[128];
	snprintf(buf, sizeof buf, kTsFromUs, param);
	return buf;
}

} // namespace

std::int64_t StartHistory(std::int64_t pgt_id, const std::string &action, Initiator who,
                          std::optional<int> group_id, std::optional<std::int64_t> group_epoch) {
	bridge::AsExtensionOwner as_owner;
	auto r =
	    SpiExec("INSERT INTO pgtrickle.pgt_refresh_history "
	            "(pgt_id, start_time, action, status, initiated_by, group_id, group_epoch) "
	            "VALUES ($1::bigint, clock_timestamp(), $2, 'RUNNING', $3, $4::int, $5::bigint) "
	            "RETURNING refresh_id",
	            {std::to_string(pgt_id), action, std::string(Name(who)),
	             group_id ? Value(std::to_string(*group_id)) : Value(), OptText(group_epoch)},
	            bridge::CachedPlan());
	return std::stoll(r.Get(0, 0));
}

void RecordCompletedHistory(std::int64_t pgt_id, Initiator who, std::optional<int> group_id,
                            TimestampUs start_time, const RefreshOutcome &outcome,
                            TimestampUs data_timestamp, std::optional<std::int64_t> group_epoch) {
	bridge::AsExtensionOwner as_owner;
	SpiExec("INSERT INTO pgtrickle.pgt_refresh_history (pgt_id, start_time, end_time, action, "
	        "status, initiated_by, group_id, group_epoch, rows_inserted, rows_deleted, "
	        "data_timestamp) VALUES ($1::bigint, " +
	            TsExpr("$2") +
	            ", clock_timestamp(), $3, 'COMPLETED', $4, $5::int, $6::bigint, $7::bigint, "
	            "$8::bigint, " +
	            TsExpr("$9") + ")",
	        {std::to_string(pgt_id), std::to_string(start_time), outcome.action,
	         std::string(Name(who)), group_id ? Value(std::to_string(*group_id)) : Value(),
	         OptText(group_epoch), std::to_string(outcome.rows_inserted),
	         std::to_string(outcome.rows_deleted), std::to_string(data_timestamp)},
	        bridge::CachedPlan());
}

void FinishHistory(std::int64_t refresh_id, const std::string &status,
                   const RefreshOutcome *outcome, std::optional<TimestampUs> data_timestamp,
                   const std::string &error_message, std::optional<std::int64_t> group_epoch) {
	bridge::AsExtensionOwner as_owner;
	SpiExec("UPDATE pgtrickle.pgt_refresh_history SET status = $2, end_time = clock_timestamp(), "
	        "group_epoch = coalesce($8::bigint, group_epoch), "
	        "action = coalesce($3, action), rows_inserted = $4::bigint, rows_deleted = $5::bigint, "
	        "data_timestamp = " +
	            TsExpr("$6") +
	            ", error_message = $7 "
	            "WHERE refresh_id = $1::bigint",
	        {std::to_string(refresh_id), status, outcome ? Value(outcome->action) : Value(),
	         outcome ? Value(std::to_string(outcome->rows_inserted)) : Value(),
	         outcome ? Value(std::to_string(outcome->rows_deleted)) : Value(),
	         OptText(data_timestamp), error_message.empty() ? Value() : Value(error_message),
	         OptText(group_epoch)},
	        bridge::CachedPlan());
}

void RecordSuccess(std::int64_t pgt_id, const RefreshOutcome &outcome, TimestampUs data_timestamp,
                   const capture::Frontier &frontier, const ReinitRequest &rebuilt_for) {
	bridge::AsExtensionOwner as_owner;
	bool no_data = outcome.action == "NO_DATA";
	// The rebuild request is cleared only when this refresh rebuilt because of it and the request
	// is still the one it read: a request stamped later (a DDL or a buffer-limit mark that
	// committed after the refresh read the catalog) survives for the next refresh. In READ
	// COMMITTED this UPDATE sees the newest committed row version (it waits for and re-checks a
	// concurrent update), so a later request cannot be missed here.
	std::string cleared =
	    "($7::bool AND (extract(epoch FROM reinit_requested_at) * 1000000)::bigint "
	    "IS NOT DISTINCT FROM $8::bigint)";
	SpiExec("UPDATE pgtrickle.pgt_stream_tables SET "
	        "is_populated = true, status = CASE WHEN status = 'SUSPENDED' THEN status "
	        "ELSE 'ACTIVE' END, consecutive_errors = 0, "
	        "needs_reinit = CASE WHEN " +
	            cleared + " THEN false ELSE needs_reinit END, reinit_reason = CASE WHEN " +
	            cleared + " THEN NULL ELSE reinit_reason END, reinit_requested_at = CASE WHEN " +
	            cleared +
	            " THEN NULL ELSE reinit_requested_at END, "
	            "last_error_message = NULL, last_error_at = NULL, last_refresh_at = "
	            "clock_timestamp(), data_timestamp = CASE WHEN $3::bool THEN data_timestamp ELSE " +
	            TsExpr("$2") +
	            " END, frontier = pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
	            "'snapshot', $4::text, 'own_xid', $5::text, 'own_cid', $6::text)), "
	            "updated_at = now() WHERE pgt_id = $1::bigint",
	        {std::to_string(pgt_id), std::to_string(data_timestamp), no_data ? "t" : "f",
	         frontier.snapshot, frontier.own_xid, frontier.own_cid, rebuilt_for.rebuilt ? "t" : "f",
	         OptText(rebuilt_for.requested_at)},
	        bridge::CachedPlan());
}

bool RecordFailure(std::int64_t pgt_id, const std::string &message, int max_errors) {
	bridge::AsExtensionOwner as_owner;
	auto r = SpiExec("UPDATE pgtrickle.pgt_stream_tables SET "
	                 "consecutive_errors = consecutive_errors + 1, last_error_message = $2, "
	                 "last_error_at = clock_timestamp(), updated_at = now(), "
	                 "status = CASE WHEN consecutive_errors + 1 >= $3::int THEN 'SUSPENDED' "
	                 "ELSE status END "
	                 "WHERE pgt_id = $1::bigint "
	                 "RETURNING status = 'SUSPENDED' AND consecutive_errors = $3::int",
	                 {std::to_string(pgt_id), message, std::to_string(max_errors)});
	return r.Get(0, 0) == "t";
}

std::int64_t BumpGroupEpoch(const std::vector<std::int64_t> &members) {
	bridge::AsExtensionOwner as_owner;
	std::string ids = "{";
	for (std::size_t i = 0; i < members.size(); i++) {
		ids += (i ? "," : "") + std::to_string(members[i]);
	}
	ids += "}";
	auto r = SpiExec("WITH m AS (SELECT max(group_epoch) + 1 AS e FROM pgtrickle.pgt_stream_tables "
	                 "WHERE pgt_id = ANY($1::bigint[])) "
	                 "UPDATE pgtrickle.pgt_stream_tables SET group_epoch = m.e FROM m "
	                 "WHERE pgt_id = ANY($1::bigint[]) RETURNING m.e",
	                 {ids});
	return std::stoll(r.Get(0, 0, "0"));
}

void Alert(const std::string &event, const std::string &stream_table, const std::string &detail) {
	SpiExec("SELECT pg_catalog.pg_notify('pg_trickle_alert', "
	        "pg_catalog.json_build_object('event', $1, 'stream_table', $2, 'detail', $3, "
	        "'at', clock_timestamp())::text)",
	        {event, stream_table, detail});
}

} // namespace pgtrickle::catalog
