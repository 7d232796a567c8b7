// Unit tests of core/schedule: parsing, cron evaluation, due checks, retry backoff and the UTC
// calendar, including property tests that compare NextCronTime with a brute-force search.
#include "core/schedule.hpp"

#include "core/error.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace pgtrickle::core {
namespace {

constexpr std::int64_t kUsPerHour = 3600 * kUsPerSecond;

TimestampUs FloorToMinute(TimestampUs t) {
	TimestampUs r = t % kUsPerMinute;
	return r < 0 ? t - r - kUsPerMinute : t - r;
}

// "YYYY-MM-DD HH:MM[:SS]" in UTC.
TimestampUs At(const char *text) {
	CivilTime c;
	long long year = 0;
	int n = std::sscanf(text, "%lld-%d-%d %d:%d:%d", &year, &c.month, &c.day, &c.hour, &c.minute,
	                    &c.second);
	EXPECT_GE(n, 5) << text;
	c.year = year;
	std::optional<TimestampUs> t = FromCivil(c);
	EXPECT_TRUE(t.has_value()) << text;
	return t.value_or(0);
}

CronSpec Cron(const char *text) {
	Schedule s = ParseSchedule(text, 1);
	EXPECT_EQ(s.kind, ScheduleKind::kCron) << text;
	return s.cron;
}

// The next firing of `spec_text` after `after_text`, formatted, or "never".
std::string Next(const char *spec_text, const char *after_text) {
	std::optional<TimestampUs> next = NextCronTime(Cron(spec_text), At(after_text));
	return next ? FormatUtc(*next) : "never";
}

// Parses `text`, expecting a rejection, and returns the error.
Error Rejected(std::string_view text, std::int64_t min_seconds = 1) {
	try {
		Schedule s = ParseSchedule(text, min_seconds);
		ADD_FAILURE() << "accepted \"" << text << "\" as \"" << s.text << "\"";
	} catch (const Error &e) {
		return e;
	}
	return Error("", "");
}

std::string BitsOf(const CronSpec &c) {
	return c.minutes.to_string() + "|" + c.hours.to_string() + "|" + c.days_of_month.to_string() +
	       "|" + c.months.to_string() + "|" + c.days_of_week.to_string() + "|" +
	       std::to_string(c.dom_restricted) + std::to_string(c.dow_restricted);
}

// ---- durations ----

TEST(ScheduleParse, ValidDurations) {
	struct Case {
		const char *text;
		std::int64_t seconds;
		const char *canonical;
	};
	const Case cases[] = {
	    {"30s", 30, "30s"},
	    {"5m", 300, "5m"},
	    {"1h30m", 5400, "1h30m"},
	    {"2d", 172800, "2d"},
	    {"1w", 604800, "1w"},
	    {"90", 90, "90"},
	    {" 5M ", 300, "5m"},
	    {"\t1H30M\n", 5400, "1h30m"},
	    {"2m30s", 150, "2m30s"},
	    {"1d30s", 86430, "1d30s"},
	    {"1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5, "1w2d3h4m5s"},
	    {"0h30m", 1800, "0h30m"},
	    {"007", 7, "007"},
	    {"1", 1, "1"},
	    {"9223372036854", kMaxScheduleSeconds, "9223372036854"},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.text);
		Schedule s = ParseSchedule(c.text, 1);
		EXPECT_EQ(s.kind, ScheduleKind::kDuration);
		EXPECT_EQ(s.seconds, c.seconds);
		EXPECT_EQ(s.text, c.canonical);
	}
}

TEST(ScheduleParse, InvalidDurations) {
	struct Case {
		const char *text;
		const char *reason; // a fragment of the detail
	};
	const Case cases[] = {
	    {"", "empty"},
	    {"   ", "empty"},
	    {"0", "longer than zero"},
	    {"0s", "longer than zero"},
	    {"0h0m", "longer than zero"},
	    {"5x", "Unknown unit \"x\""},
	    {"5min", "Unknown unit \"min\""},
	    {"1h30mins", "Unknown unit \"mins\""},
	    {"1h30m!", "Unexpected character \"!\""},
	    {"1m30", "has no unit"},
	    {"m", "Expected a number"},
	    {"-5", "Unexpected character \"-\""},
	    {"+5", "Unexpected character \"+\""},
	    {"1h1h", "once, largest first"},
	    {"30m1h", "once, largest first"},
	    {"1s1s", "once, largest first"},
	    {"1.5h", "Unexpected character \".\""},
	    {"99999999999999999999999", "longer than"},
	    {"99999999999999999999999s", "longer than"},
	    {"9223372036855", "longer than"},
	    {"106751992d", "longer than"},
	    {"15250285w", "longer than"},
	    {"106751991d99999h", "longer than"},
	    {"1h 30m", "5 fields"},
	    {"@every", "Unknown cron macro"},
	    {"@reboot", "Unknown cron macro"},
	    {"calculatedx", "Expected a number"},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.text);
		Error e = Rejected(c.text);
		EXPECT_EQ(e.Sqlstate(), "22023");
		EXPECT_EQ(std::string(e.what()), std::string("invalid schedule \"") + c.text + "\"");
		EXPECT_NE(e.Detail().find(c.reason), std::string::npos) << e.Detail();
		// Every rejection also lists the accepted forms.
		EXPECT_NE(e.Detail().find("'1h30m'"), std::string::npos) << e.Detail();
		EXPECT_NE(e.Detail().find("@hourly"), std::string::npos) << e.Detail();
		EXPECT_NE(e.Detail().find("'calculated'"), std::string::npos) << e.Detail();
	}
}

TEST(ScheduleParse, MinSecondsAppliesToDurationsOnly) {
	EXPECT_EQ(ParseSchedule("10s", 10).seconds, 10);
	EXPECT_EQ(ParseSchedule("1m", 60).seconds, 60);
	Error e = Rejected("5s", 10);
	EXPECT_EQ(e.Sqlstate(), "22023");
	EXPECT_STREQ(e.what(), "schedule \"5s\" is shorter than pg_trickle.min_schedule_seconds (10)");
	EXPECT_EQ(e.Detail(), "The schedule is 5 seconds long.");
	EXPECT_STREQ(Rejected("59", 60).what(),
	             "schedule \"59\" is shorter than pg_trickle.min_schedule_seconds (60)");
	// Cron cannot fire more often than once a minute and 'calculated' has no period.
	EXPECT_EQ(ParseSchedule("* * * * *", 3600).kind, ScheduleKind::kCron);
	EXPECT_EQ(ParseSchedule("calculated", 3600).kind, ScheduleKind::kCalculated);
	// A syntax error wins over the minimum.
	EXPECT_STREQ(Rejected("5x", 10).what(), "invalid schedule \"5x\"");
}

TEST(ScheduleParse, Calculated) {
	for (const char *text : {"calculated", " Calculated ", "CALCULATED"}) {
		Schedule s = ParseSchedule(text, 1);
		EXPECT_EQ(s.kind, ScheduleKind::kCalculated) << text;
		EXPECT_EQ(s.text, "calculated");
	}
}

// ---- cron parsing ----

TEST(CronParse, FieldsAndCanonicalText) {
	Schedule s = ParseSchedule("  */15   0-6,22 *\t* MON-fri ", 1);
	ASSERT_EQ(s.kind, ScheduleKind::kCron);
	EXPECT_EQ(s.text, "*/15 0-6,22 * * mon-fri");
	const CronSpec &c = s.cron;
	for (int m = 0; m < 60; m++) {
		EXPECT_EQ(c.minutes[m], m % 15 == 0) << m;
	}
	for (int h = 0; h < 24; h++) {
		EXPECT_EQ(c.hours[h], h <= 6 || h == 22) << h;
	}
	EXPECT_EQ(c.days_of_month.count(), 31u);
	EXPECT_FALSE(c.days_of_month[0]);
	EXPECT_EQ(c.months.count(), 12u);
	EXPECT_FALSE(c.months[0]);
	EXPECT_EQ(c.days_of_week.to_string(), "0111110");
	EXPECT_FALSE(c.dom_restricted);
	EXPECT_TRUE(c.dow_restricted);
}

TEST(CronParse, RangesStepsNamesAndSunday) {
	CronSpec c = Cron("5/20 9-17/4 1,15,31 JAN-mar,Dec 1/2");
	EXPECT_EQ(c.minutes.to_string(), std::string(14, '0') + "1" + std::string(19, '0') + "1" +
	                                     std::string(19, '0') + "1" + std::string(5, '0'));
	EXPECT_EQ(c.hours.to_string(), "000000100010001000000000"); // 9, 13, 17
	EXPECT_EQ(c.days_of_month.to_string(), "10000000000000001000000000000010");
	EXPECT_EQ(c.months.to_string(), "1000000001110");
	// "1/2" stops at Saturday: Monday, Wednesday, Friday, not Sunday (7) as well.
	EXPECT_EQ(c.days_of_week.to_string(), "0101010");
	EXPECT_TRUE(c.dom_restricted);
	EXPECT_TRUE(c.dow_restricted);

	// 7 is Sunday, alone, in ranges and in lists.
	EXPECT_EQ(BitsOf(Cron("0 0 * * 7")), BitsOf(Cron("0 0 * * 0")));
	EXPECT_EQ(BitsOf(Cron("0 0 * * sun")), BitsOf(Cron("0 0 * * 0")));
	EXPECT_EQ(Cron("0 0 * * 5-7").days_of_week.to_string(), "1100001");
	EXPECT_EQ(Cron("0 0 * * 0-7").days_of_week.count(), 7u);
	EXPECT_EQ(Cron("0 0 * * */2").days_of_week.to_string(), "1010101");
	// Vixie's rule: a day field starting with '*' is unrestricted, even with a step.
	CronSpec step = Cron("0 0 */2 * *");
	EXPECT_FALSE(step.dom_restricted);
	EXPECT_EQ(step.days_of_month.count(), 16u);
	EXPECT_TRUE(Cron("0 0 1-31 * *").dom_restricted);
	// Steps up to the field's span are accepted.
	EXPECT_EQ(Cron("*/60 * * * *").minutes.count(), 1u);
	EXPECT_EQ(Cron("0 */24 * * *").hours.count(), 1u);
}

TEST(CronParse, Invalid) {
	struct Case {
		const char *text;
		const char *reason;
	};
	const Case cases[] = {
	    {"* * * *", "5 fields"},
	    {"* * * * * *", "5 fields"},
	    {"60 * * * *", "\"minute\" value 60 is out of range 0-59"},
	    {"* 24 * * *", "\"hour\" value 24 is out of range 0-23"},
	    {"* * 0 * *", "\"day of month\" value 0 is out of range 1-31"},
	    {"* * 32 * *", "\"day of month\" value 32 is out of range 1-31"},
	    {"* * * 0 *", "\"month\" value 0 is out of range 1-12"},
	    {"* * * 13 *", "\"month\" value 13 is out of range 1-12"},
	    {"* * * * 8", "\"day of week\" value 8 is out of range 0-7"},
	    {"99999999999999999999 * * * *", "out of range"},
	    {"*/0 * * * *", "step 0 is out of range 1-60"},
	    {"*/61 * * * *", "step 61 is out of range 1-60"},
	    {"0-10/ * * * *", "no step"},
	    {"5-2 * * * *", "range \"5-2\" is reversed"},
	    {"* * * * fri-mon", "reversed"},
	    {"* * * foo *", "unknown value \"foo\""},
	    {"* * * * sunday", "unknown value \"sunday\""},
	    {"jan * * * *", "unknown value \"jan\""},
	    {"* * * mon *", "unknown value \"mon\""},
	    {"* * * * mon-", "expects a value"},
	    {"1,,2 * * * *", "empty list element"},
	    {"1, * * * *", "empty list element"},
	    {"*5 * * * *", "not of the form"},
	    {"1-2-3 * * * *", "not of the form"},
	    {"? * * * *", "expects a value"},
	    {"0 0 30 2 *", "never matches"},
	    {"0 0 31 4,6,9,11 *", "never matches"},
	    {"@daily extra", "Unknown cron macro"},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.text);
		Error e = Rejected(c.text);
		EXPECT_EQ(e.Sqlstate(), "22023");
		EXPECT_EQ(std::string(e.what()), std::string("invalid schedule \"") + c.text + "\"");
		EXPECT_NE(e.Detail().find(c.reason), std::string::npos) << e.Detail();
	}
}

TEST(CronParse, Macros) {
	struct Case {
		const char *macro;
		const char *expansion;
	};
	const Case cases[] = {
	    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
	    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
	    {"@annually", "0 0 1 1 *"},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.macro);
		Schedule s = ParseSchedule(c.macro, 1);
		EXPECT_EQ(s.kind, ScheduleKind::kCron);
		EXPECT_EQ(s.text, c.macro);
		EXPECT_EQ(BitsOf(s.cron), BitsOf(Cron(c.expansion)));
	}
	EXPECT_EQ(ParseSchedule(" @Daily ", 1).text, "@daily");
}

// ---- NextCronTime ----

TEST(NextCronTime, MinuteAndHourBoundaries) {
	EXPECT_EQ(Next("* * * * *", "2024-05-10 12:34:56"), "2024-05-10 12:35:00 UTC");
	// Strictly after: a time exactly on a firing minute moves to the next one.
	EXPECT_EQ(Next("* * * * *", "2024-05-10 12:35:00"), "2024-05-10 12:36:00 UTC");
	EXPECT_EQ(Next("0 * * * *", "2024-05-10 12:00"), "2024-05-10 13:00:00 UTC");
	EXPECT_EQ(Next("0 * * * *", "2024-05-10 23:30"), "2024-05-11 00:00:00 UTC");
	EXPECT_EQ(Next("*/15 * * * *", "2024-05-10 12:59:59"), "2024-05-10 13:00:00 UTC");
	EXPECT_EQ(Next("45 9 * * *", "2024-05-10 09:44:59"), "2024-05-10 09:45:00 UTC");
	EXPECT_EQ(Next("45 9 * * *", "2024-05-10 09:45:00"), "2024-05-11 09:45:00 UTC");
	// Seconds and microseconds are truncated.
	std::optional<TimestampUs> next =
	    NextCronTime(Cron("* * * * *"), At("2024-05-10 12:34:00") + 59 * kUsPerSecond + 999999);
	ASSERT_TRUE(next.has_value());
	EXPECT_EQ(FormatUtc(*next), "2024-05-10 12:35:00 UTC");
}

TEST(NextCronTime, DayMonthAndYearBoundaries) {
	EXPECT_EQ(Next("30 2 * * *", "2024-01-31 03:00"), "2024-02-01 02:30:00 UTC");
	EXPECT_EQ(Next("0 0 1 * *", "2024-04-15 00:00"), "2024-05-01 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 31 * *", "2024-04-15 00:00"), "2024-05-31 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 1 1 *", "2023-06-01 00:00"), "2024-01-01 00:00:00 UTC");
	EXPECT_EQ(Next("59 23 31 12 *", "2023-12-31 23:59"), "2024-12-31 23:59:00 UTC");
	EXPECT_EQ(Next("* * * * *", "2023-12-31 23:59:30"), "2024-01-01 00:00:00 UTC");
	EXPECT_EQ(Next("0 12 * jun *", "2024-07-01 00:00"), "2025-06-01 12:00:00 UTC");
	// Before the epoch.
	EXPECT_EQ(Next("0 0 1 1 *", "1969-06-01 00:00"), "1970-01-01 00:00:00 UTC");
	EXPECT_EQ(NextCronTime(Cron("0 0 1 1 *"), At("1969-06-01 00:00")), 0);
	EXPECT_EQ(Next("30 * * * *", "1969-12-31 23:45"), "1970-01-01 00:30:00 UTC");
}

TEST(NextCronTime, LeapDays) {
	EXPECT_EQ(Next("0 12 29 2 *", "2023-03-01 00:00"), "2024-02-29 12:00:00 UTC");
	EXPECT_EQ(Next("0 12 29 2 *", "2024-02-29 12:00"), "2028-02-29 12:00:00 UTC");
	// 2100 is not a leap year, 2000 was.
	EXPECT_EQ(Next("0 12 29 2 *", "2096-03-01 00:00"), "2104-02-29 12:00:00 UTC");
	EXPECT_EQ(Next("0 12 29 2 *", "1999-01-01 00:00"), "2000-02-29 12:00:00 UTC");
	EXPECT_EQ(Next("0 0 * 2 *", "2023-02-28 00:00"), "2024-02-01 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 * * *", "2024-02-28 12:00"), "2024-02-29 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 * * *", "2023-02-28 12:00"), "2023-03-01 00:00:00 UTC");
}

TEST(NextCronTime, DayOfMonthOrDayOfWeek) {
	// Both restricted: the 13th or any Friday (2024-09-01 is a Sunday).
	EXPECT_EQ(Next("0 0 13 * 5", "2024-09-01 00:00"), "2024-09-06 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 13 * 5", "2024-09-06 00:00"), "2024-09-13 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 13 * 5", "2024-09-13 00:00"), "2024-09-20 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 13 * fri", "2024-10-12 00:00"), "2024-10-13 00:00:00 UTC"); // a Sunday
	// Only the day of week restricted: Fridays only.
	EXPECT_EQ(Next("0 0 * * 5", "2024-09-06 00:00"), "2024-09-13 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 * * 5", "2024-10-11 00:00"), "2024-10-18 00:00:00 UTC");
	// Only the day of month restricted: the 13th only.
	EXPECT_EQ(Next("0 0 13 * *", "2024-09-01 00:00"), "2024-09-13 00:00:00 UTC");
	// '*/2' counts as unrestricted (Vixie), so both must match: odd days that are Mondays.
	EXPECT_EQ(Next("0 0 */2 * 1", "2024-09-01 00:00"), "2024-09-09 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 */2 * 1", "2024-09-09 00:00"), "2024-09-23 00:00:00 UTC");
	// Sunday as 0 and as 7 agree.
	EXPECT_EQ(Next("0 0 * * 7", "2024-09-02 00:00"), "2024-09-08 00:00:00 UTC");
	EXPECT_EQ(Next("0 0 * * 0", "2024-09-02 00:00"), "2024-09-08 00:00:00 UTC");
	EXPECT_EQ(Next("@weekly", "2024-09-02 00:00"), "2024-09-08 00:00:00 UTC");
}

TEST(NextCronTime, StepLists) {
	CronSpec c = Cron("0,30 */6 * * *");
	std::vector<std::string> fired;
	TimestampUs t = At("2024-01-01 00:00");
	for (int i = 0; i < 9; i++) {
		std::optional<TimestampUs> next = NextCronTime(c, t);
		ASSERT_TRUE(next.has_value());
		fired.push_back(FormatUtc(*next).substr(11, 5));
		t = *next;
	}
	EXPECT_EQ(fired, (std::vector<std::string>{"00:30", "06:00", "06:30", "12:00", "12:30", "18:00",
	                                           "18:30", "00:00", "00:30"}));
	EXPECT_EQ(Next("*/20 9-17/4 * * mon-fri", "2024-09-06 17:40"), "2024-09-09 09:00:00 UTC");
	EXPECT_EQ(Next("10-50/20 * * * *", "2024-09-06 17:30"), "2024-09-06 17:50:00 UTC");
}

TEST(NextCronTime, ImpossibleAndEmptySpecsNeverFire) {
	// The parser rejects these, so build them by hand: 30 February, and 31 in 30-day months.
	CronSpec feb30 = Cron("0 0 * * *");
	feb30.days_of_month.reset();
	feb30.days_of_month.set(30);
	feb30.months.reset();
	feb30.months.set(2);
	feb30.dom_restricted = true;
	EXPECT_EQ(NextCronTime(feb30, At("2024-01-01 00:00")), std::nullopt);
	EXPECT_EQ(NextCronTime(feb30, INT64_MIN), std::nullopt);
	CronSpec april31 = feb30;
	april31.days_of_month.reset();
	april31.days_of_month.set(31);
	april31.months.reset();
	for (int m : {4, 6, 9, 11}) {
		april31.months.set(static_cast<std::size_t>(m));
	}
	EXPECT_EQ(NextCronTime(april31, 0), std::nullopt);
	EXPECT_EQ(NextCronTime(CronSpec{}, 0), std::nullopt);
	// Both day fields restricted but empty: no day matches.
	CronSpec no_day = Cron("0 0 1 * 1");
	no_day.days_of_month.reset();
	no_day.days_of_week.reset();
	EXPECT_EQ(NextCronTime(no_day, 0), std::nullopt);
}

TEST(NextCronTime, EdgesOfTheTimestampRange) {
	EXPECT_EQ(NextCronTime(Cron("* * * * *"), INT64_MAX), std::nullopt);
	std::optional<TimestampUs> first = NextCronTime(Cron("* * * * *"), INT64_MIN);
	ASSERT_TRUE(first.has_value());
	EXPECT_GT(*first, INT64_MIN);
	EXPECT_LE(*first - INT64_MIN, kUsPerMinute);
	EXPECT_EQ(*first % kUsPerMinute, 0);
}

// ---- IsDue, clock and backoff ----

TEST(IsDue, NeverRefreshedIsDueWhateverTheKind) {
	FakeClock clock(At("2024-01-01 00:00"));
	for (const char *text : {"30s", "0 0 1 1 *", "calculated"}) {
		EXPECT_TRUE(IsDue(ParseSchedule(text, 1), std::nullopt, clock.Now(), false)) << text;
	}
}

TEST(IsDue, Duration) {
	Schedule s = ParseSchedule("30s", 1);
	const TimestampUs last = At("2024-01-01 00:00");
	FakeClock clock(last);
	EXPECT_FALSE(IsDue(s, last, clock.Now(), true));
	clock.Advance(30 * kUsPerSecond - 1);
	EXPECT_FALSE(IsDue(s, last, clock.Now(), true));
	clock.Advance(1);
	EXPECT_TRUE(IsDue(s, last, clock.Now(), false));
	clock.Advance(kUsPerHour);
	EXPECT_TRUE(IsDue(s, last, clock.Now(), false));
	// A clock that went backwards is not due.
	clock.Set(last - kUsPerHour);
	EXPECT_FALSE(IsDue(s, last, clock.Now(), true));
	// Extreme values do not overflow.
	EXPECT_TRUE(IsDue(s, INT64_MIN, INT64_MAX, false));
	EXPECT_FALSE(IsDue(s, INT64_MAX, INT64_MIN, false));
	Schedule longest = ParseSchedule(std::to_string(kMaxScheduleSeconds), 1);
	EXPECT_FALSE(IsDue(longest, 0, kMaxScheduleSeconds * kUsPerSecond - 1, false));
	EXPECT_TRUE(IsDue(longest, 0, kMaxScheduleSeconds * kUsPerSecond, false));
}

TEST(IsDue, Cron) {
	Schedule s = ParseSchedule("0 * * * *", 1);
	EXPECT_FALSE(IsDue(s, At("2024-01-01 12:00"), At("2024-01-01 12:59:59"), true));
	EXPECT_TRUE(IsDue(s, At("2024-01-01 12:00"), At("2024-01-01 13:00"), false));
	EXPECT_TRUE(IsDue(s, At("2024-01-01 12:30"), At("2024-01-01 13:00"), false));
	// Missed firings collapse into one due refresh.
	EXPECT_TRUE(IsDue(s, At("2024-01-01 12:30"), At("2024-01-03 00:00"), false));
	// A clock that went backwards is not due.
	EXPECT_FALSE(IsDue(s, At("2024-01-01 12:30"), At("2024-01-01 11:00"), false));
	// Refreshed at 12:00:30 (late for the 12:00 firing): next due at 13:00.
	EXPECT_FALSE(IsDue(s, At("2024-01-01 12:00:30"), At("2024-01-01 12:59"), false));
	EXPECT_TRUE(IsDue(s, At("2024-01-01 12:00:30"), At("2024-01-01 13:00"), false));
}

TEST(IsDue, Calculated) {
	Schedule s = ParseSchedule("calculated", 1);
	EXPECT_TRUE(IsDue(s, At("2024-01-01 00:00"), At("2024-01-01 00:00"), true));
	EXPECT_FALSE(IsDue(s, At("2024-01-01 00:00"), At("2030-01-01 00:00"), false));
}

TEST(RetryBackoff, DoublesFromOneSecondAndCapsAtSixtySeconds) {
	const TimestampUs failed = At("2024-01-01 00:00");
	EXPECT_EQ(RetryNotBefore(0, failed), failed);
	EXPECT_EQ(RetryNotBefore(-3, failed), failed);
	const std::int64_t expected_seconds[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
	for (int n = 1; n <= 9; n++) {
		EXPECT_EQ(RetryNotBefore(n, failed) - failed, expected_seconds[n - 1] * kUsPerSecond) << n;
	}
	TimestampUs previous = failed;
	for (int n = 0; n < 200; n++) {
		TimestampUs t = RetryNotBefore(n, failed);
		EXPECT_GE(t, previous) << n;
		EXPECT_LE(t - failed, kRetryMaxSeconds * kUsPerSecond) << n;
		previous = t;
	}
	EXPECT_EQ(RetryNotBefore(INT_MAX, failed) - failed, kRetryMaxSeconds * kUsPerSecond);
	EXPECT_EQ(RetryNotBefore(INT_MAX, INT64_MAX), INT64_MAX);
}

TEST(RetryBackoff, NeverLongerThanADurationSchedule) {
	const TimestampUs failed = At("2024-01-01 00:00");
	Schedule ten_seconds = ParseSchedule("10s", 1);
	EXPECT_EQ(RetryNotBefore(2, failed, ten_seconds) - failed, 2 * kUsPerSecond);
	EXPECT_EQ(RetryNotBefore(5, failed, ten_seconds) - failed, 10 * kUsPerSecond);
	Schedule hourly = ParseSchedule("@hourly", 1);
	EXPECT_EQ(RetryNotBefore(9, failed, hourly) - failed, 60 * kUsPerSecond);
	Schedule calculated = ParseSchedule("calculated", 1);
	EXPECT_EQ(RetryNotBefore(9, failed, calculated) - failed, 60 * kUsPerSecond);
	Schedule day = ParseSchedule("1d", 1);
	EXPECT_EQ(RetryNotBefore(3, failed, day) - failed, 4 * kUsPerSecond);
}

TEST(FakeClock, SetAndAdvance) {
	FakeClock clock(5);
	const Clock &as_clock = clock;
	EXPECT_EQ(as_clock.Now(), 5);
	clock.Advance(10);
	EXPECT_EQ(as_clock.Now(), 15);
	clock.Set(-1);
	EXPECT_EQ(as_clock.Now(), -1);
}

// ---- calendar ----

TEST(Calendar, KnownDates) {
	EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
	EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
	EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
	EXPECT_EQ(DaysFromCivil(1600, 1, 1), -135140);
	EXPECT_EQ(DayOfWeek(0), 4);                          // Thursday
	EXPECT_EQ(DayOfWeek(-1), 3);                         // Wednesday
	EXPECT_EQ(DayOfWeek(DaysFromCivil(2024, 2, 29)), 4); // Thursday
	EXPECT_EQ(DayOfWeek(DaysFromCivil(2000, 1, 1)), 6);  // Saturday
	EXPECT_EQ(DayOfWeek(DaysFromCivil(1900, 1, 1)), 1);  // Monday
	EXPECT_EQ(At("2024-02-29 12:34:56"), 1709210096 * kUsPerSecond);
	EXPECT_EQ(FormatUtc(1709210096 * kUsPerSecond), "2024-02-29 12:34:56 UTC");
	EXPECT_EQ(FormatUtc(-1), "1969-12-31 23:59:59.999999 UTC");
	EXPECT_TRUE(IsLeapYear(2000));
	EXPECT_TRUE(IsLeapYear(2024));
	EXPECT_FALSE(IsLeapYear(1900));
	EXPECT_FALSE(IsLeapYear(2023));
	EXPECT_EQ(DaysInMonth(2024, 2), 29);
	EXPECT_EQ(DaysInMonth(2100, 2), 28);
	EXPECT_EQ(DaysInMonth(2024, 13), 0);
}

TEST(Calendar, FromCivilRejectsInvalidFields) {
	auto civil = [](std::int64_t y, int mo, int d, int h = 0, int mi = 0, int s = 0, int us = 0) {
		CivilTime c;
		c.year = y;
		c.month = mo;
		c.day = d;
		c.hour = h;
		c.minute = mi;
		c.second = s;
		c.microsecond = us;
		return FromCivil(c);
	};
	EXPECT_TRUE(civil(2024, 2, 29).has_value());
	EXPECT_FALSE(civil(2023, 2, 29).has_value());
	EXPECT_FALSE(civil(2024, 4, 31).has_value());
	EXPECT_FALSE(civil(2024, 0, 1).has_value());
	EXPECT_FALSE(civil(2024, 13, 1).has_value());
	EXPECT_FALSE(civil(2024, 1, 0).has_value());
	EXPECT_FALSE(civil(2024, 1, 1, 24).has_value());
	EXPECT_FALSE(civil(2024, 1, 1, 0, 60).has_value());
	EXPECT_FALSE(civil(2024, 1, 1, 0, 0, 60).has_value());
	EXPECT_FALSE(civil(2024, 1, 1, 0, 0, 0, 1000000).has_value());
	EXPECT_FALSE(civil(300000, 1, 1).has_value()); // beyond TimestampUs
	EXPECT_FALSE(civil(INT64_MAX, 1, 1).has_value());
}

TEST(Calendar, ConsecutiveDaysAndRoundTrips) {
	// Day numbers and dates advance together over four centuries on both sides of the epoch.
	std::int64_t y = 1800;
	int m = 1;
	int d = 1;
	for (std::int64_t days = DaysFromCivil(1800, 1, 1); days < DaysFromCivil(2201, 1, 1); days++) {
		CivilTime c = ToCivil(days * kUsPerDay);
		ASSERT_EQ(c.year, y);
		ASSERT_EQ(c.month, m);
		ASSERT_EQ(c.day, d);
		ASSERT_EQ(DaysFromCivil(y, m, d), days);
		if (++d > DaysInMonth(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	std::mt19937_64 rng(42);
	std::uniform_int_distribution<TimestampUs> any(INT64_MIN, INT64_MAX);
	for (int i = 0; i < 10000; i++) {
		TimestampUs t = any(rng);
		std::optional<TimestampUs> back = FromCivil(ToCivil(t));
		ASSERT_TRUE(back.has_value()) << t;
		ASSERT_EQ(*back, t);
	}
}

// ---- properties of NextCronTime ----

// Reference matcher written from the spec, independent of NextCronTime's skipping logic.
bool ReferenceDayMatches(const CronSpec &spec, const CivilTime &c) {
	bool dom = spec.days_of_month[static_cast<std::size_t>(c.day)];
	bool dow = spec.days_of_week[static_cast<std::size_t>(
	    DayOfWeek(DaysFromCivil(c.year, c.month, c.day)))];
	bool day = (spec.dom_restricted && spec.dow_restricted) ? (dom || dow) : (dom && dow);
	return day && spec.months[static_cast<std::size_t>(c.month)];
}

bool ReferenceMatches(const CronSpec &spec, TimestampUs t) {
	CivilTime c = ToCivil(t);
	return ReferenceDayMatches(spec, c) && spec.minutes[static_cast<std::size_t>(c.minute)] &&
	       spec.hours[static_cast<std::size_t>(c.hour)];
}

// A random cron field over [lo, hi]: '*', a value, a range, a step, or a list of them.
// max_step is the field's span as the parser sees it (7 for day of week, whose '*' ends at 6).
std::string RandomField(std::mt19937_64 &rng, int lo, int hi, int max_step, int star_percent) {
	auto pick = [&rng](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
	if (pick(1, 100) <= star_percent) {
		return pick(0, 3) == 0 ? "*/" + std::to_string(pick(1, max_step)) : "*";
	}
	std::string out;
	const int elements = pick(1, 3);
	for (int i = 0; i < elements; i++) {
		if (i > 0) {
			out += ',';
		}
		int a = pick(lo, hi);
		int b = pick(a, hi);
		switch (pick(0, 3)) {
		case 0:
			out += std::to_string(a);
			break;
		case 1:
			out += std::to_string(a) + "-" + std::to_string(b);
			break;
		case 2:
			out += std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(pick(1, 7));
			break;
		default:
			out += std::to_string(a) + "/" + std::to_string(pick(1, max_step));
			break;
		}
	}
	return out;
}

TimestampUs RandomTime(std::mt19937_64 &rng) {
	// 1900-01-01 .. 2200-01-01, at any microsecond.
	std::uniform_int_distribution<TimestampUs> dist(-2208988800 * kUsPerSecond,
	                                                7258118400 * kUsPerSecond);
	return dist(rng);
}

// For specs that fire at least weekly: NextCronTime agrees with a plain minute-by-minute scan.
TEST(NextCronTimeProperty, MatchesMinuteByMinuteScanForFrequentSpecs) {
	std::mt19937_64 rng(20240229);
	int checked = 0;
	for (int i = 0; i < 1000; i++) {
		std::string text = RandomField(rng, 0, 59, 60, 30) + " " + RandomField(rng, 0, 23, 24, 30) +
		                   " * * " + RandomField(rng, 0, 7, 7, 50);
		SCOPED_TRACE(text);
		CronSpec spec = Cron(text.c_str());
		const TimestampUs after = RandomTime(rng);
		std::optional<TimestampUs> next = NextCronTime(spec, after);
		ASSERT_TRUE(next.has_value());
		// Scan minute by minute from the first minute after `after`, at most 8 days.
		TimestampUs t = FloorToMinute(after) + kUsPerMinute;
		std::optional<TimestampUs> scanned;
		for (int k = 0; k < 8 * 1440 && !scanned; k++, t += kUsPerMinute) {
			if (ReferenceMatches(spec, t)) {
				scanned = t;
			}
		}
		ASSERT_TRUE(scanned.has_value());
		ASSERT_EQ(FormatUtc(*next), FormatUtc(*scanned)) << "after " << FormatUtc(after);
		checked++;
	}
	EXPECT_EQ(checked, 1000);
}

// For any parsable spec: the result is after `after`, on a minute, matches, and no minute in
// between matches (days that cannot match are skipped whole, the rest scanned minute by minute).
TEST(NextCronTimeProperty, FirstMatchForArbitrarySpecs) {
	std::mt19937_64 rng(7);
	int checked = 0;
	for (int i = 0; i < 5000; i++) {
		std::string text = RandomField(rng, 0, 59, 60, 30) + " " + RandomField(rng, 0, 23, 24, 30) +
		                   " " + RandomField(rng, 1, 31, 31, 50) + " " +
		                   RandomField(rng, 1, 12, 12, 60) + " " + RandomField(rng, 0, 7, 7, 50);
		SCOPED_TRACE(text);
		Schedule s;
		try {
			s = ParseSchedule(text, 1);
		} catch (const Error &e) {
			// Only specs that can never fire are rejected by this generator.
			ASSERT_NE(e.Detail().find("never matches"), std::string::npos) << e.Detail();
			continue;
		}
		const CronSpec &spec = s.cron;
		const TimestampUs after = RandomTime(rng);
		std::optional<TimestampUs> next = NextCronTime(spec, after);
		ASSERT_TRUE(next.has_value()) << "after " << FormatUtc(after);
		ASSERT_GT(*next, after);
		ASSERT_EQ(*next % kUsPerMinute, 0);
		ASSERT_TRUE(ReferenceMatches(spec, *next)) << FormatUtc(*next);
		// A spec that can fire does so within about 12 years (the 1st of a month on a given
		// weekday, or 29 February across 2100); the bound keeps the scan below finite.
		ASSERT_LT(*next - after, 15 * 366 * kUsPerDay);
		TimestampUs t = FloorToMinute(after) + kUsPerMinute;
		while (t < *next) {
			CivilTime c = ToCivil(t);
			if (!ReferenceDayMatches(spec, c)) {
				// Jump to the next midnight.
				t = t - (((c.hour * 60) + c.minute) * kUsPerMinute) + kUsPerDay;
				continue;
			}
			ASSERT_FALSE(ReferenceMatches(spec, t))
			    << "missed " << FormatUtc(t) << ", returned " << FormatUtc(*next);
			t += kUsPerMinute;
		}
		checked++;
	}
	// The generator mostly produces specs that fire.
	EXPECT_GT(checked, 3500);
}

} // namespace
} // namespace pgtrickle::core

TEST(UpstreamChanged, NewerOrFirstSourceData) {
	using pgtrickle::core::UpstreamChanged;
	EXPECT_FALSE(UpstreamChanged(std::nullopt, std::nullopt));
	EXPECT_FALSE(UpstreamChanged(std::nullopt, 5));
	EXPECT_TRUE(UpstreamChanged(5, std::nullopt));
	EXPECT_TRUE(UpstreamChanged(6, 5));
	EXPECT_FALSE(UpstreamChanged(5, 5));
	EXPECT_FALSE(UpstreamChanged(4, 5));
}
