// Schedule parsing, cron evaluation, due checks and retry backoff (see schedule.hpp).
#include "core/schedule.hpp"

#include "core/error.hpp"
#include "core/options.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>
#include <vector>

#include "core/pure.hpp"

namespace pgtrickle::core {

namespace {

constexpr std::int64_t kMinutesPerDay = 1440;
constexpr const char *kWhitespace = " \t\r\n\f\v";

constexpr const char *kAcceptedForms =
    "A schedule is a duration such as '30s', '5m', '1h30m', '2d', '1w' or a bare number of "
    "seconds; a 5-field cron expression (minute hour day-of-month month day-of-week) or one of "
    "@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually; or 'calculated'.";

// Why a schedule text was rejected. Thrown inside this file only; ParseSchedule turns it into
// core::Error so that every rejection carries the same message and the accepted forms.
struct Invalid {
	std::string reason;
};

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
	std::int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0))) {
		q--;
	}
	return q;
}

bool IsDigit(char c) {
	return c >= '0' && c <= '9';
}

bool IsLetter(char c) {
	return c >= 'a' && c <= 'z';
}

// Reads the digits at s[pos...], advancing pos. Values above `limit` come back as limit + 1 so
// that absurdly long numbers cannot overflow.
std::int64_t ReadNumber(std::string_view s, std::size_t &pos, std::int64_t limit) {
	std::int64_t value = 0;
	while (pos < s.size() && IsDigit(s[pos])) {
		if (value <= limit) {
			value = value * 10 + (s[pos] - '0');
		}
		pos++;
	}
	return std::min(value, limit + 1);
}

// ---- durations ----

struct DurationUnit {
	char symbol;
	std::int64_t seconds;
};

// Largest first: a compound duration must follow this order.
constexpr std::array<DurationUnit, 5> kUnits{{
    {'w', 7 * 86400},
    {'d', 86400},
    {'h', 3600},
    {'m', 60},
    {'s', 1},
}};

std::int64_t ParseDuration(std::string_view s) {
	if (s.empty()) {
		throw Invalid{"The schedule is empty."};
	}
	const std::string too_long =
	    "The duration is longer than " + std::to_string(kMaxScheduleSeconds) + " seconds.";
	std::int64_t total = 0;
	std::size_t pos = 0;
	std::size_t next_unit = 0; // index into kUnits of the largest unit still allowed
	while (pos < s.size()) {
		std::size_t start = pos;
		std::int64_t value = ReadNumber(s, pos, kMaxScheduleSeconds);
		if (pos == start) {
			if (IsLetter(s[pos])) {
				throw Invalid{"Expected a number at \"" + std::string(s.substr(start)) + "\"."};
			}
			throw Invalid{std::string("Unexpected character \"") + s[pos] + "\" in a duration."};
		}
		std::int64_t unit_seconds = 1;
		std::size_t unit_start = pos;
		while (pos < s.size() && IsLetter(s[pos])) {
			pos++;
		}
		std::string_view unit = s.substr(unit_start, pos - unit_start);
		if (unit.empty()) {
			if (pos < s.size()) {
				throw Invalid{std::string("Unexpected character \"") + s[pos] +
				              "\" in a duration."};
			}
			// Only a bare number may omit its unit; "1m30" is more likely a typo than 90 s.
			if (start != 0) {
				throw Invalid{"The number " + std::string(s.substr(start)) +
				              " after the last unit has no unit."};
			}
		} else {
			auto found = std::find_if(kUnits.begin(), kUnits.end(), [unit](const DurationUnit &u) {
				return unit.size() == 1 && unit[0] == u.symbol;
			});
			if (found == kUnits.end()) {
				throw Invalid{"Unknown unit \"" + std::string(unit) +
				              "\"; the units are w, d, h, m and s."};
			}
			auto index = static_cast<std::size_t>(found - kUnits.begin());
			if (index < next_unit) {
				throw Invalid{"Each unit may appear once, largest first (w, d, h, m, s), as in "
				              "'1h30m'."};
			}
			next_unit = index + 1;
			unit_seconds = found->seconds;
		}
		std::int64_t part = 0;
		if (__builtin_mul_overflow(value, unit_seconds, &part) ||
		    __builtin_add_overflow(total, part, &total) || total > kMaxScheduleSeconds) {
			throw Invalid{too_long};
		}
	}
	if (total == 0) {
		throw Invalid{"A duration must be longer than zero."};
	}
	return total;
}

// ---- cron ----

struct CronField {
	const char *name;
	int min;
	int max;
	const char *const *names; // three-letter names, or nullptr
	int names_count;
	int names_base;   // value of names[0]
	int implicit_max; // upper bound of '*' and "a/n"
};

constexpr const char *kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char *kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// Day of week accepts 7 as a second Sunday (folded onto 0 after parsing), but only when written:
// '*' and "a/n" stop at 6, so "1/2" is Monday, Wednesday, Friday and not Sunday too.
constexpr std::array<CronField, 5> kCronFields{{
    {"minute", 0, 59, nullptr, 0, 0, 59},
    {"hour", 0, 23, nullptr, 0, 0, 23},
    {"day of month", 1, 31, nullptr, 0, 0, 31},
    {"month", 1, 12, kMonthNames, 12, 1, 12},
    {"day of week", 0, 7, kDayNames, 7, 0, 6},
}};

std::string FieldPrefix(const CronField &field) {
	return std::string("Cron field \"") + field.name + "\"";
}

// Reads one value (a number or, where the field has them, a three-letter name) at e[pos...].
int ReadCronValue(std::string_view e, std::size_t &pos, const CronField &field) {
	std::size_t start = pos;
	if (pos < e.size() && IsDigit(e[pos])) {
		std::int64_t value = ReadNumber(e, pos, 1000);
		if (value < field.min || value > field.max) {
			throw Invalid{FieldPrefix(field) + " value " +
			              std::string(e.substr(start, pos - start)) + " is out of range " +
			              std::to_string(field.min) + "-" + std::to_string(field.max) + "."};
		}
		return static_cast<int>(value);
	}
	while (pos < e.size() && IsLetter(e[pos])) {
		pos++;
	}
	std::string_view word = e.substr(start, pos - start);
	for (int i = 0; i < field.names_count; i++) {
		if (word == field.names[i]) {
			return field.names_base + i;
		}
	}
	if (word.empty()) {
		throw Invalid{FieldPrefix(field) + " expects a value at \"" + std::string(e.substr(start)) +
		              "\"."};
	}
	throw Invalid{FieldPrefix(field) + " has an unknown value \"" + std::string(word) + "\"."};
}

// Parses one comma-separated field into a bit mask over field.min..field.max.
std::uint64_t ParseCronField(std::string_view text, const CronField &field) {
	std::uint64_t mask = 0;
	std::size_t list_start = 0;
	while (true) {
		std::size_t comma = text.find(',', list_start);
		std::string_view e =
		    text.substr(list_start, comma == std::string_view::npos ? std::string_view::npos
		                                                            : comma - list_start);
		if (e.empty()) {
			throw Invalid{FieldPrefix(field) + " \"" + std::string(text) +
			              "\" has an empty list element."};
		}
		std::size_t pos = 0;
		int low = field.min;
		int high = field.implicit_max;
		int step = 1;
		if (e[0] == '*') {
			pos = 1;
		} else {
			low = ReadCronValue(e, pos, field);
			if (pos < e.size() && e[pos] == '-') {
				pos++;
				high = ReadCronValue(e, pos, field);
				if (high < low) {
					throw Invalid{FieldPrefix(field) + " range \"" + std::string(e) +
					              "\" is reversed."};
				}
			} else if (pos == e.size() || e[pos] != '/') {
				high = low; // a single value
			} else {
				high = std::max(low, high); // "a/n" runs to the end; "7/n" in day of week is Sunday
			}
		}
		if (pos < e.size() && e[pos] == '/') {
			pos++;
			std::size_t start = pos;
			const int span = field.implicit_max - field.min + 1;
			std::int64_t value = ReadNumber(e, pos, span);
			if (pos == start) {
				throw Invalid{FieldPrefix(field) + " element \"" + std::string(e) +
				              "\" has no step after '/'."};
			}
			if (value < 1 || value > span) {
				throw Invalid{FieldPrefix(field) + " step " +
				              std::string(e.substr(start, pos - start)) + " is out of range 1-" +
				              std::to_string(span) + "."};
			}
			step = static_cast<int>(value);
		}
		if (pos != e.size()) {
			throw Invalid{FieldPrefix(field) + " element \"" + std::string(e) +
			              "\" is not of the form *, n, a-b, */n, a-b/n or a/n."};
		}
		for (int v = low; v <= high; v += step) {
			mask |= std::uint64_t{1} << v;
		}
		if (comma == std::string_view::npos) {
			return mask;
		}
		list_start = comma + 1;
	}
}

bool DayMatches(const CronSpec &spec, int day_of_month, int day_of_week) {
	bool dom = spec.days_of_month[static_cast<std::size_t>(day_of_month)];
	bool dow = spec.days_of_week[static_cast<std::size_t>(day_of_week)];
	if (spec.dom_restricted && spec.dow_restricted) {
		return dom || dow;
	}
	return dom && dow;
}

// Parses the five fields of a cron expression (already lower-cased); sets *canonical to them
// joined by single spaces.
CronSpec ParseCron(std::string_view text, std::string *canonical) {
	std::vector<std::string_view> fields;
	std::size_t pos = 0;
	while (true) {
		pos = text.find_first_not_of(kWhitespace, pos);
		if (pos == std::string_view::npos) {
			break;
		}
		std::size_t end = text.find_first_of(kWhitespace, pos);
		fields.push_back(text.substr(pos, end == std::string_view::npos ? end : end - pos));
		pos = end;
	}
	if (fields.size() != kCronFields.size()) {
		throw Invalid{"A cron expression has 5 fields (minute hour day-of-month month "
		              "day-of-week), not " +
		              std::to_string(fields.size()) + "."};
	}
	std::array<std::uint64_t, 5> masks{};
	canonical->clear();
	for (std::size_t i = 0; i < fields.size(); i++) {
		masks[i] = ParseCronField(fields[i], kCronFields[i]);
		if (i > 0) {
			*canonical += ' ';
		}
		*canonical += fields[i];
	}
	CronSpec spec;
	spec.minutes = std::bitset<60>(masks[0]);
	spec.hours = std::bitset<24>(masks[1]);
	spec.days_of_month = std::bitset<32>(masks[2]);
	spec.months = std::bitset<13>(masks[3]);
	std::uint64_t dow = masks[4];
	if (dow & (std::uint64_t{1} << 7)) {
		dow |= 1;
	}
	spec.days_of_week = std::bitset<7>(dow & 0x7f);
	// Vixie cron's rule: a day field starting with '*' does not restrict (see schedule.hpp).
	spec.dom_restricted = fields[2][0] != '*';
	spec.dow_restricted = fields[4][0] != '*';
	if (!NextCronTime(spec, 0).has_value()) {
		throw Invalid{"The cron expression never matches a date."};
	}
	return spec;
}

constexpr std::array<std::pair<const char *, const char *>, 7> kCronMacros{{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};

template <std::size_t N> int NextSetBit(const std::bitset<N> &bits, int from) {
	for (auto i = static_cast<std::size_t>(from); i < N; i++) {
		if (bits[i]) {
			return static_cast<int>(i);
		}
	}
	return -1;
}

// Civil date of a day number (Howard Hinnant's civil_from_days).
void CivilFromDays(std::int64_t days, std::int64_t *year, int *month, int *day) {
	days += 719468;
	const std::int64_t era = FloorDiv(days, 146097);
	const std::int64_t doe = days - era * 146097;                                   // [0, 146096]
	const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; // [0, 399]
	const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               // [0, 365]
	const std::int64_t mp = (5 * doy + 2) / 153;                                    // [0, 11]
	*day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
	*month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
	*year = yoe + era * 400 + (*month <= 2 ? 1 : 0);
}

std::int64_t SaturatingSub(std::int64_t a, std::int64_t b) {
	std::int64_t out = 0;
	if (__builtin_sub_overflow(a, b, &out)) {
		return b < 0 ? INT64_MAX : INT64_MIN;
	}
	return out;
}

std::int64_t SaturatingAdd(std::int64_t a, std::int64_t b) {
	std::int64_t out = 0;
	if (__builtin_add_overflow(a, b, &out)) {
		return b > 0 ? INT64_MAX : INT64_MIN;
	}
	return out;
}

} // namespace

Schedule ParseSchedule(std::string_view text, std::int64_t min_seconds) {
	const std::string lowered = Lower(Trim(text));
	Schedule s;
	try {
		if (lowered == "calculated") {
			s.kind = ScheduleKind::kCalculated;
			s.text = lowered;
		} else if (!lowered.empty() && lowered[0] == '@') {
			auto macro = std::find_if(kCronMacros.begin(), kCronMacros.end(),
			                          [&lowered](const auto &m) { return lowered == m.first; });
			if (macro == kCronMacros.end()) {
				throw Invalid{"Unknown cron macro \"" + lowered + "\"."};
			}
			std::string expansion;
			s.kind = ScheduleKind::kCron;
			s.cron = ParseCron(macro->second, &expansion);
			s.text = lowered;
		} else if (lowered.find_first_of(kWhitespace) != std::string::npos) {
			s.kind = ScheduleKind::kCron;
			s.cron = ParseCron(lowered, &s.text);
		} else {
			s.kind = ScheduleKind::kDuration;
			s.seconds = ParseDuration(lowered);
			s.text = lowered;
		}
	} catch (const Invalid &invalid) {
		throw Error(kSqlstateInvalidParameterValue,
		            "invalid schedule \"" + std::string(text) + "\"",
		            invalid.reason + " " + kAcceptedForms);
	}
	if (s.kind == ScheduleKind::kDuration && s.seconds < min_seconds) {
		throw Error(kSqlstateInvalidParameterValue,
		            "schedule \"" + std::string(text) +
		                "\" is shorter than pg_trickle.min_schedule_seconds (" +
		                std::to_string(min_seconds) + ")",
		            "The schedule is " + std::to_string(s.seconds) + " seconds long.",
		            "Use a longer duration or lower pg_trickle.min_schedule_seconds.");
	}
	return s;
}

bool CronMatches(const CronSpec &spec, TimestampUs t) {
	CivilTime c = ToCivil(t);
	return spec.minutes[static_cast<std::size_t>(c.minute)] &&
	       spec.hours[static_cast<std::size_t>(c.hour)] &&
	       spec.months[static_cast<std::size_t>(c.month)] &&
	       DayMatches(spec, c.day, DayOfWeek(DaysFromCivil(c.year, c.month, c.day)));
}

std::optional<TimestampUs> NextCronTime(const CronSpec &spec, TimestampUs after) {
	if (spec.minutes.none() || spec.hours.none() || spec.months.none()) {
		return std::nullopt;
	}
	const std::int64_t first_minute = FloorDiv(after, kUsPerMinute) + 1;
	std::int64_t days = FloorDiv(first_minute, kMinutesPerDay);
	const int minute_of_day = static_cast<int>(first_minute - days * kMinutesPerDay);
	int hour = minute_of_day / 60;
	int minute = minute_of_day % 60;
	std::int64_t year = 0;
	int month = 0;
	int day = 0;
	CivilFromDays(days, &year, &month, &day);

	// Each step either returns or moves to the start of the next candidate month, day or hour,
	// so the loop runs at most a few times per calendar day in the horizon.
	const std::int64_t last_year = year + kCronHorizonYears;
	auto next_day = [&]() {
		days++;
		hour = 0;
		minute = 0;
		if (++day > DaysInMonth(year, month)) {
			day = 1;
			if (++month > 12) {
				month = 1;
				year++;
			}
		}
	};
	while (year <= last_year) {
		if (!spec.months[static_cast<std::size_t>(month)]) {
			day = 1;
			hour = 0;
			minute = 0;
			if (++month > 12) {
				month = 1;
				year++;
			}
			days = DaysFromCivil(year, month, 1);
			continue;
		}
		if (!DayMatches(spec, day, DayOfWeek(days))) {
			next_day();
			continue;
		}
		const int h = NextSetBit(spec.hours, hour);
		if (h < 0) {
			next_day();
			continue;
		}
		if (h != hour) {
			hour = h;
			minute = 0;
		}
		const int m = NextSetBit(spec.minutes, minute);
		if (m < 0) {
			if (++hour == 24) {
				next_day();
			}
			minute = 0;
			continue;
		}
		std::int64_t minutes_total = 0;
		std::int64_t us = 0;
		if (__builtin_mul_overflow(days, kMinutesPerDay, &minutes_total) ||
		    __builtin_add_overflow(minutes_total, hour * 60 + m, &minutes_total) ||
		    __builtin_mul_overflow(minutes_total, kUsPerMinute, &us)) {
			return std::nullopt;
		}
		return us;
	}
	return std::nullopt;
}

bool IsDue(const Schedule &s, std::optional<TimestampUs> last_refresh, TimestampUs now,
           bool has_pending_changes) {
	if (!last_refresh.has_value()) {
		return true;
	}
	switch (s.kind) {
	case ScheduleKind::kDuration: {
		const std::int64_t period_us = std::min(s.seconds, kMaxScheduleSeconds) * kUsPerSecond;
		return SaturatingSub(now, *last_refresh) >= period_us;
	}
	case ScheduleKind::kCron: {
		std::optional<TimestampUs> next = NextCronTime(s.cron, *last_refresh);
		return next.has_value() && *next <= now;
	}
	case ScheduleKind::kCalculated:
		return has_pending_changes;
	}
	return false;
}

std::int64_t RetryDelayUs(int consecutive_errors) {
	if (consecutive_errors <= 0) {
		return 0;
	}
	std::int64_t delay = kRetryBaseSeconds;
	for (int i = 1; i < consecutive_errors && delay < kRetryMaxSeconds; i++) {
		delay *= 2;
	}
	return std::min(delay, kRetryMaxSeconds) * kUsPerSecond;
}

TimestampUs RetryNotBefore(int consecutive_errors, TimestampUs last_failure) {
	return SaturatingAdd(last_failure, RetryDelayUs(consecutive_errors));
}

TimestampUs RetryNotBefore(int consecutive_errors, TimestampUs last_failure, const Schedule &s) {
	std::int64_t delay = RetryDelayUs(consecutive_errors);
	if (s.kind == ScheduleKind::kDuration) {
		delay = std::min(delay, std::min(s.seconds, kMaxScheduleSeconds) * kUsPerSecond);
	}
	return SaturatingAdd(last_failure, delay);
}

bool IsLeapYear(std::int64_t year) {
	return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

int DaysInMonth(std::int64_t year, int month) {
	static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (month < 1 || month > 12) {
		return 0;
	}
	if (month == 2 && IsLeapYear(year)) {
		return 29;
	}
	return kDays[month - 1];
}

std::int64_t DaysFromCivil(std::int64_t year, int month, int day) {
	const std::int64_t y = year - (month <= 2 ? 1 : 0);
	const std::int64_t era = FloorDiv(y, 400);
	const std::int64_t yoe = y - era * 400; // [0, 399]
	const std::int64_t doy =
	    (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1; // [0, 365]
	const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;    // [0, 146096]
	return era * 146097 + doe - 719468;
}

int DayOfWeek(std::int64_t days) {
	// 1970-01-01 was a Thursday.
	return static_cast<int>((days % 7 + 11) % 7);
}

CivilTime ToCivil(TimestampUs t) {
	// Not FloorDiv then t - days * kUsPerDay: near INT64_MIN the product would overflow.
	std::int64_t days = t / kUsPerDay;
	std::int64_t rest = t % kUsPerDay;
	if (rest < 0) {
		rest += kUsPerDay;
		days--;
	}
	CivilTime c;
	CivilFromDays(days, &c.year, &c.month, &c.day);
	c.hour = static_cast<int>(rest / (3600 * kUsPerSecond));
	rest %= 3600 * kUsPerSecond;
	c.minute = static_cast<int>(rest / kUsPerMinute);
	rest %= kUsPerMinute;
	c.second = static_cast<int>(rest / kUsPerSecond);
	c.microsecond = static_cast<int>(rest % kUsPerSecond);
	return c;
}

std::optional<TimestampUs> FromCivil(const CivilTime &c) {
	// TimestampUs spans about +-292,000 years; the bound keeps the day arithmetic exact.
	constexpr std::int64_t kYearLimit = 300000;
	if (c.year < -kYearLimit || c.year > kYearLimit || c.month < 1 || c.month > 12 || c.day < 1 ||
	    c.day > DaysInMonth(c.year, c.month) || c.hour < 0 || c.hour > 23 || c.minute < 0 ||
	    c.minute > 59 || c.second < 0 || c.second > 59 || c.microsecond < 0 ||
	    c.microsecond >= kUsPerSecond) {
		return std::nullopt;
	}
	std::int64_t in_day =
	    ((c.hour * std::int64_t{60} + c.minute) * 60 + c.second) * kUsPerSecond + c.microsecond;
	std::int64_t days = DaysFromCivil(c.year, c.month, c.day);
	if (days < 0) {
		// Count from the end of the day so that the product stays in range near INT64_MIN.
		days++;
		in_day -= kUsPerDay;
	}
	std::int64_t us = 0;
	if (__builtin_mul_overflow(days, kUsPerDay, &us) || __builtin_add_overflow(us, in_day, &us)) {
		return std::nullopt;
	}
	return us;
}

std::string FormatUtc(TimestampUs t) {
	CivilTime c = ToCivil(t);
	char buf[64];
	if (c.microsecond != 0) {
		std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d %02d:%02d:%02d.%06d UTC",
		              static_cast<long long>(c.year), c.month, c.day, c.hour, c.minute, c.second,
		              c.microsecond);
	} else {
		std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d %02d:%02d:%02d UTC",
		              static_cast<long long>(c.year), c.month, c.day, c.hour, c.minute, c.second);
	}
	return buf;
}

} // namespace pgtrickle::core
