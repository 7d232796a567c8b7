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

} // namespace pgtrickle::core
