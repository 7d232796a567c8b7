// Schedules of stream tables (SPEC §7): parsing durations, cron expressions and 'calculated',
// evaluating cron in UTC, deciding whether a stream table is due and how long a failing one backs
// off. Pure C++: the scheduler passes `now` in (or a Clock), so every decision is unit-testable
// without sleeping. All functions may throw core::Error only where stated.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgtrickle::core {

// Microseconds since the Unix epoch, UTC. (PostgreSQL counts from 2000-01-01; the shell converts.)
using TimestampUs = std::int64_t;

inline constexpr std::int64_t kUsPerSecond = 1000000;
inline constexpr std::int64_t kUsPerMinute = 60 * kUsPerSecond;
inline constexpr std::int64_t kUsPerDay = 86400 * kUsPerSecond;

// Longest duration schedule: its length in microseconds must fit a TimestampUs.
inline constexpr std::int64_t kMaxScheduleSeconds = INT64_MAX / kUsPerSecond;

// NextCronTime searches this many years ahead. The Gregorian calendar repeats every 400 years
// (146097 days, a whole number of weeks), so a spec that does not fire within 400 years never
// fires: std::nullopt from NextCronTime means "never", not "not soon".
inline constexpr int kCronHorizonYears = 400;

// Retry backoff: the first retry may run kRetryBaseSeconds after a failure, each further
// consecutive failure doubles the wait, up to kRetryMaxSeconds.
inline constexpr std::int64_t kRetryBaseSeconds = 1;
inline constexpr std::int64_t kRetryMaxSeconds = 60;

enum class ScheduleKind { kDuration, kCron, kCalculated };

// A parsed 5-field cron expression. Bit i of a set means value i matches; days_of_month uses bits
// 1-31 and months bits 1-12 (bit 0 unused); days_of_week uses 0-6 with 0 = Sunday (7 in the text is
// folded onto 0). The restricted flags follow Vixie cron (and pg_cron): a day field counts as
// restricted unless its text starts with '*', so "*/2" is unrestricted. When both day fields are
// restricted a day matches if either matches; otherwise both must match.
struct CronSpec {
	std::bitset<60> minutes;
	std::bitset<24> hours;
	std::bitset<32> days_of_month;
	std::bitset<13> months;
	std::bitset<7> days_of_week;
	bool dom_restricted = false;
	bool dow_restricted = false;
};

struct Schedule {
	ScheduleKind kind = ScheduleKind::kCalculated;
	std::int64_t seconds = 0; // kDuration
	CronSpec cron;            // kCron
	// Canonical text for the catalog: trimmed and lower-cased; a cron expression's fields are
	// separated by single spaces; macros stay macros ("@daily"); "calculated".
	std::string text;
};

// Parses a schedule. Trimmed and case-insensitive. Accepted forms:
// - durations: a bare integer of seconds ("90"), or numbers with units w, d, h, m, s, compound in
//   strictly descending unit order with each unit at most once ("1h30m", "1d30s"); no spaces,
//   signs or fractions inside; the total must be positive and at most kMaxScheduleSeconds;
// - cron: 5 whitespace-separated fields (minute hour day-of-month month day-of-week), each a
//   comma list of '*', n, a-b, '*'/n, a-b/n or a/n (= a-max/n); month names jan-dec and day names
//   sun-sat; 7 also means Sunday; a step must be 1 to the field's span; or one of @hourly, @daily,
//   @midnight, @weekly, @monthly, @yearly, @annually. A cron expression that never matches a date
//   ("0 0 30 2 *") is rejected;
// - "calculated".
// Throws core::Error 22023 `invalid schedule "<text>"` whose detail gives the reason and the
// accepted forms. Durations shorter than min_seconds (the GUC pg_trickle.min_schedule_seconds)
// throw 22023 `schedule "<text>" is shorter than pg_trickle.min_schedule_seconds (N)`; cron and
// 'calculated' are not subject to min_seconds (cron cannot fire more than once a minute).
Schedule ParseSchedule(std::string_view text, std::int64_t min_seconds);

// Whether the spec matches the minute containing `t` (UTC; seconds are ignored).
bool CronMatches(const CronSpec &spec, TimestampUs t);

// The first minute strictly after `after` (truncated to the minute) that the spec matches, in UTC.
// Skips whole months, days and hours that cannot match, so the cost is bounded by the calendar days
// searched, not minutes. Returns std::nullopt if nothing matches within kCronHorizonYears (that is,
// never) or if the answer would not fit a TimestampUs.
std::optional<TimestampUs> NextCronTime(const CronSpec &spec, TimestampUs after);

// Whether a stream table is due at `now`:
//   never refreshed (last_refresh == nullopt) -> due;
//   kDuration   -> now - last_refresh >= seconds (a clock that went backwards is not due);
//   kCron       -> NextCronTime(last_refresh) <= now (missed firings collapse into one);
//   kCalculated -> has_pending_changes.
bool IsDue(const Schedule &s, std::optional<TimestampUs> last_refresh, TimestampUs now,
           bool has_pending_changes);

// "Upstream changed since me": a stream table must be recomputed when a stream table it reads
// holds data newer than its own (or it has none yet while the source has some). The one rule
// behind the scheduler's due check and the refresh's work check.
inline bool UpstreamChanged(std::optional<TimestampUs> source_data,
                            std::optional<TimestampUs> my_data) {
	return source_data.has_value() && (!my_data.has_value() || *source_data > *my_data);
}

// Wait before retry number `consecutive_errors` (>= 1): kRetryBaseSeconds * 2^(n-1), capped at
// kRetryMaxSeconds, in microseconds. 0 for consecutive_errors <= 0.
std::int64_t RetryDelayUs(int consecutive_errors);

// The earliest time a failing stream table may be retried, given the time of its last failure.
// The scheduler runs a table only when it is due and now >= RetryNotBefore(...).
TimestampUs RetryNotBefore(int consecutive_errors, TimestampUs last_failure);
// As above, but the wait never exceeds a duration schedule's own period: backing off longer than
// the table would normally wait only adds staleness, not relief. Cron and calculated schedules use
// the plain backoff.
TimestampUs RetryNotBefore(int consecutive_errors, TimestampUs last_failure, const Schedule &s);

// Calendar arithmetic in UTC without libc timezone state (proleptic Gregorian calendar).
struct CivilTime {
	std::int64_t year = 1970;
	int month = 1; // 1-12
	int day = 1;   // 1-31
	int hour = 0;
	int minute = 0;
	int second = 0;
	int microsecond = 0;
};

bool IsLeapYear(std::int64_t year);
// 28-31; 0 for a month outside 1-12.
int DaysInMonth(std::int64_t year, int month);
// Days since 1970-01-01 of a valid date (Howard Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t year, int month, int day);
// 0 = Sunday ... 6 = Saturday, for a day number from DaysFromCivil.
int DayOfWeek(std::int64_t days);
CivilTime ToCivil(TimestampUs t);
// std::nullopt if a field is out of range or the result does not fit a TimestampUs.
std::optional<TimestampUs> FromCivil(const CivilTime &c);
// "YYYY-MM-DD HH:MM:SS UTC" (microseconds appended when non-zero), for messages and test output.
std::string FormatUtc(TimestampUs t);

// The scheduler's source of time. Production passes PostgreSQL's clock; tests use FakeClock.
class Clock {
  public:
	virtual ~Clock() = default;
	virtual TimestampUs Now() const = 0;
};

class FakeClock final : public Clock {
  public:
	explicit FakeClock(TimestampUs now = 0) : now_(now) {
	}
	TimestampUs Now() const override {
		return now_;
	}
	void Set(TimestampUs now) {
		now_ = now;
	}
	void Advance(std::int64_t us) {
		now_ += us;
	}

  private:
	TimestampUs now_;
};

} // namespace pgtrickle::core
