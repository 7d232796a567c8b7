// Tests of how a change buffer follows ALTER TABLE of its source.
#include "core/buffer_evolution.hpp"
#include "core/error.hpp"

#include <gtest/gtest.h>

#include <random>

namespace pgtrickle::core {
namespace {

CaptureColumn Col(int attnum, const std::string &name, const std::string &type = "integer",
                  bool dropped = false) {
	return CaptureColumn{attnum, name, type, type, dropped};
}

// The buffer's columns after applying a plan to `buffer` (names and types), as the capture code
// does: drops, renames, retypes in place, then adds at the end.
std::vector<CaptureColumn> Apply(std::vector<CaptureColumn> buffer, const BufferEvolution &e) {
	for (const auto &d : e.drops) {
		buffer.erase(std::find_if(buffer.begin(), buffer.end(),
		                          [&](const CaptureColumn &c) { return c.name == d; }));
	}
	std::vector<CaptureColumn *> renamed;
	for (const auto &r : e.renames) {
		renamed.push_back(&*std::find_if(buffer.begin(), buffer.end(), [&](const CaptureColumn &c) {
			return c.name == r.first;
		}));
	}
	for (std::size_t i = 0; i < renamed.size(); i++) {
		renamed[i]->name = e.renames[i].second;
	}
	for (const auto &t : e.retypes) {
		auto it = std::find_if(buffer.begin(), buffer.end(),
		                       [&](const CaptureColumn &c) { return c.name == t.first; });
		it->type_sql = it->type_key = t.second;
	}
	for (const auto &a : e.adds) {
		buffer.push_back(CaptureColumn{0, a.first, a.second, a.second, false});
	}
	return buffer;
}

// The buffer must equal the source's live columns, in order, by name and type.
void ExpectMatches(const std::vector<CaptureColumn> &buffer,
                   const std::vector<CaptureColumn> &source) {
	std::vector<CaptureColumn> live;
	for (const auto &c : source) {
		if (!c.dropped) {
			live.push_back(c);
		}
	}
	ASSERT_EQ(buffer.size(), live.size());
	for (std::size_t i = 0; i < live.size(); i++) {
		EXPECT_EQ(buffer[i].name, live[i].name) << i;
		EXPECT_EQ(buffer[i].type_key, live[i].type_key) << i;
	}
}

TEST(BufferEvolution, NothingChanged) {
	std::vector<CaptureColumn> source{Col(1, "id"), Col(2, "x", "", true), Col(3, "v", "text")};
	auto e = PlanBufferEvolution({1, 3}, {Col(0, "id"), Col(0, "v", "text")}, source);
	EXPECT_TRUE(e.Empty());
	EXPECT_FALSE(e.needs_rebuild_marker);
	EXPECT_EQ(e.attnums, (std::vector<int>{1, 3}));
}

TEST(BufferEvolution, AddDropRenameKeepRows) {
	// id, a, b  ->  DROP a, RENAME b TO a, ADD c, ADD b
	std::vector<CaptureColumn> buffer{Col(0, "id"), Col(0, "a"), Col(0, "b", "text")};
	std::vector<CaptureColumn> source{Col(1, "id"), Col(2, "", "", true), Col(3, "a", "text"),
	                                  Col(4, "c", "numeric"), Col(5, "b")};
	auto e = PlanBufferEvolution({1, 2, 3}, buffer, source);
	EXPECT_EQ(e.drops, (std::vector<std::string>{"a"}));
	ASSERT_EQ(e.renames.size(), 1u);
	EXPECT_EQ(e.renames[0], std::make_pair(std::string("b"), std::string("a")));
	EXPECT_TRUE(e.retypes.empty());
	EXPECT_FALSE(e.needs_rebuild_marker);
	EXPECT_EQ(e.attnums, (std::vector<int>{1, 3, 4, 5}));
	ExpectMatches(Apply(buffer, e), source);
}

TEST(BufferEvolution, SwappedNamesAreRenames) {
	std::vector<CaptureColumn> buffer{Col(0, "a"), Col(0, "b")};
	std::vector<CaptureColumn> source{Col(1, "b"), Col(2, "a")};
	auto e = PlanBufferEvolution({1, 2}, buffer, source);
	EXPECT_EQ(e.renames.size(), 2u);
	EXPECT_TRUE(e.drops.empty());
	EXPECT_TRUE(e.adds.empty());
}

TEST(BufferEvolution, TypeChangeNeedsMarker) {
	std::vector<CaptureColumn> buffer{Col(0, "id"), Col(0, "w")};
	std::vector<CaptureColumn> source{Col(1, "id"), Col(2, "weight", "bigint")};
	auto e = PlanBufferEvolution({1, 2}, buffer, source);
	EXPECT_TRUE(e.needs_rebuild_marker);
	ASSERT_EQ(e.retypes.size(), 1u);
	EXPECT_EQ(e.retypes[0], std::make_pair(std::string("weight"), std::string("bigint")));
	ExpectMatches(Apply(buffer, e), source);
}

TEST(BufferEvolution, InconsistentRecordIsAnInternalError) {
	EXPECT_THROW(PlanBufferEvolution({1, 2}, {Col(0, "id")}, {Col(1, "id"), Col(2, "v")}), Error);
	// attnum 2 is live but not recorded while 3 is: it cannot be appended in order.
	EXPECT_THROW(PlanBufferEvolution({1, 3}, {Col(0, "id"), Col(0, "c")},
	                                 {Col(1, "id"), Col(2, "b"), Col(3, "c")}),
	             Error);
}

TEST(BufferEvolution, UnusedColumnNameSkipsTakenNames) {
	int counter = 0;
	EXPECT_EQ(UnusedColumnName({"__pgt_rename_0", "x"}, &counter), "__pgt_rename_1");
	EXPECT_EQ(UnusedColumnName({"__pgt_rename_0", "x"}, &counter), "__pgt_rename_2");
}

// Property: any sequence of ADD / DROP / RENAME / type changes, reconciled after each step or
// only at the end, leaves the buffer equal to the source's live columns; a marker is asked for
// iff a recorded column kept its attnum but changed type.
TEST(BufferEvolution, RandomAlterSequencesKeepTheBufferInStep) {
	std::mt19937 rng(20261126);
	const char *types[] = {"integer", "text", "bigint"};
	for (int round = 0; round < 300; round++) {
		std::vector<CaptureColumn> source;
		int next_attnum = 1;
		int next_name = 0;
		auto add = [&] {
			source.push_back(
			    Col(next_attnum++, "c" + std::to_string(next_name++), types[rng() % 3]));
		};
		for (int i = 0; i < 1 + static_cast<int>(rng() % 4); i++) {
			add();
		}
		std::vector<int> captured;
		std::vector<CaptureColumn> buffer;
		for (const auto &c : source) {
			captured.push_back(c.attnum);
			buffer.push_back(c);
		}
		bool every_step = rng() % 2 == 0;
		for (int step = 0; step < 8; step++) {
			std::vector<CaptureColumn *> live;
			for (auto &c : source) {
				if (!c.dropped) {
					live.push_back(&c);
				}
			}
			int what = static_cast<int>(rng() % 4);
			bool retyped = false;
			if (what == 0 || live.empty()) {
				add();
			} else if (what == 1) {
				live[rng() % live.size()]->dropped = true;
			} else if (what == 2) {
				live[rng() % live.size()]->name = "c" + std::to_string(next_name++);
			} else {
				auto *c = live[rng() % live.size()];
				std::string type = types[rng() % 3];
				retyped = type != c->type_key &&
				          std::find(captured.begin(), captured.end(), c->attnum) != captured.end();
				c->type_sql = c->type_key = type;
			}
			if (every_step || step == 7) {
				auto e = PlanBufferEvolution(captured, buffer, source);
				if (every_step) {
					EXPECT_EQ(e.needs_rebuild_marker, retyped);
				}
				buffer = Apply(buffer, e);
				captured = e.attnums;
				ExpectMatches(buffer, source);
			}
		}
	}
}

} // namespace
} // namespace pgtrickle::core
