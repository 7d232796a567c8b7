// SQL API: diamond_groups(), dependency_tree(), explain_st() and small helpers used by the views
// (SPEC §3.2, §6). Everything is computed from the catalog on every call.
#include "api/args.hpp"
#include "api/units.hpp"
#include "bridge/guard.hpp"
#include "bridge/search_path.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"
#include "pgt_catalog/catalog.hpp"
#include "config/guc.hpp"
#include "scheduler/launcher.hpp"
#include "core/dag.hpp"
#include "core/schedule.hpp"
#include "delta/apply.hpp"
#include "delta/apply_algebraic.hpp"
#include "refresh/refresh.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

extern "C" {
#include "postgres.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

using namespace pgtrickle;

namespace {

using bridge::SpiExec;

std::map<std::int64_t, const catalog::StreamTable *>
ById(const std::vector<catalog::StreamTable> &all) {
	std::map<std::int64_t, const catalog::StreamTable *> by_id;
	for (const auto &st : all) {
		by_id[st.pgt_id] = &st;
	}
	return by_id;
}

std::int64_t GroupEpoch(const core::Group &group,
                        const std::map<std::int64_t, const catalog::StreamTable *> &by_id) {
	std::int64_t epoch = 0;
	for (auto id : group.members) {
		epoch = std::max(epoch, by_id.at(id)->group_epoch);
	}
	return epoch;
}

std::string RelationName(Oid relid) {
	auto r = SpiExec("SELECT $1::oid::regclass::text", {std::to_string(relid)});
	return r.Get(0, 0, std::to_string(relid));
}

} // namespace

PGT_FUNCTION(pgtrickle_diamond_groups) {
	bridge::SpiScope spi;
	auto all = catalog::LoadAll();
	auto by_id = ById(all);
	core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
	auto numbers = api::GroupNumbers(dag);
	std::vector<api::TextRow> rows;
	const auto &groups = dag.Groups();
	for (std::size_t i = 0; i < groups.size(); i++) {
		if (!numbers[i]) {
			continue;
		}
		const auto &group = groups[i];
		std::string epoch = std::to_string(GroupEpoch(group, by_id));
		for (auto id : group.members) {
			const auto *st = by_id.at(id);
			bool convergence = std::find(group.convergence.begin(), group.convergence.end(), id) !=
			                   group.convergence.end();
			rows.push_back({std::to_string(*numbers[i]), st->name, st->schema,
			                std::string(convergence ? "t" : "f"), epoch,
			                std::string(core::Name(group.policy))});
		}
	}
	return api::ReturnRows(fcinfo, rows);
}

PGT_FUNCTION(pgtrickle_dependency_tree) {
	bridge::SpiScope spi;
	auto all = catalog::LoadAll();
	auto by_id = ById(all);
	std::map<Oid, const catalog::StreamTable *> by_relid;
	for (const auto &st : all) {
		by_relid[st.relid] = &st;
	}
	core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
	auto numbers = api::GroupNumbers(dag);
	std::map<std::int64_t, std::string> membership;
	for (std::size_t i = 0; i < dag.Groups().size(); i++) {
		if (!numbers[i]) {
			continue;
		}
		const auto &group = dag.Groups()[i];
		for (auto id : group.members) {
			bool conv = std::find(group.convergence.begin(), group.convergence.end(), id) !=
			            group.convergence.end();
			membership[id] = "group " + std::to_string(*numbers[i]) +
			                 (conv ? ", convergence" : "") + ", " + core::Name(group.policy) +
			                 (group.atomic ? ", atomic" : ", not atomic");
		}
	}
	// Sinks (stream tables nothing reads) first, each followed by its sources, depth-first.
	std::set<Oid> read_by_st;
	for (const auto &st : all) {
		for (const auto &dep : st.deps) {
			read_by_st.insert(dep.relid);
		}
	}
	std::vector<api::TextRow> rows;
	std::function<void(Oid, const std::string &, const std::string &, int)> emit;
	emit = [&](Oid relid, const std::string &prefix, const std::string &child_prefix, int depth) {
		auto it = by_relid.find(relid);
		std::string label;
		std::string type;
		std::optional<std::string> group;
		if (it != by_relid.end()) {
			const auto *st = it->second;
			type = "STREAM_TABLE";
			label = st->Display() + " [" + core::Name(st->mode) + ", " + st->schedule + ", " +
			        core::Name(st->status);
			auto m = membership.find(st->pgt_id);
			if (m != membership.end()) {
				label += "; " + m->second;
			}
			label += "]";
			for (std::size_t i = 0; i < dag.Groups().size(); i++) {
				const auto &members = dag.Groups()[i].members;
				if (numbers[i] &&
				    std::find(members.begin(), members.end(), st->pgt_id) != members.end()) {
					group = std::to_string(*numbers[i]);
				}
			}
		} else {
			auto r = SpiExec("SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATVIEW' "
			                 "WHEN 'f' THEN 'FOREIGN_TABLE' ELSE 'TABLE' END "
			                 "FROM pg_catalog.pg_class c WHERE c.oid = $1::oid",
			                 {std::to_string(relid)});
			type = r.Get(0, 0, "TABLE");
			label = RelationName(relid) + " (" + type + ")";
		}
		std::string name = it != by_relid.end() ? it->second->Display() : RelationName(relid);
		rows.push_back({prefix + label, name, type, std::to_string(depth), group});
		if (it == by_relid.end()) {
			return;
		}
		const auto &deps = it->second->deps;
		for (std::size_t i = 0; i < deps.size(); i++) {
			bool last = i + 1 == deps.size();
			emit(deps[i].relid, child_prefix + (last ? "└── " : "├── "),
			     child_prefix + (last ? "    " : "│   "), depth + 1);
		}
	};
	for (auto id : dag.TopologicalOrder()) {
		const auto *st = by_id.at(id);
		if (read_by_st.count(st->relid) == 0) {
			emit(st->relid, "", "", 0);
		}
	}
	return api::ReturnRows(fcinfo, rows);
}

PGT_FUNCTION(pgtrickle_explain_st) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	bridge::SpiScope spi;
	catalog::StreamTable st = catalog::Resolve(name);
	bridge::PinnedSearchPath pin;
	auto all = catalog::LoadAll();
	core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
	auto numbers = api::GroupNumbers(dag);
	auto by_id = ById(all);

	std::vector<api::TextRow> rows;
	auto add = [&](const std::string &property, std::optional<std::string> value) {
		rows.push_back({property, std::move(value)});
	};
	add("name", st.Display());
	add("status", core::Name(st.status));
	add("refresh_mode", core::Name(st.mode));
	// The definition is public (like a view's); what the change buffers hold (the pending-change
	// counts the mode decision rests on) only for the owner and pg_read_all_stats, with
	// pg_stat_activity's marker for everyone else. The query is parsed as its owner only.
	bool details = bridge::MaySeeDetails(st.owner);
	const std::string hidden = "<insufficient privilege>";
	refresh::ModeDecision decision;
	{
		bridge::AsQueryOwner as_owner(st.owner);
		if (details) {
			decision = refresh::DecideMode(st);
		} else if (st.mode != core::RefreshMode::kFull) {
			decision.plan = delta::PlanDelta(st.defining_query, st.relid);
		}
	}
	add("effective_mode", !details ? hidden : decision.differential ? "DIFFERENTIAL" : "FULL");
	add("mode_reason", details ? decision.reason : hidden);
	if (decision.differential_cost) {
		add("auto_differential_cost", decision.differential_cost);
		add("auto_full_cost", decision.full_cost);
	}
	add("differential_support",
	    decision.plan.shape == delta::Shape::kUnsupported
	        ? std::optional<std::string>(st.mode == core::RefreshMode::kFull
	                                         ? "not checked (FULL)"
	                                         : "unsupported: " + decision.plan.reason)
	        : std::optional<std::string>(decision.plan.shape == delta::Shape::kRows
	                                         ? "supported: row delta"
	                                     : decision.plan.shape == delta::Shape::kAlgebraic
	                                         ? "supported: algebraic aggregates"
	                                         : "supported: affected-group recomputation"));
	add("schedule", st.schedule);
	auto schedule = core::ParseSchedule(st.schedule, 0);
	add("schedule_kind", schedule.kind == core::ScheduleKind::kDuration ? "duration"
	                     : schedule.kind == core::ScheduleKind::kCron   ? "cron (UTC)"
	                                                                    : "calculated");
	add("is_populated", st.is_populated ? "true" : "false");
	add("needs_reinit", st.needs_reinit ? "true" : "false");
	add("reinit_reason", st.needs_reinit ? st.reinit_reason : std::nullopt);
	add("consecutive_errors", std::to_string(st.consecutive_errors));
	add("data_timestamp",
	    st.data_timestamp ? std::optional<std::string>(catalog::FormatTimestamp(*st.data_timestamp))
	                      : std::nullopt);
	add("defining_query", st.defining_query);
	std::string sources;
	for (const auto &dep : st.deps) {
		sources += (sources.empty() ? "" : ", ") + RelationName(dep.relid) + " (" + dep.type + ")";
	}
	add("sources", sources);
	add("diamond_consistency", core::Name(st.consistency));
	add("diamond_schedule_policy", core::Name(st.policy));
	std::optional<std::string> group_text;
	for (std::size_t i = 0; i < dag.Groups().size(); i++) {
		const auto &group = dag.Groups()[i];
		if (!numbers[i] || std::find(group.members.begin(), group.members.end(), st.pgt_id) ==
		                       group.members.end()) {
			continue;
		}
		std::string members;
		for (auto id : group.members) {
			members += (members.empty() ? "" : ", ") + by_id.at(id)->Display();
		}
		group_text = "group " + std::to_string(*numbers[i]) + " (" + members + "); policy " +
		             core::Name(group.policy) +
		             (group.atomic ? "; refreshed atomically" : "; members refresh independently");
	}
	add("consistency_group", group_text ? group_text : std::optional<std::string>("none"));
	// A FULL refresh that writes only the difference (refresh::FullWritesDifference).
	if (refresh::FullWritesDifference(st)) {
		bridge::AsQueryOwner as_owner(st.owner);
		add("full_refresh_sql",
		    delta::DescribeApply(st, delta::PlanStoredDifference(st.defining_query, st.relid)));
	} else if (decision.plan.shape == delta::Shape::kAlgebraic) {
		// The state is rebuilt and the rows written from it (delta::FullFromState).
		add("full_refresh_sql", delta::DescribeFullFromState(st, decision.plan));
	} else {
		add("full_refresh_sql", "DELETE FROM " + st.Qualified() + "; INSERT INTO " +
		                            st.Qualified() + " SELECT * FROM (" + st.defining_query +
		                            ") AS __pgt_q");
	}
	if (decision.plan.shape != delta::Shape::kUnsupported) {
		add("differential_operators", decision.plan.operators);
		if (decision.plan.shape == delta::Shape::kAlgebraic) {
			add("algebraic_aggregates", delta::DescribeAlgebraic(decision.plan));
		}
		add("delta_sql", decision.plan.delta_sql);
		add("differential_apply_sql", delta::DescribeApply(st, decision.plan));
	}
	return api::ReturnRows(fcinfo, rows);
}

PGT_FUNCTION(pgtrickle_pending_change_counts) {
	bridge::SpiScope spi;
	bridge::PinnedSearchPath pin;
	std::vector<api::TextRow> rows;
	for (const auto &st : catalog::LoadAll()) {
		// What the buffers hold only for the owner and pg_read_all_stats (like explain_st).
		bool details = bridge::MaySeeDetails(st.owner);
		for (const auto &b : capture::PendingBySource(st)) {
			rows.push_back({st.Display(), b.source,
			                details ? std::optional<std::string>(std::to_string(b.pending_rows))
			                        : std::nullopt,
			                details ? std::optional<std::string>(std::to_string(b.buffer_rows))
			                        : std::nullopt});
		}
	}
	return api::ReturnRows(fcinfo, rows);
}

PGT_FUNCTION(pgtrickle_schedule_period) {
	auto schedule_text = api::TextArg(fcinfo, 0);
	try {
		core::Schedule s = core::ParseSchedule(*schedule_text, 0);
		if (s.kind == core::ScheduleKind::kDuration) {
			PG_RETURN_FLOAT8(static_cast<double>(s.seconds));
		}
		if (s.kind == core::ScheduleKind::kCron) {
			auto first = core::NextCronTime(s.cron, catalog::NowUs());
			auto second = first ? core::NextCronTime(s.cron, *first) : std::nullopt;
			if (first && second) {
				PG_RETURN_FLOAT8(static_cast<double>(*second - *first) / 1e6);
			}
		}
	} catch (const core::Error &) {
		// Not a valid schedule: no period.
	}
	PG_RETURN_NULL();
}

PGT_FUNCTION(pgtrickle_resolve) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	bridge::SpiScope spi;
	catalog::StreamTable st = catalog::Resolve(name);
	PG_RETURN_INT64(st.pgt_id);
}

namespace {

// The "scheduler" row of health_check(): whether this database's stream tables are refreshed by
// a scheduler, and when not, why and what to do. A database without stream tables needs none.
// When stream tables exist and no scheduler runs, it also asks the launcher (at commit) to start
// one, so a database whose stream tables it has not seen yet (restored) gets one.
void CheckScheduler(
    bool has_stream_tables,
    const std::function<void(const std::string &, const std::string &, const std::string &)> &add) {
	if (!scheduler::SchedulerAvailable()) {
		add("scheduler", "WARNING",
		    "pg_trickle is not in shared_preload_libraries: no scheduler runs; refresh manually");
		return;
	}
	auto r = SpiExec("SELECT count(*) FROM pg_catalog.pg_stat_activity "
	                 "WHERE backend_type = 'pg_trickle scheduler' "
	                 "AND datname = pg_catalog.current_database()");
	bool running = r.Get(0, 0) != "0";
	if (!config::enabled) {
		add("scheduler", "WARNING", "pg_trickle.enabled is off: the scheduler skips its ticks");
	} else if (running) {
		add("scheduler", "OK", "scheduler running");
	} else if (!has_stream_tables) {
		add("scheduler", "OK",
		    "no stream table in this database: no scheduler needed (one starts with the first "
		    "stream table)");
	} else if (bridge::PgCall([] { return RecoveryInProgress(); })) {
		add("scheduler", "OK", "hot standby: the scheduler starts on promotion");
	} else {
		scheduler::SchedulerSlotInfo info = scheduler::DescribeScheduler();
		scheduler::RequestSchedulerAtCommit();
		std::string what = "this database has stream tables but no pg_trickle scheduler "
		                   "running, so they are not refreshed on schedule";
		if (!info.launcher_running) {
			add("scheduler", "ERROR",
			    what + ": the pg_trickle launcher is not running (see the server log; the "
			           "postmaster restarts it within seconds)");
		} else if (info.start_failed) {
			TimestampTz failed_since = static_cast<TimestampTz>(info.failed_since);
			std::string since = bridge::PgCall([&] { return timestamptz_to_str(failed_since); });
			int slots = max_worker_processes;
			add("scheduler", "ERROR",
			    what + ": no background worker slot has been free since " + since +
			        " (max_worker_processes = " + std::to_string(slots) +
			        "). Raise max_worker_processes (needs a restart) to at least: 1 for the "
			        "launcher + 1 per database with stream tables + max_parallel_workers + "
			        "logical replication workers + other extensions' workers; see "
			        "docs/configuration.md");
		} else {
			add("scheduler", "WARNING",
			    what + " yet: the launcher was asked to start one (within seconds)");
		}
	}
}

} // namespace

PGT_FUNCTION(pgtrickle_health_check) {
	bridge::SpiScope spi;
	std::vector<api::TextRow> rows;
	auto add = [&](const std::string &check, const std::string &severity,
	               const std::string &detail) {
		rows.push_back({check, severity, detail});
	};

	auto all = catalog::LoadAll();
	CheckScheduler(!all.empty(), add);

	std::size_t before = rows.size();
	for (const auto &st : all) {
		if (st.status == core::StStatus::kError) {
			add("error_tables", "ERROR", st.Display() + " is in ERROR status");
		}
	}
	if (rows.size() == before) {
		add("error_tables", "OK", "no stream table in ERROR status");
	}
	before = rows.size();
	// Through the view: failure messages only for their owners and pg_read_all_stats.
	auto errors = SpiExec("SELECT pgt_id, coalesce(last_error_message, '') "
	                      "FROM pgtrickle.stream_tables_info ORDER BY pgt_id");
	std::map<std::int64_t, std::string> last_error;
	for (const auto &row : errors.rows) {
		last_error[std::stoll(*row[0])] = *row[1];
	}
	for (const auto &st : all) {
		if (st.status == core::StStatus::kSuspended) {
			add("suspended_tables", "WARNING",
			    st.Display() + " is SUSPENDED" +
			        (last_error[st.pgt_id].empty() ? "" : ": " + last_error[st.pgt_id]));
		}
	}
	if (rows.size() == before) {
		add("suspended_tables", "OK", "no suspended stream table");
	}
	before = rows.size();
	for (const auto &st : all) {
		if (st.consecutive_errors > 0 && st.status != core::StStatus::kSuspended) {
			add("failing_tables", "WARNING",
			    st.Display() + " failed " + std::to_string(st.consecutive_errors) +
			        " time(s) in a row" +
			        (last_error[st.pgt_id].empty() ? "" : ": " + last_error[st.pgt_id]));
		}
	}
	if (rows.size() == before) {
		add("failing_tables", "OK", "no failing stream table");
	}
	before = rows.size();
	auto stale = SpiExec("SELECT quote_ident(pgt_schema) || '.' || quote_ident(pgt_name), "
	                     "staleness::text FROM pgtrickle.stream_tables_info WHERE stale "
	                     "ORDER BY pgt_id");
	for (const auto &row : stale.rows) {
		add("stale_tables", "WARNING", *row[0] + " is stale (data " + *row[1] + " old)");
	}
	if (rows.size() == before) {
		add("stale_tables", "OK", "no stale stream table");
	}
	before = rows.size();
	try {
		auto by_id = ById(all);
		core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
		auto numbers = api::GroupNumbers(dag);
		for (std::size_t i = 0; i < dag.Groups().size(); i++) {
			const auto &group = dag.Groups()[i];
			if (!numbers[i] || !group.atomic) {
				continue;
			}
			for (auto id : group.members) {
				const auto *st = by_id.at(id);
				if (st->status == core::StStatus::kSuspended ||
				    st->status == core::StStatus::kError) {
					add("held_groups", "WARNING",
					    "consistency group " + std::to_string(*numbers[i]) + " is held at epoch " +
					        std::to_string(GroupEpoch(group, by_id)) + ": member " + st->Display() +
					        " is " + core::Name(st->status));
				}
			}
		}
	} catch (const core::Error &e) {
		add("held_groups", "ERROR", std::string("cannot build the dependency graph: ") + e.what());
	}
	if (rows.size() == before) {
		add("held_groups", "OK", "no consistency group is held");
	}
	return api::ReturnRows(fcinfo, rows);
}
