// Transaction-visibility arithmetic on pg_snapshot values, for deciding which captured changes a
// stream table has consumed (see src/capture/capture.hpp). Pure C++.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgtrickle::core {

// A pg_snapshot ("xmin:xmax:xip1,xip2,..."), 64-bit transaction ids.
struct XidSnapshot {
	std::uint64_t xmin = 0;
	std::uint64_t xmax = 0;
	std::vector<std::uint64_t> xip; // sorted

	// Throws core::Error (22P02) on malformed text.
	static XidSnapshot Parse(const std::string &text);
	// Whether a transaction id is visible (committed before the snapshot was taken).
	bool Visible(std::uint64_t xid) const;
};

// What a stream table has consumed: its last refresh's snapshot, plus the refreshing
// transaction's own xid and the command id it ended at (changes that transaction made later stay
// pending).
struct ConsumedFrontier {
	XidSnapshot snapshot;
	std::optional<std::uint64_t> own_xid;
	std::optional<std::uint64_t> own_cid;
};

// Whether buffer rows written by transaction `xid` (the highest command id among them being
// `max_cid`) include any the frontier has not consumed.
bool HasUnconsumed(const ConsumedFrontier &frontier, std::uint64_t xid, std::uint64_t max_cid);

// The rows one writer transaction left in a change buffer, as the pending-change check reads them
// (one group per writer xid).
struct WriterRows {
	std::uint64_t xid = 0;
	std::uint64_t min_cid = 0; // lowest and highest command id among the rows
	std::uint64_t max_cid = 0;
	std::int64_t changes = 0; // row changes ('I' and 'D')
	char marker = '\0';       // the strongest marker among them: 'T' before 'R', or none
};

// What of a buffer a frontier has not consumed: its row changes and strongest marker.
struct Unconsumed {
	std::int64_t changes = 0;
	char marker = '\0';
};

// The unconsumed part of a buffer from its per-writer groups: a group counts whole when its xid
// is not visible in the frontier's snapshot, or is the frontier's own transaction and all its rows
// have command ids at or above own_cid. nullopt when the own transaction's rows lie on both sides
// of own_cid: only a look at each row decides then.
std::optional<Unconsumed> CountUnconsumed(const ConsumedFrontier &frontier,
                                          const std::vector<WriterRows> &writers);

} // namespace pgtrickle::core
