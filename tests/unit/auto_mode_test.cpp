// AUTO's cost rule (src/core/auto_mode.hpp).
#include "core/auto_mode.hpp"

#include <gtest/gtest.h>

namespace pgtrickle::core {
namespace {

TEST(AutoMode, TotalIsWeightedPlanPlusWrittenRows) {
	EXPECT_DOUBLE_EQ(TotalCost({100.0, 0.0}, 0.01), 100.0);
	// Bulk writes: 20 tuple costs per row.
	EXPECT_DOUBLE_EQ(TotalCost({100.0, 1000.0}, 0.01), 300.0);
	// A negative or absent estimate of written rows adds nothing.
	EXPECT_DOUBLE_EQ(TotalCost({100.0, -5.0}, 0.01), 100.0);
	// Scales with the user's cpu_tuple_cost.
	EXPECT_DOUBLE_EQ(TotalCost({0.0, 1000.0}, 0.02), 400.0);
	// A row delta: its plan weighs 13 times, its writes 200 tuple costs per row.
	EXPECT_DOUBLE_EQ(TotalCost({100.0, 1000.0, kLookupWriteTupleCosts, kDeltaPlanFactor}, 0.01),
	                 3300.0);
}

TEST(AutoMode, DescribesEachSide) {
	EXPECT_EQ(DescribeCost({1234.4, 1000.0, kLookupWriteTupleCosts, kDeltaPlanFactor}, 0.01),
	          "18047 (plan 1234 x 13, 1000 rows written at 2.00 each)");
	EXPECT_EQ(DescribeCost({10.0, -1.0}, 0.01), "10 (plan 10, 0 rows written at 0.20 each)");
}

TEST(AutoMode, FullEstimateOnlyWhenItCouldSaveEnough) {
	EXPECT_FALSE(NeedsFullEstimate(999.0, 1000.0));
	EXPECT_TRUE(NeedsFullEstimate(1000.0, 1000.0));
	EXPECT_TRUE(NeedsFullEstimate(5.0, 0.0));
}

TEST(AutoMode, CheapDifferentialStaysWithoutFullEstimate) {
	AutoChoice c = ChooseByCost({300.0, 10.0}, std::nullopt, 0.01, 1000.0);
	EXPECT_FALSE(c.full);
	EXPECT_FALSE(c.full_total.has_value());
	EXPECT_DOUBLE_EQ(c.differential_total, 302.0);
	EXPECT_NE(c.reason.find("below pg_trickle.auto_full_min_saving (1000)"), std::string::npos);
}

TEST(AutoMode, FullWhenItSavesAtLeastTheMinimum) {
	// DIFFERENTIAL 50,000 + 20,000 rows * 0.2 = 54,000; FULL 20,000 + 40,000 rows * 0.2 = 28,000.
	AutoChoice c = ChooseByCost({50000.0, 20000.0}, PlanCost{20000.0, 40000.0}, 0.01, 1000.0);
	EXPECT_TRUE(c.full);
	EXPECT_DOUBLE_EQ(c.differential_total, 54000.0);
	EXPECT_DOUBLE_EQ(*c.full_total, 28000.0);
	EXPECT_EQ(c.reason, "estimated cost 54000 against 28000 for FULL");
}

TEST(AutoMode, DifferentialWhenFullSavesLessThanTheMinimum) {
	// FULL cheaper by 900 < 1000: DIFFERENTIAL.
	AutoChoice c = ChooseByCost({5000.0, 0.0}, PlanCost{4100.0, 0.0}, 0.01, 1000.0);
	EXPECT_FALSE(c.full);
	// Cheaper by exactly the minimum: FULL.
	c = ChooseByCost({5100.0, 0.0}, PlanCost{4100.0, 0.0}, 0.01, 1000.0);
	EXPECT_TRUE(c.full);
	// FULL dearer: DIFFERENTIAL, whatever the minimum.
	c = ChooseByCost({5000.0, 0.0}, PlanCost{6000.0, 0.0}, 0.01, 0.0);
	EXPECT_FALSE(c.full);
	// Equal with a zero minimum: no saving, DIFFERENTIAL.
	c = ChooseByCost({5000.0, 0.0}, PlanCost{5000.0, 0.0}, 0.01, 0.0);
	EXPECT_FALSE(c.full);
}

TEST(AutoMode, WritesDecideWhenPlanCostsAreEqual) {
	// Same reading cost; FULL rewrites 1,000,000 rows, DIFFERENTIAL writes 1,000.
	AutoChoice c = ChooseByCost({20000.0, 1000.0}, PlanCost{20000.0, 1000000.0}, 0.01, 1000.0);
	EXPECT_FALSE(c.full);
	EXPECT_DOUBLE_EQ(*c.full_total, 220000.0);
}

TEST(AutoMode, DeltaPlanFactorCanTipTheChoice) {
	// The same plan cost on both sides: the delta query's weighs 13 times.
	AutoChoice c = ChooseByCost({10000.0, 0.0, kLookupWriteTupleCosts, kDeltaPlanFactor},
	                            PlanCost{100000.0, 0.0}, 0.01, 1000.0);
	EXPECT_TRUE(c.full);
	EXPECT_DOUBLE_EQ(c.differential_total, 130000.0);
}

} // namespace
} // namespace pgtrickle::core
