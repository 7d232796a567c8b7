// Frontier construction (see frontier.hpp).
#include "capture/frontier.hpp"

#include "bridge/guard.hpp"

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <vector>

extern "C" {
#include "postgres.h"
#include "access/transam.h"
#include "access/xact.h"
}

namespace pgtrickle::capture {

namespace {

struct ParsedSnapshot {
	std::uint64_t xmin = 0;
	std::uint64_t xmax = 0;
	std::vector<std::uint64_t> xip;
};

ParsedSnapshot Parse(const std::string &text) {
	ParsedSnapshot s;
	std::size_t a = text.find(':');
	std::size_t b = text.find(':', a + 1);
	s.xmin = std::stoull(text.substr(0, a));
	s.xmax = std::stoull(text.substr(a + 1, b - a - 1));
	std::string rest = text.substr(b + 1);
	std::stringstream ss(rest);
	std::string item;
	while (std::getline(ss, item, ',')) {
		if (!item.empty()) {
			s.xip.push_back(std::stoull(item));
		}
	}
	return s;
}

std::string Format(const ParsedSnapshot &s) {
	std::string out = std::to_string(s.xmin) + ":" + std::to_string(s.xmax) + ":";
	for (std::size_t i = 0; i < s.xip.size(); i++) {
		out += (i ? "," : "") + std::to_string(s.xip[i]);
	}
	return out;
}

} // namespace

Frontier MakeFrontier(const std::string &snapshot_text) {
	Frontier f;
	f.snapshot = snapshot_text;
	std::uint64_t own = 0;
	std::uint32_t cid = 0;
	bridge::PgCall([&] {
		FullTransactionId top = GetTopFullTransactionIdIfAny();
		own = FullTransactionIdIsValid(top) ? U64FromFullTransactionId(top) : 0;
		cid = GetCurrentCommandId(false);
	});
	if (own == 0) {
		return f;
	}
	ParsedSnapshot s = Parse(snapshot_text);
	s.xip.erase(std::remove(s.xip.begin(), s.xip.end(), own), s.xip.end());
	if (own >= s.xmax) {
		// Transactions between the snapshot's xmax and our own xid were not visible to it.
		for (std::uint64_t x = s.xmax; x < own; x++) {
			s.xip.push_back(x);
		}
		s.xmax = own + 1;
	}
	std::sort(s.xip.begin(), s.xip.end());
	f.snapshot = Format(s);
	f.own_xid = std::to_string(own);
	f.own_cid = std::to_string(cid);
	return f;
}

std::string PendingPredicate(const std::string &alias, int base) {
	std::string p1 = "$" + std::to_string(base + 1);
	std::string p2 = "$" + std::to_string(base + 2);
	std::string p3 = "$" + std::to_string(base + 3);
	return "((" + alias + ".__pgt_xid >= pg_catalog.pg_snapshot_xmin(" + p1 +
	       "::pg_catalog.pg_snapshot) AND NOT pg_catalog.pg_visible_in_snapshot(" + alias +
	       ".__pgt_xid, " + p1 + "::pg_catalog.pg_snapshot)) OR (" + alias + ".__pgt_xid = " + p2 +
	       "::pg_catalog.xid8 AND " + alias + ".cmin::text::pg_catalog.int8 >= " + p3 +
	       "::pg_catalog.int8))";
}

} // namespace pgtrickle::capture
