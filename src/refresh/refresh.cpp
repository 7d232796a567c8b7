// Refresh execution (see refresh.hpp).
//
// A FULL refresh of a populated stream table that other stream tables read writes only the
// difference between the defining query's result and the stored rows (delta::PlanStoredDifference,
// applied like a DIFFERENTIAL delta), so that their change buffers receive only the real change;
// otherwise (no reader, first population, rebuild) it deletes the storage rows and inserts the
// result, which is cheaper than computing the difference; a table whose plan keeps algebraic
// aggregate state writes its rows from the rebuilt state (delta::FullFromState). All on the unit's
// snapshot; DELETE (not TRUNCATE) keeps it MVCC-safe: a reader in any isolation level sees either
// the old or the new contents, never an empty table.
#include "refresh/refresh.hpp"

#include "bridge/guard.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"
#include "config/guc.hpp"
#include "delta/apply.hpp"
#include "delta/apply_algebraic.hpp"
#include "delta/delta_plan.hpp"
#include "refresh/storage.hpp"
#include "refresh/write_guard.hpp"
#include "analyze/function_check.hpp"
#include "analyze/query_analysis.hpp"
#include "core/auto_mode.hpp"
#include "core/schedule.hpp"

#include <algorithm>

extern "C" {
#include "postgres.h"
#include "utils/snapmgr.h"
}

namespace pgtrickle::refresh {

using bridge::PgCall;
using bridge::SpiExec;
using bridge::SpiOptions;

namespace {

// Whether st must be recomputed: never populated, marked for rebuild, a time-dependent query,
// base changes it has not consumed, or an upstream stream table that changed after st last did
// (in this unit, or before). *buffered: false only when it has no work and none of its change
// buffers held a row at the pending check (capture::HasPendingBaseChanges).
bool HasWork(const catalog::StreamTable &st, const std::vector<Oid> &changed_in_unit,
             bool *buffered) {
	*buffered = true;
	if (!st.is_populated || st.needs_reinit) {
		return true;
	}
	// A time-dependent query (now(), a setting, a STABLE function) can change its result while
	// no source changes: it is recomputed (FULL) whenever asked. This runs before the pending
	// checks on purpose: parsing the query locks its sources, so a refresh that waits here for a
	// DDL on a source (DETACH PARTITION) then sees the marker that DDL wrote
	// (specs/partition_attach.spec).
	{
		bridge::AsQueryOwner as_owner(st.owner);
		if (analyze::TimeDependence(st.defining_query)) {
			return true;
		}
	}
	for (const auto &dep : st.deps) {
		if (std::find(changed_in_unit.begin(), changed_in_unit.end(), dep.relid) !=
		    changed_in_unit.end()) {
			return true;
		}
	}
	// Upstream stream tables (read only when st has any): the rule itself is core's.
	if (std::any_of(st.deps.begin(), st.deps.end(),
	                [](const catalog::Dependency &d) { return d.type == "STREAM_TABLE"; })) {
		auto upstream =
		    SpiExec("SELECT (extract(epoch FROM s.data_timestamp) * 1000000)::bigint "
		            "FROM pgtrickle.pgt_dependencies d "
		            "JOIN pgtrickle.pgt_stream_tables s ON s.pgt_relid = d.source_relid "
		            "WHERE d.pgt_id = $1::bigint",
		            {std::to_string(st.pgt_id)}, bridge::CachedPlan());
		for (const auto &row : upstream.rows) {
			std::optional<core::TimestampUs> source;
			if (row[0]) {
				source = std::stoll(*row[0]);
			}
			if (core::UpstreamChanged(source, st.data_timestamp)) {
				return true;
			}
		}
	}
	return capture::HasPendingBaseChanges(st, buffered);
}

} // namespace

bool FullWritesDifference(const catalog::StreamTable &st) {
	if (!st.is_populated || st.needs_reinit) {
		return false;
	}
	return SpiExec("SELECT EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies "
	               "WHERE source_relid = $1::oid)",
	               {std::to_string(st.relid)}, bridge::CachedPlan())
	           .Get(0, 0) == "t";
}

namespace {

// A FULL refresh of st, then its algebraic state, if any (delta::AfterFullRefresh). `decision`:
// the mode decision, when one was made (nullptr: AfterFullRefresh plans st's DIFFERENTIAL plan);
// its plan and its answer to FullWritesDifference are reused. An algebraic plan without readers
// aggregates once: the rows are written from the rebuilt state.
catalog::RefreshOutcome ExecuteFull(const catalog::StreamTable &st, Snapshot snapshot,
                                    const ModeDecision *decision) {
	const delta::DeltaPlan *plan = decision != nullptr ? &decision->plan : nullptr;
	catalog::RefreshOutcome outcome;
	outcome.action = st.needs_reinit ? "REINITIALIZE" : "FULL";
	bridge::AsQueryOwner as_owner(st.owner);
	InternalWriteScope writing(st.relid);
	SpiOptions options;
	options.snapshot = snapshot;
	bool writes_difference = decision != nullptr && decision->full_writes_difference
	                             ? *decision->full_writes_difference
	                             : FullWritesDifference(st);
	if (!writes_difference && plan != nullptr && plan->shape == delta::Shape::kAlgebraic) {
		catalog::RefreshOutcome from_state = delta::FullFromState(st, *plan, snapshot);
		from_state.action = outcome.action;
		return from_state;
	}
	if (writes_difference) {
		// Only what differs is written: stored rows not in the result are deleted, result rows
		// not stored are inserted (by identity, with multiplicity), one statement. Unchanged rows
		// keep their row versions, and the stream tables reading this one capture only the real
		// change.
		delta::DeltaPlan difference = delta::PlanStoredDifference(st.defining_query, st.relid);
		catalog::RefreshOutcome applied =
		    delta::ApplyDelta(st, difference, capture::Frontier{}, snapshot);
		outcome.rows_deleted = applied.rows_deleted;
		outcome.rows_inserted = applied.rows_inserted;
		delta::AfterFullRefresh(st, plan, snapshot);
		return outcome;
	}
	auto deleted = SpiExec("DELETE FROM " + st.Qualified(), {}, options);
	auto inserted = SpiExec("INSERT INTO " + st.Qualified() + " (" + st.column_list +
	                            ") SELECT * FROM (\n" + st.defining_query + "\n) AS __pgt_q",
	                        {}, options);
	outcome.rows_deleted = static_cast<std::int64_t>(deleted.processed);
	outcome.rows_inserted = static_cast<std::int64_t>(inserted.processed);
	delta::AfterFullRefresh(st, plan, snapshot);
	return outcome;
}

} // namespace

ModeDecision DecideMode(const catalog::StreamTable &st) {
	ModeDecision d;
	if (st.mode == core::RefreshMode::kFull) {
		d.reason = "refresh_mode is FULL";
		return d;
	}
	// The pending changes per source and the rebuild markers, one scan per buffer, first: the plan
	// reads no buffer and no old contents of a source without any (delta::PlanDelta's `quiet`).
	// Counted on a snapshot at least as late as the refresh's (the marker of a DDL this refresh
	// waited for must be seen: specs/partition_attach.spec), which sees every change the delta
	// statement will read.
	std::optional<capture::Frontier> since;
	std::int64_t pending = 0;
	std::int64_t source_rows = 0;
	std::vector<Oid> quiet;
	char marker = '\0';
	if (st.is_populated && !st.needs_reinit) {
		since = capture::LoadFrontier(st.pgt_id);
		if (since) {
			pending = capture::CountPending(st, &source_rows, config::differential_max_change_ratio,
			                                &quiet, &marker);
		}
	}
	d.plan = delta::PlanDelta(st.defining_query, st.relid, quiet);
	if (d.plan.shape == delta::Shape::kUnsupported) {
		d.reason = "the query uses " + d.plan.reason + ", which DIFFERENTIAL does not maintain";
		return d;
	}
	// AUTO does not pick a plan that recomputes a query level: it evaluates that level twice
	// over its whole input (new and old contents of its tables) whenever one of them changed,
	// and the old contents are not indexed, so a correlated subquery rescans them per outer row
	// (TPC-H Q15, Q17, Q20, Q22 at SF 0.01 took seconds to minutes, where FULL takes
	// milliseconds, before the decorrelation rewrites of src/ivm/rw_*.cpp made them joins).
	// The recursive operator is treated the same way (its recursion runs over both contents).
	// DIFFERENTIAL, chosen explicitly, still uses it.
	if (st.mode == core::RefreshMode::kAuto && d.plan.recomputes) {
		d.reason = "AUTO refreshes FULL: the DIFFERENTIAL plan recomputes a query level (" +
		           d.plan.operators + "), which costs more than a FULL refresh";
		return d;
	}
	if (!st.is_populated || st.needs_reinit) {
		d.reason = st.needs_reinit ? "rebuilding (needs_reinit): " +
		                                 st.reinit_reason.value_or("a source changed shape")
		                           : "not populated yet: first refresh is FULL";
		return d;
	}
	if (!since) {
		d.reason = "no frontier yet: first refresh is FULL";
		return d;
	}
	auto readable = SpiExec(
	    "SELECT coalesce(pg_catalog.bool_and(pg_catalog.has_table_privilege($2::oid, c.oid, "
	    "'SELECT') AND NOT c.relrowsecurity), true) FROM pg_catalog.pg_class c "
	    "JOIN pgtrickle.pgt_change_tracking t ON t.source_relid = c.oid "
	    "WHERE $1::bigint = ANY (t.consumers)",
	    {std::to_string(st.pgt_id), std::to_string(st.owner)});
	if (readable.Get(0, 0) != "t") {
		d.reason = "the owner cannot read every captured change (column privileges only, or row "
		           "level security on a source)";
		return d;
	}
	if (auto rebuild = capture::RebuildReason(marker)) {
		d.reason = *rebuild;
		return d;
	}
	double ratio = source_rows > 0 ? static_cast<double>(pending) / source_rows : 0.0;
	if (pending > 0 && ratio > config::differential_max_change_ratio) {
		// The count stops at the first row beyond the ratio (capture::CountPending).
		d.reason = "pending changes (at least " + std::to_string(pending) +
		           " rows, a ratio of at least " + std::to_string(ratio) +
		           ") exceed pg_trickle.differential_max_change_ratio";
		return d;
	}
	if (st.mode == core::RefreshMode::kAuto) {
		// By PostgreSQL's estimates of both refreshes (core/auto_mode.hpp), the change sets at
		// the pending counts just taken (CountPending notes them for their planner support).
		double cpu_tuple_cost = bridge::CpuTupleCost();
		core::PlanCost differential = delta::EstimateDifferential(
		    st, d.plan, *since, delta::PendingSize{pending, source_rows});
		std::optional<core::PlanCost> full;
		if (core::NeedsFullEstimate(core::TotalCost(differential, cpu_tuple_cost),
		                            config::auto_full_min_saving)) {
			d.full_writes_difference = FullWritesDifference(st);
			full = delta::EstimateFull(st, d.plan, *d.full_writes_difference);
		}
		core::AutoChoice choice =
		    core::ChooseByCost(differential, full, cpu_tuple_cost, config::auto_full_min_saving);
		d.differential_cost = core::DescribeCost(differential, cpu_tuple_cost);
		if (full) {
			d.full_cost = core::DescribeCost(*full, cpu_tuple_cost);
		}
		if (choice.full) {
			d.reason = "AUTO refreshes FULL: " + choice.reason +
			           ", a saving of at least pg_trickle.auto_full_min_saving";
			return d;
		}
	}
	d.differential = true;
	d.since = *since;
	d.reason = "DIFFERENTIAL: " + std::to_string(pending) + " pending change rows";
	return d;
}

namespace {

// A manual refresh of `target_id` found `member` suspended (SPEC §5: its group is refreshed whole).
[[noreturn]] void RejectSuspended(const catalog::StreamTable &member,
                                  const std::vector<catalog::StreamTable> &unit,
                                  std::int64_t target_id) {
	if (member.pgt_id == target_id) {
		throw core::Error("55000", "stream table " + member.Display() + " is suspended", {},
		                  "Call pgtrickle.resume_stream_table() first.");
	}
	std::string target = member.Display();
	for (const auto &m : unit) {
		if (m.pgt_id == target_id) {
			target = m.Display();
		}
	}
	throw core::Error("55000",
	                  "cannot refresh " + target + ": member " + member.Display() +
	                      " of its consistency group is suspended",
	                  "Refreshing the other members alone would let the convergence point combine "
	                  "two versions of their sources.",
	                  "Call pgtrickle.resume_stream_table() on the suspended member.");
}

// REINITIALIZE: a source changed under the stream table (ALTER TABLE, a replaced view). The
// stored query is analyzed again (as the owner), the storage takes its new shape, the query and
// the columns it reads are recorded, and capture covers any new base table; then FULL.
catalog::StreamTable Reinitialize(const catalog::StreamTable &st) {
	analyze::AnalyzedQuery analyzed;
	{
		bridge::AsQueryOwner as_owner(st.owner);
		analyzed = analyze::AnalyzeQuery(st.defining_query, st.schema, st.name);
		ReshapeStorage(st, analyzed);
	}
	// Readers of this stream table rebuild FULL rather than apply a delete and re-insert of every
	// row (ReshapeStorage already marked them when the storage changed shape).
	capture::WriteRebuildMarker(st.relid);
	RecordQuery(st.pgt_id, analyzed, nullptr);
	capture::AttachConsumer(st.pgt_id, capture::BaseTablesOf(st.deps, nullptr));
	catalog::StreamTable fresh = *catalog::LoadById(st.pgt_id);
	fresh.needs_reinit = true; // still reported as REINITIALIZE
	return fresh;
}

catalog::RefreshOutcome Execute(const catalog::StreamTable &st, Snapshot snapshot) {
	if (st.needs_reinit) {
		catalog::StreamTable fresh = Reinitialize(st);
		return ExecuteFull(fresh, snapshot, nullptr);
	}
	// Everything that parses, plans or runs the query, deciding the mode included, runs as the
	// owner in a security-restricted operation.
	bridge::AsQueryOwner as_owner(st.owner);
	ModeDecision d = DecideMode(st);
	if (!d.differential) {
		return ExecuteFull(st, snapshot, &d);
	}
	InternalWriteScope writing(st.relid);
	return delta::ApplyDelta(st, d.plan, d.since, snapshot);
}

} // namespace

UnitResult RefreshUnit(const std::vector<catalog::StreamTable> &loaded, const UnitOptions &options,
                       std::int64_t *failed_member) {
	UnitResult result;
	// A scheduled unit wrote its RUNNING rows in a transaction of its own (history_ids); a manual
	// one runs in the caller's transaction, where no other session sees a RUNNING row before it
	// commits and an error rolls the row back with the refresh: it writes its rows once, finished.
	const std::vector<std::int64_t> &history_ids = options.history_ids;
	catalog::TimestampUs start_time = catalog::NowUs();

	// One snapshot for every member: a commit to a shared source between two member refreshes
	// reaches all of them or none.
	Snapshot snapshot = PgCall([] { return RegisterSnapshot(GetTransactionSnapshot()); });
	// The pending checks below note what they read for the mode decision; nothing read before
	// this snapshot may stand in for them.
	capture::ForgetSeenBuffers();
	catalog::TimestampUs data_timestamp = catalog::NowUs();
	SpiOptions on_snapshot;
	on_snapshot.snapshot = snapshot;
	on_snapshot.read_only = true;
	// The frontier: which source changes this refresh consumed (see capture.hpp).
	std::string snapshot_text =
	    SpiExec("SELECT pg_catalog.pg_current_snapshot()::text", {}, on_snapshot).Get(0, 0);

	// The members as the catalog holds them now, read after the caller took their single-flight
	// locks and after the snapshot above (the caller's copies may be a transaction old: the
	// scheduler loads them in its T1). Whatever rebuild request (needs_reinit) committed before
	// the snapshot is therefore seen here, so a refresh never reads a change buffer as DIFFERENTIAL
	// after a trim that excluded it (capture::TrimBuffers) committed before its snapshot. A
	// request that commits later is left for the next refresh: RecordSuccess clears only the
	// request read here.
	std::vector<catalog::StreamTable> members;
	for (const auto &st : loaded) {
		auto fresh = catalog::LoadById(st.pgt_id);
		if (!fresh) {
			throw core::Error("42P01", "stream table " + st.Display() + " does not exist");
		}
		if (options.reject_suspended && fresh->status == core::StStatus::kSuspended) {
			RejectSuspended(*fresh, loaded, *options.reject_suspended);
		}
		members.push_back(std::move(*fresh));
	}

	std::vector<Oid> changed_in_unit;
	// Whether a buffer of some member may hold rows to trim: not when every member found nothing
	// to do in buffers that held no row at its pending check (HasWork).
	bool trim = false;
	for (const auto &st : members) {
		*failed_member = st.pgt_id;
		bool buffered = true;
		if (HasWork(st, changed_in_unit, &buffered)) {
			result.outcomes.push_back(Execute(st, snapshot));
			changed_in_unit.push_back(st.relid);
			trim = true;
		} else {
			result.outcomes.push_back(catalog::RefreshOutcome{"NO_DATA", 0, 0});
			trim = trim || buffered;
		}
	}
	*failed_member = 0;
	PgCall([&] { UnregisterSnapshot(snapshot); });
	capture::Frontier frontier = capture::MakeFrontier(snapshot_text);

	std::vector<std::int64_t> ids;
	for (const auto &st : members) {
		ids.push_back(st.pgt_id);
	}
	if (options.atomic_group) {
		result.epoch = catalog::BumpGroupEpoch(ids);
	}
	for (std::size_t i = 0; i < members.size(); i++) {
		catalog::ReinitRequest rebuilt_for;
		rebuilt_for.rebuilt =
		    members[i].needs_reinit && result.outcomes[i].action == "REINITIALIZE";
		rebuilt_for.requested_at = members[i].reinit_requested_at;
		catalog::RecordSuccess(members[i].pgt_id, result.outcomes[i], data_timestamp, frontier,
		                       rebuilt_for);
		if (history_ids.empty()) {
			catalog::RecordCompletedHistory(members[i].pgt_id, options.who, options.group_id,
			                                start_time, result.outcomes[i], data_timestamp,
			                                result.epoch);
		} else {
			catalog::FinishHistory(history_ids[i], "COMPLETED", &result.outcomes[i], data_timestamp,
			                       {}, result.epoch);
		}
	}
	if (!trim) {
		return result;
	}
	std::vector<Oid> tables;
	for (const auto &st : members) {
		auto captured = capture::CapturedTablesOf(st.pgt_id);
		tables.insert(tables.end(), captured.begin(), captured.end());
	}
	std::sort(tables.begin(), tables.end());
	tables.erase(std::unique(tables.begin(), tables.end()), tables.end());
	capture::TrimBuffers(tables, ids);
	return result;
}

} // namespace pgtrickle::refresh
