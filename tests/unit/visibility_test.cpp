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

} // namespace
} // namespace pgtrickle::core
