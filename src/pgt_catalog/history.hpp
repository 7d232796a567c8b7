// Refresh bookkeeping: pgt_refresh_history rows and the refresh-related columns of
// pgt_stream_tables. All writes run as the extension owner. C++ regime; needs SPI.
#pragma once

#include "capture/frontier.hpp"
#include "pgt_catalog/catalog.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace pgtrickle::catalog {

enum class Initiator { kScheduler, kManual, kInitial };
const char *Name(Initiator who);

struct RefreshOutcome {
	std::string action; // NO_DATA, FULL, DIFFERENTIAL, REINITIALIZE
	std::int64_t rows_inserted = 0;
	std::int64_t rows_deleted = 0;
};

// Inserts a RUNNING history row and returns its refresh_id.
std::int64_t StartHistory(std::int64_t pgt_id, const std::string &action, Initiator who,
                          std::optional<int> group_id, std::optional<std::int64_t> group_epoch);

// Inserts the finished (COMPLETED) history row of a refresh that started at `start_time`: the one
// history write of a refresh run in the caller's transaction (a manual refresh), whose row no
// other session can see before it commits and which an error rolls back with the refresh.
void RecordCompletedHistory(std::int64_t pgt_id, Initiator who, std::optional<int> group_id,
                            TimestampUs start_time, const RefreshOutcome &outcome,
                            TimestampUs data_timestamp, std::optional<std::int64_t> group_epoch);

// Sets the final status of a history row (COMPLETED, FAILED, ROLLED_BACK, SKIPPED), and the group
// epoch a committed group refresh reached.
void FinishHistory(std::int64_t refresh_id, const std::string &status,
                   const RefreshOutcome *outcome, std::optional<TimestampUs> data_timestamp,
                   const std::string &error_message = {},
                   std::optional<std::int64_t> group_epoch = std::nullopt);

// The rebuild request a refresh acted on: rebuilt = it ran REINITIALIZE because it read
// needs_reinit = true, with that request's reinit_requested_at (microseconds, as read).
struct ReinitRequest {
	bool rebuilt = false;
	std::optional<TimestampUs> requested_at;
};

// A committed refresh: populated, ACTIVE, error counter reset, timestamps set, frontier (the
// pg_snapshot the refresh read) stored. NO_DATA passes do not move data_timestamp. needs_reinit
// is cleared only when `rebuilt_for` is the request still recorded (never one made after the
// refresh read the catalog).
void RecordSuccess(std::int64_t pgt_id, const RefreshOutcome &outcome, TimestampUs data_timestamp,
                   const capture::Frontier &frontier, const ReinitRequest &rebuilt_for);

// A failed refresh: consecutive_errors + 1, error text and time; SUSPENDED once the counter
// reaches max_errors. Returns true when this failure suspended the stream table.
bool RecordFailure(std::int64_t pgt_id, const std::string &message, int max_errors);

// Sets every member's group_epoch to (current maximum over the members) + 1 and returns it.
std::int64_t BumpGroupEpoch(const std::vector<std::int64_t> &members);

// Sends NOTIFY pg_trickle_alert with a JSON payload {"event": ..., "stream_table": ..., ...}.
void Alert(const std::string &event, const std::string &stream_table, const std::string &detail);

} // namespace pgtrickle::catalog
