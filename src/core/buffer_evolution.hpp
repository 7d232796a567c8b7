// How a change buffer follows ALTER TABLE of its source (see src/capture/capture.hpp): from the
// source attnum each buffer data column holds, the buffer's columns and the source's columns now,
// the steps that keep the buffer's data columns equal to the source's live columns in attnum
// order while keeping every buffered row. Pure C++.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace pgtrickle::core {

// A column as the capture sees it: the type it is stored as in a buffer (a domain's base type)
// and a key that is equal iff stored values carry over (type, typmod, collation).
struct CaptureColumn {
	int attnum = 0;
	std::string name;
	std::string type_sql; // with COLLATE clause where collatable
	std::string type_key;
	bool dropped = false;
};

struct BufferEvolution {
	std::vector<std::string> drops;                           // buffer column names
	std::vector<std::pair<std::string, std::string>> renames; // buffer name -> source name
	std::vector<std::pair<std::string, std::string>> retypes; // (source) name -> type_sql
	std::vector<std::pair<std::string, std::string>> adds;    // name -> type_sql, in order
	std::vector<int> attnums; // the buffer's data columns' source attnums afterwards
	// A column's stored values cannot be carried over (they become NULL): consumers that have not
	// consumed the buffered rows must rebuild (the 'R' marker).
	bool needs_rebuild_marker = false;

	bool Empty() const {
		return drops.empty() && renames.empty() && retypes.empty() && adds.empty();
	}
};

// `captured`: the source attnum of each buffer data column, in order; `buffer`: the buffer's live
// data columns, in order (as many); `source`: every user column of the source in attnum order,
// dropped ones included. Throws core::Error (XX000) when the buffer does not match `captured`, or
// when a column to add would not come last in attnum order (attnums only grow, so it cannot
// unless the record is wrong).
BufferEvolution PlanBufferEvolution(const std::vector<int> &captured,
                                    const std::vector<CaptureColumn> &buffer,
                                    const std::vector<CaptureColumn> &source);

// A name for a column that is in neither list (for renames through a temporary name).
std::string UnusedColumnName(const std::vector<std::string> &taken, int *counter);

} // namespace pgtrickle::core
