// AUTO's choice between a DIFFERENTIAL and a FULL refresh, from PostgreSQL's own estimates of the
// two plans (refresh::DecideMode gathers them; this is the rule, unit-tested).
//
// The planner's cost of a statement covers reading and computing, not writing rows (a
// ModifyTable node costs what its input costs), and for the SQL of a delta it is far lower than
// for a plain query of the same run time. Each side's total is therefore
//   plan_factor * plan cost + written rows * write_tuple_costs * cpu_tuple_cost
// with constants fitted on bench/auto_choice.sh (1,000,000 rows; filter, join and grouped sums at
// 0.1 to 100 % change; docs/benchmarks.md, "AUTO by cost"):
//  - a FULL refresh: its plan as is, and 20 tuple costs per row deleted or inserted in bulk
//    (about 1 us on that machine, where a unit of plan cost is about 5 us);
//  - a DIFFERENTIAL refresh: 13 times the plan cost of its delta query (its netting of the
//    change rows, a window or an aggregation over wide rows, and its materialized CTEs ran 10-15
//    times longer per unit of estimate), and 200 tuple costs per row a row delta writes (an
//    index lookup per deleted row, then the delete or insert: about 11 us).
//
// FULL is chosen only when its total is lower than DIFFERENTIAL's by at least `min_saving` cost
// units (pg_trickle.auto_full_min_saving): below that both refresh in milliseconds, and a
// DIFFERENTIAL refresh writes only the change (no dead rows, no full-size delta for the stream
// tables that read this one, no rewrite of unchanged rows).
#pragma once

#include <optional>
#include <string>

namespace pgtrickle::core {

inline constexpr double kBulkWriteTupleCosts = 20.0;
inline constexpr double kLookupWriteTupleCosts = 200.0;
inline constexpr double kDeltaPlanFactor = 13.0;

struct PlanCost {
	double cost = 0;                                 // the planner's total cost of the statement(s)
	double written = 0;                              // estimated rows inserted or deleted
	double write_tuple_costs = kBulkWriteTupleCosts; // cost of one written row, in cpu_tuple_cost
	double plan_factor = 1.0; // weight of `cost` (kDeltaPlanFactor for a delta query)
};

struct AutoChoice {
	bool full = false;
	double differential_total = 0;
	std::optional<double>
	    full_total; // not estimated when the DIFFERENTIAL total is below min_saving
	std::string reason;
};

// Total of one side: plan cost plus its written rows.
double TotalCost(const PlanCost &c, double cpu_tuple_cost);

// Whether the FULL estimate needs to be computed at all: it cannot save min_saving when the
// DIFFERENTIAL total is below it.
bool NeedsFullEstimate(double differential_total, double min_saving);

// The choice. `full` is empty when NeedsFullEstimate was false.
AutoChoice ChooseByCost(const PlanCost &differential, const std::optional<PlanCost> &full,
                        double cpu_tuple_cost, double min_saving);

// Cost as shown in explain_st and reasons: rounded to whole units.
std::string FormatCost(double cost);

// One side's estimate as explain_st shows it: "<total> (plan <cost> x <factor>, <rows> rows
// written at <per row> each)", without " x <factor>" when it is 1.
std::string DescribeCost(const PlanCost &c, double cpu_tuple_cost);

} // namespace pgtrickle::core
