// Visibility arithmetic (see visibility.hpp).
#include "core/visibility.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/pure.hpp"

namespace pgtrickle::core {

namespace {

std::uint64_t ParseXid(const std::string &text, const std::string &whole) {
	if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
		throw Error("22P02", "invalid pg_snapshot value: \"" + whole + "\"");
	}
	return std::strtoull(text.c_str(), nullptr, 10);
}

} // namespace

XidSnapshot XidSnapshot::Parse(const std::string &text) {
	std::size_t a = text.find(':');
	std::size_t b = a == std::string::npos ? a : text.find(':', a + 1);
	if (b == std::string::npos) {
		throw Error("22P02", "invalid pg_snapshot value: \"" + text + "\"");
	}
	XidSnapshot s;
	s.xmin = ParseXid(text.substr(0, a), text);
	s.xmax = ParseXid(text.substr(a + 1, b - a - 1), text);
	std::string rest = text.substr(b + 1);
	std::size_t pos = 0;
	while (pos < rest.size()) {
		std::size_t comma = rest.find(',', pos);
		std::string item =
		    rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
		s.xip.push_back(ParseXid(item, text));
		if (comma == std::string::npos) {
			break;
		}
		pos = comma + 1;
	}
	std::sort(s.xip.begin(), s.xip.end());
	if (s.xmin > s.xmax) {
		throw Error("22P02", "invalid pg_snapshot value: \"" + text + "\"");
	}
	return s;
}

bool XidSnapshot::Visible(std::uint64_t xid) const {
	if (xid < xmin) {
		return true;
	}
	if (xid >= xmax) {
		return false;
	}
	return !std::binary_search(xip.begin(), xip.end(), xid);
}

bool HasUnconsumed(const ConsumedFrontier &frontier, std::uint64_t xid, std::uint64_t max_cid) {
	if (!frontier.snapshot.Visible(xid)) {
		return true;
	}
	return frontier.own_xid && frontier.own_cid && xid == *frontier.own_xid &&
	       max_cid >= *frontier.own_cid;
}

std::optional<Unconsumed> CountUnconsumed(const ConsumedFrontier &frontier,
                                          const std::vector<WriterRows> &writers) {
	Unconsumed out;
	for (const auto &w : writers) {
		if (frontier.snapshot.Visible(w.xid)) {
			if (!frontier.own_xid || !frontier.own_cid || w.xid != *frontier.own_xid ||
			    w.max_cid < *frontier.own_cid) {
				continue; // consumed
			}
			if (w.min_cid < *frontier.own_cid) {
				return std::nullopt; // rows on both sides of own_cid
			}
		}
		out.changes += w.changes;
		if (w.marker == 'T' || (w.marker == 'R' && out.marker != 'T')) {
			out.marker = w.marker;
		}
	}
	return out;
}

} // namespace pgtrickle::core
