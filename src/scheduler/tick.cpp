// One scheduler tick (see tick.hpp).
//
// Planning reads the catalog once per tick and walks the consistency groups in topological order.
// Each unit (a singleton, or every member of an atomic group) then runs in three steps:
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
#include "refresh/refresh.hpp"

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

using bridge::PgCall;
using bridge::SpiExec;
using catalog::StreamTable;

constexpr std::int64_t kLockClass = 0x70677472; // same key as refresh::TryLockStreamTable

template <typename F> void InTransaction(F &&f) {
	PgCall([] {
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	});
	{
		bridge::SpiScope spi;
		f();
	}
	PgCall([] {
		PopActiveSnapshot();
		CommitTransactionCommand();
	});
}

struct Unit {
	std::vector<std::int64_t> members;
	std::optional<int> group_id;
	bool atomic = false;
};

bool Runnable(const StreamTable &st) {
	return st.status == core::StStatus::kActive || st.status == core::StStatus::kInitializing;
}

bool InBackoff(const StreamTable &st, const core::Schedule &schedule, core::TimestampUs now) {
	if (st.consecutive_errors <= 0 || !st.last_error_at) {
		return false;
	}
	return now < core::RetryNotBefore(st.consecutive_errors, *st.last_error_at, schedule);
}

bool SessionLock(std::int64_t pgt_id) {
	auto r = SpiExec("SELECT pg_catalog.pg_try_advisory_lock($1::int, $2::int)",
	                 {std::to_string(kLockClass), std::to_string(pgt_id)});
	return r.Get(0, 0) == "t";
}

void SessionUnlock(std::int64_t pgt_id) {
	SpiExec("SELECT pg_catalog.pg_advisory_unlock($1::int, $2::int)",
	        {std::to_string(kLockClass), std::to_string(pgt_id)});
}

std::string MemberList(const std::vector<StreamTable> &members) {
	std::string out;
	for (const auto &m : members) {
		out += (out.empty() ? "" : ", ") + m.Display();
	}
	return out;
}

// Runs one unit (T1 + T2). Returns the members' new data_timestamp on success.
std::optional<core::TimestampUs> RunUnit(const Unit &unit) {
	std::vector<StreamTable> members;
	std::vector<std::int64_t> history_ids;
	std::vector<std::int64_t> locked;
	bool ok = true;
	InTransaction([&] {
		for (auto id : unit.members) {
			if (!SessionLock(id)) {
				ok = false; // a manual refresh holds it: try again next tick
				break;
			}
			locked.push_back(id);
			auto st = catalog::LoadById(id);
			if (!st || !Runnable(*st)) {
				ok = false;
				break;
			}
			members.push_back(std::move(*st));
		}
		if (!ok) {
			for (auto id : locked) {
				SessionUnlock(id);
			}
			return;
		}
		for (const auto &st : members) {
			history_ids.push_back(
			    catalog::StartHistory(st.pgt_id, st.needs_reinit ? "REINITIALIZE" : "FULL",
			                          catalog::Initiator::kScheduler, unit.group_id, std::nullopt));
		}
	});
	if (!ok) {
		return std::nullopt;
	}

	std::optional<core::TimestampUs> result;
	InTransaction([&] {
		refresh::UnitOptions options;
		options.who = catalog::Initiator::kScheduler;
		options.group_id = unit.group_id;
		options.atomic_group = unit.atomic;
		options.history_ids = history_ids;
		std::int64_t failed = 0;
		core::TimestampUs started = catalog::NowUs();
		auto error =
		    bridge::RunInSubtransaction([&] { refresh::RefreshUnit(members, options, &failed); });
		if (!error) {
			result = started;
		} else {
			if (failed == 0) {
				failed = members.front().pgt_id;
			}
			const StreamTable *failing = &members.front();
			for (const auto &m : members) {
				if (m.pgt_id == failed) {
					failing = &m;
				}
			}
			std::string message = error->what();
			for (std::size_t i = 0; i < members.size(); i++) {
				if (members[i].pgt_id == failed) {
					catalog::FinishHistory(history_ids[i], "FAILED", nullptr, std::nullopt,
					                       message);
				} else {
					catalog::FinishHistory(history_ids[i], "ROLLED_BACK", nullptr, std::nullopt,
					                       "group refresh rolled back: " + failing->Display() +
					                           " failed: " + message);
				}
			}
			bool suspended =
			    catalog::RecordFailure(failed, message, config::max_consecutive_errors);
			// NOTIFY payloads reach every role that listens: the message (which may hold data
			// values) stays in the history, readable by the owner and pg_read_all_stats.
			catalog::Alert("refresh_failed", failing->Display(), "SQLSTATE " + error->Sqlstate());
			if (suspended) {
				catalog::Alert("auto_suspended", failing->Display(),
				               "suspended after " + std::to_string(config::max_consecutive_errors) +
				                   " consecutive failures");
			}
			if (members.size() > 1) {
				catalog::Alert("group_rolled_back", failing->Display(),
				               "group " + std::to_string(unit.group_id.value_or(0)) + " (" +
				                   MemberList(members) + ") rolled back");
				ereport(LOG, (errmsg("pg_trickle: consistency group %d rolled back: %s failed: %s",
				                     unit.group_id.value_or(0), failing->Display().c_str(),
				                     message.c_str())));
			} else {
				ereport(LOG, (errmsg("pg_trickle: refresh of %s failed: %s",
				                     failing->Display().c_str(), message.c_str())));
			}
		}
	});
	// Only after T2 committed: a manual refresh that takes the lock must see this refresh's
	// results (its frontier), or it would apply the same changes again.
	InTransaction([&] {
		for (auto id : locked) {
			SessionUnlock(id);
		}
	});
	return result;
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

void RecoverInterruptedRefreshes() {
	InTransaction([] { api::RefreshDefiningTrees(); });
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
		int next = 1;
		for (const auto &g : groups) {
			numbers.push_back(g.IsSingleton() ? std::nullopt : std::optional<int>(next++));
		}
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
		auto pending = capture::PendingForAll(wanted);
		for (const auto &[id, p] : pending) {
			pending_base[id] = p;
		}
		// stale_data alerts, once per episode.
		core::TimestampUs now = catalog::NowUs();
		for (const auto &st : all) {
			if (st.status != core::StStatus::kActive || !st.data_timestamp) {
				continue;
			}
			core::Schedule s = core::ParseSchedule(st.schedule, 0);
			std::int64_t period_us =
			    s.kind == core::ScheduleKind::kDuration ? s.seconds * 1000000 : std::int64_t(0);
			bool stale = period_us > 0 && now - *st.data_timestamp > 2 * period_us;
			if (stale && state.stale_alerted.insert(st.pgt_id).second) {
				catalog::Alert("stale_data", st.Display(),
				               "data older than twice the schedule (" + st.schedule + ")");
			} else if (!stale) {
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
			const StreamTable *source = by_id[it->second];
			if (source->data_timestamp &&
			    (!st.data_timestamp || *source->data_timestamp > *st.data_timestamp)) {
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
		std::vector<Unit> units;
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
				units.push_back(Unit{group.members, numbers[gi], true});
			}
		} else {
			for (auto id : group.members) {
				const StreamTable &st = *by_id[id];
				if (!blocked(st, now) && member_due(st, now, nullptr)) {
					units.push_back(Unit{{id}, numbers[gi], false});
				}
			}
		}
		for (const auto &unit : units) {
			pgstat_report_activity(STATE_RUNNING, "pg_trickle: refreshing");
			auto refreshed_at = RunUnit(unit);
			pgstat_report_activity(STATE_IDLE, nullptr);
			for (auto id : unit.members) {
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
