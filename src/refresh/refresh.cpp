// Refresh execution (see refresh.hpp).
//
// A FULL refresh deletes the storage rows and inserts the defining query's result, both
// statements on the unit's snapshot. DELETE (not TRUNCATE) keeps the swap MVCC-safe: a reader
// in any isolation level sees either the old or the new contents, never an empty table.
#include "refresh/refresh.hpp"

#include "bridge/guard.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "refresh/write_guard.hpp"

extern "C" {
#include "postgres.h"
#include "utils/snapmgr.h"
}

namespace pgtrickle::refresh {

using bridge::PgCall;
using bridge::SpiExec;
using bridge::SpiOptions;

namespace {

// Advisory lock class for stream-table refreshes ('pgtr').
constexpr std::int64_t kLockClass = 0x70677472;

catalog::RefreshOutcome ExecuteFull(const catalog::StreamTable &st, Snapshot snapshot) {
	catalog::RefreshOutcome outcome;
	outcome.action = st.needs_reinit ? "REINITIALIZE" : "FULL";
	bridge::AsUser as_owner(st.owner, true);
	InternalWriteScope writing;
	SpiOptions options;
	options.snapshot = snapshot;
	auto deleted = SpiExec("DELETE FROM " + st.Qualified(), {}, options);
	auto inserted = SpiExec("INSERT INTO " + st.Qualified() + " SELECT * FROM (\n" +
	                            st.defining_query + "\n) AS __pgt_q",
	                        {}, options);
	outcome.rows_deleted = static_cast<std::int64_t>(deleted.processed);
	outcome.rows_inserted = static_cast<std::int64_t>(inserted.processed);
	return outcome;
}

} // namespace

bool TryLockStreamTable(std::int64_t pgt_id) {
	auto r = SpiExec("SELECT pg_catalog.pg_try_advisory_xact_lock($1::int, $2::int)",
	                 {std::to_string(kLockClass), std::to_string(pgt_id)});
	return r.Get(0, 0) == "t";
}

UnitResult RefreshUnit(const std::vector<catalog::StreamTable> &members, const UnitOptions &options,
                       std::int64_t *failed_member) {
	UnitResult result;
	std::vector<std::int64_t> history_ids = options.history_ids;
	if (history_ids.empty()) {
		for (const auto &st : members) {
			history_ids.push_back(catalog::StartHistory(
			    st.pgt_id, st.needs_reinit ? "REINITIALIZE" : "FULL", options.who,
			    options.group_id, std::nullopt));
		}
	}

	// One snapshot for every member: a commit to a shared source between two member refreshes
	// reaches all of them or none.
	Snapshot snapshot = PgCall([] { return RegisterSnapshot(GetTransactionSnapshot()); });
	catalog::TimestampUs data_timestamp = catalog::NowUs();
	for (const auto &st : members) {
		*failed_member = st.pgt_id;
		result.outcomes.push_back(ExecuteFull(st, snapshot));
	}
	*failed_member = 0;
	PgCall([&] { UnregisterSnapshot(snapshot); });

	if (options.atomic_group) {
		std::vector<std::int64_t> ids;
		for (const auto &st : members) {
			ids.push_back(st.pgt_id);
		}
		result.epoch = catalog::BumpGroupEpoch(ids);
	}
	for (std::size_t i = 0; i < members.size(); i++) {
		catalog::RecordSuccess(members[i].pgt_id, result.outcomes[i], data_timestamp);
		catalog::FinishHistory(history_ids[i], "COMPLETED", &result.outcomes[i], data_timestamp);
		if (result.epoch) {
			bridge::AsExtensionOwner as_owner;
			SpiExec("UPDATE pgtrickle.pgt_refresh_history SET group_epoch = $2::bigint "
			        "WHERE refresh_id = $1::bigint",
			        {std::to_string(history_ids[i]), std::to_string(*result.epoch)});
		}
	}
	return result;
}

} // namespace pgtrickle::refresh
