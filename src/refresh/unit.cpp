// Refresh units (see unit.hpp).
#include "refresh/unit.hpp"

#include "bridge/guard.hpp"
#include "bridge/spi.hpp"
#include "config/guc.hpp"
#include "pgt_catalog/history.hpp"
#include "refresh/refresh.hpp"

#include <algorithm>
#include <map>

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "utils/snapmgr.h"
}

namespace pgtrickle::refresh {

using bridge::PgCall;
using bridge::SpiExec;
using catalog::StreamTable;

namespace {

// Advisory lock class for stream-table refreshes ('pgtr'); the second key is the pgt_id.
constexpr std::int64_t kLockClass = 0x70677472;

std::string MemberList(const std::vector<StreamTable> &members) {
	std::string out;
	for (const auto &m : members) {
		out += (out.empty() ? "" : ", ") + m.Display();
	}
	return out;
}

// Failure bookkeeping of a scheduled unit whose subtransaction rolled back: FAILED for the
// failing member, ROLLED_BACK for the others, the error counter (and suspension), alerts, log.
void RecordUnitFailure(const Unit &unit, const std::vector<std::int64_t> &history_ids,
                       std::int64_t failed, const core::Error &error) {
	const auto &members = unit.members;
	if (failed == 0) {
		failed = members.front().pgt_id;
	}
	const StreamTable *failing = &members.front();
	for (const auto &m : members) {
		if (m.pgt_id == failed) {
			failing = &m;
		}
	}
	std::string message = error.what();
	for (std::size_t i = 0; i < members.size(); i++) {
		if (members[i].pgt_id == failed) {
			catalog::FinishHistory(history_ids[i], "FAILED", nullptr, std::nullopt, message);
		} else {
			catalog::FinishHistory(history_ids[i], "ROLLED_BACK", nullptr, std::nullopt,
			                       "group refresh rolled back: " + failing->Display() +
			                           " failed: " + message);
		}
	}
	bool suspended = catalog::RecordFailure(failed, message, config::max_consecutive_errors);
	// NOTIFY payloads reach every role that listens: the message (which may hold data values)
	// stays in the history, readable by the owner and pg_read_all_stats.
	catalog::Alert("refresh_failed", failing->Display(), "SQLSTATE " + error.Sqlstate());
	if (suspended) {
		catalog::Alert("auto_suspended", failing->Display(),
		               "suspended after " + std::to_string(config::max_consecutive_errors) +
		                   " consecutive failures");
	}
	if (members.size() > 1) {
		catalog::Alert("group_rolled_back", failing->Display(),
		               "group " + std::to_string(unit.group_id.value_or(0)) + " (" +
		                   MemberList(members) + ") rolled back");
		ereport(LOG,
		        (errmsg("pg_trickle: consistency group %d rolled back: %s failed: %s",
		                unit.group_id.value_or(0), failing->Display().c_str(), message.c_str())));
	} else {
		ereport(LOG, (errmsg("pg_trickle: refresh of %s failed: %s", failing->Display().c_str(),
		                     message.c_str())));
	}
}

} // namespace

std::vector<std::optional<int>> GroupNumbers(const std::vector<core::Group> &groups) {
	std::vector<std::optional<int>> numbers;
	int next = 1;
	for (const auto &group : groups) {
		numbers.push_back(group.IsSingleton() ? std::nullopt : std::optional<int>(next++));
	}
	return numbers;
}

std::vector<std::optional<int>> GroupNumbers(const core::Dag &dag) {
	return GroupNumbers(dag.Groups());
}

Unit FindUnit(const StreamTable &target, bool whole_group) {
	std::int64_t pgt_id = target.pgt_id;
	Unit unit;
	// A group of more than one member is a diamond: every member reads or feeds another stream
	// table. One that does neither is a singleton, whatever the rest of the DAG looks like. Edges
	// through views are only known to the DAG: any view dependency takes the long way.
	auto linked = SpiExec("SELECT EXISTS (SELECT 1 FROM pgtrickle.pgt_dependencies d "
	                      "JOIN pgtrickle.pgt_stream_tables s ON s.pgt_relid = d.source_relid "
	                      "WHERE d.pgt_id = $1::bigint) OR EXISTS (SELECT 1 "
	                      "FROM pgtrickle.pgt_dependencies d "
	                      "JOIN pgtrickle.pgt_stream_tables me ON me.pgt_relid = d.source_relid "
	                      "WHERE me.pgt_id = $1::bigint) OR EXISTS (SELECT 1 "
	                      "FROM pgtrickle.pgt_dependencies d WHERE d.source_type = 'VIEW')",
	                      {std::to_string(pgt_id)}, bridge::CachedPlan());
	if (linked.Get(0, 0) != "t") {
		unit.members.push_back(target);
		return unit;
	}
	auto all = catalog::LoadAll();
	core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
	std::map<std::int64_t, const StreamTable *> by_id;
	for (const auto &st : all) {
		by_id[st.pgt_id] = &st;
	}
	auto numbers = GroupNumbers(dag);
	const auto &groups = dag.Groups();
	for (std::size_t i = 0; i < groups.size(); i++) {
		const auto &members = groups[i].members;
		if (std::find(members.begin(), members.end(), pgt_id) == members.end()) {
			continue;
		}
		unit.group_id = numbers[i];
		if (whole_group && groups[i].atomic && !groups[i].IsSingleton()) {
			unit.atomic = true;
			for (auto id : members) {
				unit.members.push_back(*by_id.at(id));
			}
			return unit;
		}
		break;
	}
	unit.members.push_back(*by_id.at(pgt_id));
	return unit;
}

bool TryLockStreamTable(std::int64_t pgt_id) {
	auto r = SpiExec("SELECT pg_catalog.pg_try_advisory_xact_lock($1::int, $2::int)",
	                 {std::to_string(kLockClass), std::to_string(pgt_id)}, bridge::CachedPlan());
	return r.Get(0, 0) == "t";
}

void LockStreamTable(std::int64_t pgt_id) {
	SpiExec("SELECT pg_catalog.pg_advisory_xact_lock($1::int, $2::int)",
	        {std::to_string(kLockClass), std::to_string(pgt_id)});
}

bool TryLockStreamTableForSession(std::int64_t pgt_id) {
	auto r = SpiExec("SELECT pg_catalog.pg_try_advisory_lock($1::int, $2::int)",
	                 {std::to_string(kLockClass), std::to_string(pgt_id)});
	return r.Get(0, 0) == "t";
}

void UnlockStreamTableForSession(std::int64_t pgt_id) {
	SpiExec("SELECT pg_catalog.pg_advisory_unlock($1::int, $2::int)",
	        {std::to_string(kLockClass), std::to_string(pgt_id)});
}

std::optional<catalog::TimestampUs> RunScheduledUnit(const Unit &unit) {
	std::vector<StreamTable> members;
	std::vector<std::int64_t> history_ids;
	std::vector<std::int64_t> locked;
	bool ok = true;
	bridge::InTransaction([&] {
		for (const auto &planned : unit.members) {
			if (!TryLockStreamTableForSession(planned.pgt_id)) {
				ok = false; // a manual refresh holds it: try again next tick
				break;
			}
			locked.push_back(planned.pgt_id);
			auto st = catalog::LoadById(planned.pgt_id);
			if (!st || !Runnable(*st)) {
				ok = false;
				break;
			}
			members.push_back(std::move(*st));
		}
		if (!ok) {
			for (auto id : locked) {
				UnlockStreamTableForSession(id);
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

	std::optional<catalog::TimestampUs> result;
	bridge::InTransaction([&] {
		UnitOptions options;
		options.who = catalog::Initiator::kScheduler;
		options.group_id = unit.group_id;
		options.atomic_group = unit.atomic;
		options.history_ids = history_ids;
		std::int64_t failed = 0;
		catalog::TimestampUs started = catalog::NowUs();
		auto error = bridge::RunInSubtransaction([&] { RefreshUnit(members, options, &failed); });
		if (!error) {
			result = started;
		} else {
			Unit ran{members, unit.group_id, unit.atomic};
			RecordUnitFailure(ran, history_ids, failed, *error);
		}
	});
	// Only after T2 committed: a manual refresh that takes the lock must see this refresh's
	// results (its frontier), or it would apply the same changes again.
	bridge::InTransaction([&] {
		for (auto id : locked) {
			UnlockStreamTableForSession(id);
		}
	});
	return result;
}

} // namespace pgtrickle::refresh
