// AUTO's cost rule (see auto_mode.hpp).
#include "core/auto_mode.hpp"

#include <cmath>
#include <cstdio>

#include "core/pure.hpp"

namespace pgtrickle::core {

double TotalCost(const PlanCost &c, double cpu_tuple_cost) {
	double written = c.written > 0 ? c.written : 0;
	return c.plan_factor * c.cost + written * c.write_tuple_costs * cpu_tuple_cost;
}

bool NeedsFullEstimate(double differential_total, double min_saving) {
	return differential_total >= min_saving;
}

std::string FormatCost(double cost) {
	char buf[64];
	std::snprintf(buf, sizeof buf, "%.0f", std::isfinite(cost) ? cost : 0.0);
	return buf;
}

std::string DescribeCost(const PlanCost &c, double cpu_tuple_cost) {
	char per_row[64];
	std::snprintf(per_row, sizeof per_row, "%.2f", c.write_tuple_costs * cpu_tuple_cost);
	std::string factor;
	if (c.plan_factor != 1.0) {
		char f[64];
		std::snprintf(f, sizeof f, " x %g", c.plan_factor);
		factor = f;
	}
	return FormatCost(TotalCost(c, cpu_tuple_cost)) + " (plan " + FormatCost(c.cost) + factor +
	       ", " + FormatCost(c.written > 0 ? c.written : 0) + " rows written at " + per_row +
	       " each)";
}

AutoChoice ChooseByCost(const PlanCost &differential, const std::optional<PlanCost> &full,
                        double cpu_tuple_cost, double min_saving) {
	AutoChoice c;
	c.differential_total = TotalCost(differential, cpu_tuple_cost);
	if (!full) {
		c.reason = "estimated cost " + FormatCost(c.differential_total) +
		           " is below pg_trickle.auto_full_min_saving (" + FormatCost(min_saving) + ")";
		return c;
	}
	c.full_total = TotalCost(*full, cpu_tuple_cost);
	double saving = c.differential_total - *c.full_total;
	c.full = saving >= min_saving && saving > 0;
	c.reason = "estimated cost " + FormatCost(c.differential_total) + " against " +
	           FormatCost(*c.full_total) + " for FULL";
	return c;
}

} // namespace pgtrickle::core
