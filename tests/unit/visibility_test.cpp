// Tests of the transaction-visibility arithmetic behind change consumption.
#include "core/error.hpp"
#include "core/visibility.hpp"

#include <gtest/gtest.h>

namespace pgtrickle::core {
namespace {

TEST(XidSnapshot, ParsesAndSortsInProgressList) {
	auto s = XidSnapshot::Parse("100:120:115,105");
	EXPECT_EQ(s.xmin, 100u);
	EXPECT_EQ(s.xmax, 120u);
	EXPECT_EQ(s.xip, (std::vector<std::uint64_t>{105, 115}));
	EXPECT_TRUE(XidSnapshot::Parse("7:7:").xip.empty());
}

TEST(XidSnapshot, RejectsMalformedText) {
	for (const char *bad : {"", "1", "1:2", "a:2:", "5:3:", "1:2:x", "1:2:3,,4"}) {
		EXPECT_THROW(XidSnapshot::Parse(bad), Error) << bad;
	}
}

TEST(XidSnapshot, VisibilityFollowsXminXmaxAndInProgress) {
	auto s = XidSnapshot::Parse("100:120:105,115");
	EXPECT_TRUE(s.Visible(99));   // committed before xmin
	EXPECT_TRUE(s.Visible(100));  // not in progress, below xmax
	EXPECT_FALSE(s.Visible(105)); // in progress when the snapshot was taken
	EXPECT_TRUE(s.Visible(110));
	EXPECT_FALSE(s.Visible(120)); // started after the snapshot
	EXPECT_FALSE(s.Visible(500));
}

TEST(HasUnconsumed, WriterThatCommitsAfterTheRefreshStaysPending) {
	// The refresh read snapshot 100:120:105; transaction 105 was still running.
	ConsumedFrontier f{XidSnapshot::Parse("100:120:105"), std::nullopt, std::nullopt};
	EXPECT_TRUE(HasUnconsumed(f, 105, 0));
	EXPECT_FALSE(HasUnconsumed(f, 104, 0));
	EXPECT_TRUE(HasUnconsumed(f, 121, 0));
}

TEST(HasUnconsumed, OwnTransactionLaterCommandsStayPending) {
	// A manual refresh in transaction 130 consumed its own changes up to command 4.
	ConsumedFrontier f{XidSnapshot::Parse("100:131:"), 130, 4};
	EXPECT_FALSE(HasUnconsumed(f, 130, 3)); // written before the refresh
	EXPECT_TRUE(HasUnconsumed(f, 130, 4));  // written after it
	EXPECT_FALSE(HasUnconsumed(f, 125, 9)); // another committed transaction
}

TEST(CountUnconsumed, CountsTheGroupsTheFrontierDoesNotSee) {
	ConsumedFrontier f{XidSnapshot::Parse("100:120:105"), std::nullopt, std::nullopt};
	std::vector<WriterRows> writers{
	    {99, 0, 3, 10, '\0'}, // consumed
	    {105, 0, 0, 4, '\0'}, // in progress at the refresh: pending
	    {110, 0, 1, 7, 'R'},  // consumed, its marker too
	    {130, 2, 2, 5, '\0'}, // after the refresh: pending
	};
	auto u = CountUnconsumed(f, writers);
	ASSERT_TRUE(u.has_value());
	EXPECT_EQ(u->changes, 9);
	EXPECT_EQ(u->marker, '\0');
}

TEST(CountUnconsumed, KeepsTheStrongestPendingMarker) {
	ConsumedFrontier f{XidSnapshot::Parse("100:100:"), std::nullopt, std::nullopt};
	auto r_only = CountUnconsumed(f, {{100, 0, 0, 0, 'R'}, {101, 0, 0, 2, '\0'}});
	ASSERT_TRUE(r_only.has_value());
	EXPECT_EQ(r_only->marker, 'R');
	EXPECT_EQ(r_only->changes, 2);
	auto both = CountUnconsumed(f, {{100, 0, 0, 0, 'T'}, {101, 0, 0, 0, 'R'}});
	ASSERT_TRUE(both.has_value());
	EXPECT_EQ(both->marker, 'T');
	auto reversed = CountUnconsumed(f, {{100, 0, 0, 0, 'R'}, {101, 0, 0, 0, 'T'}});
	EXPECT_EQ(reversed->marker, 'T');
	auto none = CountUnconsumed(f, {});
	ASSERT_TRUE(none.has_value());
	EXPECT_EQ(none->changes, 0);
}

TEST(CountUnconsumed, OwnTransactionCountsByCommandIdOrAsksForRows) {
	// The refresh ran in transaction 150 at command id 5; 150 is visible to its own frontier.
	ConsumedFrontier f{XidSnapshot::Parse("100:151:"), 150, 5};
	auto before = CountUnconsumed(f, {{150, 0, 4, 3, '\0'}});
	ASSERT_TRUE(before.has_value());
	EXPECT_EQ(before->changes, 0); // written before the refresh: consumed
	auto after = CountUnconsumed(f, {{150, 5, 9, 3, 'T'}});
	ASSERT_TRUE(after.has_value());
	EXPECT_EQ(after->changes, 3); // written at or after its command id: pending
	EXPECT_EQ(after->marker, 'T');
	EXPECT_FALSE(CountUnconsumed(f, {{150, 4, 5, 3, '\0'}}).has_value()); // both sides
	// Another visible transaction with the same command ids is simply consumed.
	auto other = CountUnconsumed(f, {{140, 4, 5, 3, '\0'}});
	ASSERT_TRUE(other.has_value());
	EXPECT_EQ(other->changes, 0);
}

} // namespace
} // namespace pgtrickle::core
