// pgtrickle.supported_constructs(): the registry of src/core/constructs.cpp as a table.
#include "api/args.hpp"
#include "bridge/guard.hpp"
#include "core/constructs.hpp"

#include <string>
#include <vector>

using namespace pgtrickle;

PGT_FUNCTION(pgtrickle_supported_constructs) {
	std::vector<api::TextRow> rows;
	for (const core::Construct &c : core::SupportedConstructs()) {
		std::string op = c.differential ? c.op_or_refusal : "";
		while (!op.empty() && (op.back() == '(' || op.back() == '['))
			op.pop_back();
		rows.push_back({std::string(c.category), std::string(c.construct),
		                std::string(c.differential ? "DIFFERENTIAL" : "refused"),
		                c.differential ? std::optional<std::string>(op) : std::nullopt,
		                c.differential ? std::nullopt : std::optional<std::string>(c.op_or_refusal),
		                "src/" + std::string(c.file), std::string(c.how), std::string(c.example)});
	}
	return api::ReturnRows(fcinfo, rows);
}
