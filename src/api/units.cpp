// Refresh-unit lookup (see units.hpp).
#include "api/units.hpp"

#include <algorithm>
#include <map>

namespace pgtrickle::api {

std::vector<std::optional<int>> GroupNumbers(const core::Dag &dag) {
	std::vector<std::optional<int>> numbers;
	int next = 1;
	for (const auto &group : dag.Groups()) {
		numbers.push_back(group.IsSingleton() ? std::nullopt : std::optional<int>(next++));
	}
	return numbers;
}

Unit FindUnit(std::int64_t pgt_id, bool whole_group) {
	auto all = catalog::LoadAll();
	core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
	std::map<std::int64_t, const catalog::StreamTable *> by_id;
	for (const auto &st : all) {
		by_id[st.pgt_id] = &st;
	}
	auto numbers = GroupNumbers(dag);
	const auto &groups = dag.Groups();
	Unit unit;
	for (std::size_t i = 0; i < groups.size(); i++) {
		const auto &members = groups[i].members;
		if (std::find(members.begin(), members.end(), pgt_id) == members.end()) {
			continue;
		}
		unit.group_id = numbers[i];
		if (whole_group && groups[i].atomic && !groups[i].IsSingleton()) {
			unit.atomic = true;
			for (auto id : members) {
				unit.members.push_back(*by_id.at(id));
			}
			return unit;
		}
		break;
	}
	unit.members.push_back(*by_id.at(pgt_id));
	return unit;
}

} // namespace pgtrickle::api
