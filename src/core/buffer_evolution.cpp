// Change buffer evolution under ALTER TABLE (see buffer_evolution.hpp).
#include "core/buffer_evolution.hpp"

#include "core/error.hpp"

#include <algorithm>

#include "core/pure.hpp"

namespace pgtrickle::core {

BufferEvolution PlanBufferEvolution(const std::vector<int> &captured,
                                    const std::vector<CaptureColumn> &buffer,
                                    const std::vector<CaptureColumn> &source) {
	if (buffer.size() != captured.size()) {
		throw Error(kSqlstateInternalError, "change buffer has " + std::to_string(buffer.size()) +
		                                        " data columns, its record " +
		                                        std::to_string(captured.size()));
	}
	auto source_column = [&](int attnum) -> const CaptureColumn * {
		for (const auto &c : source) {
			if (c.attnum == attnum) {
				return &c;
			}
		}
		return nullptr;
	};
	// Buffer column i holds source attnum captured[i]. Attnums never change and new columns get
	// higher ones, so dropping, renaming and appending keep the buffer's data columns equal to
	// the source's live columns in attnum order.
	BufferEvolution e;
	for (std::size_t i = 0; i < captured.size(); i++) {
		const CaptureColumn *s = source_column(captured[i]);
		const CaptureColumn &b = buffer[i];
		if (s == nullptr || s->dropped) {
			e.drops.push_back(b.name);
			continue;
		}
		if (s->name != b.name) {
			e.renames.emplace_back(b.name, s->name);
		}
		if (s->type_key != b.type_key) {
			e.retypes.emplace_back(s->name, s->type_sql);
			e.needs_rebuild_marker = true;
		}
	}
	int last = captured.empty() ? 0 : *std::max_element(captured.begin(), captured.end());
	for (const auto &c : source) {
		if (c.dropped) {
			continue;
		}
		e.attnums.push_back(c.attnum);
		if (std::find(captured.begin(), captured.end(), c.attnum) != captured.end()) {
			continue;
		}
		if (c.attnum < last) {
			throw Error(kSqlstateInternalError,
			            "column \"" + c.name + "\" would not be the change buffer's last");
		}
		e.adds.emplace_back(c.name, c.type_sql);
	}
	return e;
}

std::string UnusedColumnName(const std::vector<std::string> &taken, int *counter) {
	std::string name;
	do {
		name = "__pgt_rename_" + std::to_string((*counter)++);
	} while (std::find(taken.begin(), taken.end(), name) != taken.end());
	return name;
}

} // namespace pgtrickle::core
