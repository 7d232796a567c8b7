// Enumerated options of the SQL API (refresh mode, status, diamond settings): parsing and names.
// Values are trimmed and case-insensitive; invalid values throw core::Error (22023) naming the
// accepted values.
#pragma once

#include <string>
#include <string_view>

namespace pgtrickle::core {

enum class RefreshMode { kFull, kDifferential, kAuto };
enum class StStatus { kInitializing, kActive, kSuspended, kError };
enum class DiamondConsistency { kNone, kAtomic };
enum class SchedulePolicy { kFastest, kSlowest };

RefreshMode ParseRefreshMode(std::string_view text);
StStatus ParseStatus(std::string_view text);
DiamondConsistency ParseDiamondConsistency(std::string_view text);
SchedulePolicy ParseSchedulePolicy(std::string_view text);

const char *Name(RefreshMode v);
const char *Name(StStatus v);
const char *Name(DiamondConsistency v);
const char *Name(SchedulePolicy v);

// Strictest wins: slowest if either is slowest.
SchedulePolicy Stricter(SchedulePolicy a, SchedulePolicy b);

// Trims ASCII whitespace from both ends.
std::string_view Trim(std::string_view text);
// Lower-cases ASCII letters.
std::string Lower(std::string_view text);

} // namespace pgtrickle::core
