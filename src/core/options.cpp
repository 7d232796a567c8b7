// Parsing of the enumerated SQL API options (see options.hpp).
#include "core/options.hpp"

#include "core/error.hpp"

#include <array>
#include <utility>

#include "core/pure.hpp"

namespace pgtrickle::core {

std::string_view Trim(std::string_view text) {
	const char *ws = " \t\r\n\f\v";
	auto begin = text.find_first_not_of(ws);
	if (begin == std::string_view::npos) {
		return {};
	}
	auto end = text.find_last_not_of(ws);
	return text.substr(begin, end - begin + 1);
}

std::string Lower(std::string_view text) {
	std::string out(text);
	for (char &c : out) {
		if (c >= 'A' && c <= 'Z') {
			c = static_cast<char>(c - 'A' + 'a');
		}
	}
	return out;
}

namespace {

template <typename E, std::size_t N>
E ParseEnum(std::string_view text, const std::array<std::pair<const char *, E>, N> &values,
            const char *what) {
	std::string key = Lower(Trim(text));
	std::string accepted;
	for (std::size_t i = 0; i < N; i++) {
		if (key == Lower(values[i].first)) {
			return values[i].second;
		}
		if (i > 0) {
			accepted += (i + 1 == N) ? " or " : ", ";
		}
		accepted += "'";
		accepted += values[i].first;
		accepted += "'";
	}
	throw Error(kSqlstateInvalidParameterValue,
	            std::string("invalid ") + what + " value: \"" + std::string(text) + "\"",
	            std::string("Accepted values are ") + accepted + ".");
}

constexpr std::array<std::pair<const char *, RefreshMode>, 3> kRefreshModes{{
    {"FULL", RefreshMode::kFull},
    {"DIFFERENTIAL", RefreshMode::kDifferential},
    {"AUTO", RefreshMode::kAuto},
}};
constexpr std::array<std::pair<const char *, StStatus>, 4> kStatuses{{
    {"INITIALIZING", StStatus::kInitializing},
    {"ACTIVE", StStatus::kActive},
    {"SUSPENDED", StStatus::kSuspended},
    {"ERROR", StStatus::kError},
}};
constexpr std::array<std::pair<const char *, DiamondConsistency>, 2> kConsistencies{{
    {"none", DiamondConsistency::kNone},
    {"atomic", DiamondConsistency::kAtomic},
}};
constexpr std::array<std::pair<const char *, SchedulePolicy>, 2> kPolicies{{
    {"fastest", SchedulePolicy::kFastest},
    {"slowest", SchedulePolicy::kSlowest},
}};

template <typename E, std::size_t N>
const char *NameOf(E v, const std::array<std::pair<const char *, E>, N> &values) {
	for (const auto &[name, value] : values) {
		if (value == v) {
			return name;
		}
	}
	return "?";
}

} // namespace

RefreshMode ParseRefreshMode(std::string_view text) {
	return ParseEnum(text, kRefreshModes, "refresh_mode");
}
StStatus ParseStatus(std::string_view text) {
	return ParseEnum(text, kStatuses, "status");
}
DiamondConsistency ParseDiamondConsistency(std::string_view text) {
	return ParseEnum(text, kConsistencies, "diamond_consistency");
}
SchedulePolicy ParseSchedulePolicy(std::string_view text) {
	return ParseEnum(text, kPolicies, "diamond_schedule_policy");
}

const char *Name(RefreshMode v) {
	return NameOf(v, kRefreshModes);
}
const char *Name(StStatus v) {
	return NameOf(v, kStatuses);
}
const char *Name(DiamondConsistency v) {
	return NameOf(v, kConsistencies);
}
const char *Name(SchedulePolicy v) {
	return NameOf(v, kPolicies);
}

SchedulePolicy Stricter(SchedulePolicy a, SchedulePolicy b) {
	return (a == SchedulePolicy::kSlowest || b == SchedulePolicy::kSlowest)
	           ? SchedulePolicy::kSlowest
	           : SchedulePolicy::kFastest;
}

} // namespace pgtrickle::core
