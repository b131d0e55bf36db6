// Schedule expressions: @every, the @descriptors, 5-field cron (lists, ranges, steps, names, the
// Vixie day-of-month / day-of-week rule), next firing times across month, year and leap-year
// edges, and the errors for bad input. Every expected time below was worked out independently
// (calendar arithmetic, weekdays checked with Python's datetime), all in UTC.
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/cron.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using TimePoint = CronSchedule::TimePoint;

TimePoint at(const std::string& iso) {
  auto t = parse_utc(iso);
  EXPECT_TRUE(t.has_value()) << iso << ": " << (t ? "" : t.error().message);
  return t.value_or(TimePoint{});
}

CronSchedule cron(const std::string& expr) {
  auto c = CronSchedule::parse(expr);
  EXPECT_TRUE(c.has_value()) << expr << ": " << (c ? "" : c.error().message);
  return c ? *c : *CronSchedule::parse("* * * * *");
}

// The next n firings after `from`, formatted.
std::vector<std::string> next(const std::string& expr, const std::string& from, int n = 1) {
  auto c = cron(expr);
  std::vector<std::string> out;
  TimePoint t = at(from);
  for (int i = 0; i < n; ++i) {
    t = c.next_after(t);
    out.push_back(format_utc(t));
  }
  return out;
}

std::string err(const std::string& expr) {
  auto c = CronSchedule::parse(expr);
  EXPECT_FALSE(c.has_value()) << expr << " parsed when it should not have";
  return c ? std::string() : c.error().message;
}

using V = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Cron fields

TEST(Cron, EveryMinuteIsStrictlyAfter) {
  EXPECT_EQ(next("* * * * *", "2024-01-01T00:00:00Z", 2), (V{"2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"}));
  EXPECT_EQ(next("* * * * *", "2024-01-01T00:00:30.500Z"), V{"2024-01-01T00:01:00Z"});
  EXPECT_EQ(next("* * * * *", "2024-01-01T00:00:59.999Z"), V{"2024-01-01T00:01:00Z"});
}

TEST(Cron, Steps) {
  EXPECT_EQ(next("*/15 * * * *", "2024-01-01T10:07:00Z", 4),
            (V{"2024-01-01T10:15:00Z", "2024-01-01T10:30:00Z", "2024-01-01T10:45:00Z", "2024-01-01T11:00:00Z"}));
  // N/STEP runs from N to the end of the field (robfig/cron's reading)
  EXPECT_EQ(next("5/20 * * * *", "2024-01-01T10:00:00Z", 4),
            (V{"2024-01-01T10:05:00Z", "2024-01-01T10:25:00Z", "2024-01-01T10:45:00Z", "2024-01-01T11:05:00Z"}));
  EXPECT_EQ(next("10-30/10 9 * * *", "2024-01-01T09:20:00Z", 3),
            (V{"2024-01-01T09:30:00Z", "2024-01-02T09:10:00Z", "2024-01-02T09:20:00Z"}));
  // a step longer than the field: only its start
  EXPECT_EQ(next("*/60 * * * *", "2024-01-01T10:00:00Z"), V{"2024-01-01T11:00:00Z"});
  // months 1, 4, 7, 10
  EXPECT_EQ(next("0 0 1 */3 *", "2024-02-15T00:00:00Z", 3),
            (V{"2024-04-01T00:00:00Z", "2024-07-01T00:00:00Z", "2024-10-01T00:00:00Z"}));
}

TEST(Cron, ListsAndRangesAcrossMidnight) {
  EXPECT_EQ(next("0 22-23,0-1 * * *", "2024-03-10T21:30:00Z", 5),
            (V{"2024-03-10T22:00:00Z", "2024-03-10T23:00:00Z", "2024-03-11T00:00:00Z", "2024-03-11T01:00:00Z",
               "2024-03-11T22:00:00Z"}));
  EXPECT_EQ(next("0,30 12 * * *", "2024-03-10T12:00:00Z", 3),
            (V{"2024-03-10T12:30:00Z", "2024-03-11T12:00:00Z", "2024-03-11T12:30:00Z"}));
}

TEST(Cron, NamesAreCaseInsensitive) {
  // 2024-05-31 is a Friday: the next weekday morning is Monday 2024-06-03
  EXPECT_EQ(next("30 9 * * mon-fri", "2024-05-31T10:00:00Z"), V{"2024-06-03T09:30:00Z"});
  EXPECT_EQ(next("30 9 * * MON-Fri", "2024-05-31T10:00:00Z"), V{"2024-06-03T09:30:00Z"});
  // first Sundays of January and July 2024: the 7th of each
  EXPECT_EQ(next("0 12 * jan,JUL sun", "2024-01-01T00:00:00Z", 6),
            (V{"2024-01-07T12:00:00Z", "2024-01-14T12:00:00Z", "2024-01-21T12:00:00Z", "2024-01-28T12:00:00Z",
               "2024-07-07T12:00:00Z", "2024-07-14T12:00:00Z"}));
  EXPECT_EQ(next("0 0 1 mar-may *", "2024-06-15T00:00:00Z"), V{"2025-03-01T00:00:00Z"});
}

TEST(Cron, SundayIsZeroOrSeven) {
  // 2024-12-29 and 2025-01-05 are Sundays
  for (const char* e : {"0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "0 0 * * 5-7"}) {
    auto got = next(e, "2024-12-28T12:00:00Z");
    EXPECT_EQ(got, V{"2024-12-29T00:00:00Z"}) << e;
  }
  EXPECT_EQ(next("0 0 * * 7", "2024-12-29T00:00:00Z"), V{"2025-01-05T00:00:00Z"});
}

TEST(Cron, MonthAndYearEdges) {
  // April has 30 days: the 31st comes next in May
  EXPECT_EQ(next("0 0 31 * *", "2024-04-01T00:00:00Z", 3),
            (V{"2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z", "2024-08-31T00:00:00Z"}));
  EXPECT_EQ(next("59 23 31 12 *", "2024-12-31T23:59:00Z"), V{"2025-12-31T23:59:00Z"});
  EXPECT_EQ(next("59 23 31 12 *", "2024-12-31T23:58:59Z"), V{"2024-12-31T23:59:00Z"});
  EXPECT_EQ(next("0 0 1 1 *", "2024-12-31T23:59:59.999Z"), V{"2025-01-01T00:00:00Z"});
  // the last day of February, leap and not
  EXPECT_EQ(next("0 0 28,29 2 *", "2023-02-28T00:00:00Z", 3),
            (V{"2024-02-28T00:00:00Z", "2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z"}));
}

TEST(Cron, LeapDays) {
  EXPECT_EQ(next("0 0 29 2 *", "2024-03-01T00:00:00Z"), V{"2028-02-29T00:00:00Z"});
  EXPECT_EQ(next("0 0 29 2 *", "2024-02-28T23:59:00Z"), V{"2024-02-29T00:00:00Z"});
  // 2100 is not a leap year (divisible by 100, not by 400); 2000 was
  EXPECT_EQ(next("0 0 29 2 *", "2096-03-01T00:00:00Z"), V{"2104-02-29T00:00:00Z"});
  EXPECT_EQ(next("0 0 29 2 *", "1999-01-01T00:00:00Z"), V{"2000-02-29T00:00:00Z"});
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // Vixie cron: 13 and fri are both restricted, so every 13th AND every Friday.
  // Sept 2024: Fridays 6, 13, 20, 27.
  EXPECT_EQ(next("0 0 13 * fri", "2024-09-01T00:00:00Z", 4),
            (V{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-27T00:00:00Z"}));
  // Oct 2024: the 13th is a Sunday, still a firing
  EXPECT_EQ(next("0 0 13 * fri", "2024-10-11T00:00:00Z", 2), (V{"2024-10-13T00:00:00Z", "2024-10-18T00:00:00Z"}));
  // Feb 30 never exists, but with a day of week the schedule fires on February's Mondays
  EXPECT_EQ(next("0 0 30 2 mon", "2024-01-01T00:00:00Z"), V{"2024-02-05T00:00:00Z"});
}

TEST(Cron, DayFieldStartingWithStarIsUnrestricted) {
  // "*/2" starts with *, so (as in Vixie cron) both must match: odd days that are Mondays.
  EXPECT_EQ(next("0 0 */2 * mon", "2024-01-01T00:00:00Z", 3),
            (V{"2024-01-15T00:00:00Z", "2024-01-29T00:00:00Z", "2024-02-05T00:00:00Z"}));
  // day of week "*": the day of month alone
  EXPECT_EQ(next("0 0 15 * *", "2024-01-20T00:00:00Z"), V{"2024-02-15T00:00:00Z"});
  // ? is * in the day fields
  EXPECT_EQ(next("0 0 ? * mon", "2024-05-31T00:00:00Z"), V{"2024-06-03T00:00:00Z"});
  EXPECT_EQ(next("0 0 1 * ?", "2024-05-31T00:00:00Z"), V{"2024-06-01T00:00:00Z"});
}

TEST(Cron, Descriptors) {
  EXPECT_EQ(next("@hourly", "2024-01-01T10:00:00Z"), V{"2024-01-01T11:00:00Z"});
  EXPECT_EQ(next("@hourly", "2024-01-01T10:59:59Z"), V{"2024-01-01T11:00:00Z"});
  EXPECT_EQ(next("@daily", "2024-02-28T05:00:00Z", 2), (V{"2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"}));
  EXPECT_EQ(next("@midnight", "2024-02-28T05:00:00Z"), V{"2024-02-29T00:00:00Z"});
  // 2024-05-31 is a Friday; Sunday is June 2
  EXPECT_EQ(next("@weekly", "2024-05-31T00:00:00Z"), V{"2024-06-02T00:00:00Z"});
  EXPECT_EQ(next("@monthly", "2024-01-31T00:00:00Z"), V{"2024-02-01T00:00:00Z"});
  EXPECT_EQ(next("@yearly", "2024-01-01T00:00:00Z"), V{"2025-01-01T00:00:00Z"});
  EXPECT_EQ(next("@annually", "2024-06-01T00:00:00Z"), V{"2025-01-01T00:00:00Z"});
  EXPECT_EQ(next("@DAILY", "2024-06-01T00:00:00Z"), V{"2024-06-02T00:00:00Z"});
  EXPECT_EQ(cron("  @daily  ").text(), "@daily");
}

TEST(Cron, Every) {
  auto c = cron("@every 2s");
  EXPECT_EQ(c.every(), 2s);
  // counted from the whole second, so firings land on whole seconds
  EXPECT_EQ(c.next_after(at("2024-01-01T00:00:00.250Z")), at("2024-01-01T00:00:02Z"));
  EXPECT_EQ(c.next_after(at("2024-01-01T00:00:02Z")), at("2024-01-01T00:00:04Z"));
  EXPECT_EQ(next("@every 1h30m", "2024-12-31T23:00:00Z", 2), (V{"2025-01-01T00:30:00Z", "2025-01-01T02:00:00Z"}));
  EXPECT_EQ(cron("@every 1s").every(), 1s);
  // Consecutive firings keep the period (each counts from the previous firing's whole second).
  EXPECT_EQ(next("@every 90s", "2024-01-01T00:00:00.999Z", 3),
            (V{"2024-01-01T00:01:30Z", "2024-01-01T00:03:00Z", "2024-01-01T00:04:30Z"}));
  EXPECT_FALSE(c.matches(at("2024-01-01T00:00:00Z")));
  EXPECT_EQ(cron("0 0 * * *").every(), Duration::zero());
}

// next_after against matches(), minute by minute: nothing in between fires, and the result does.
TEST(Cron, NextAfterAgreesWithAMinuteByMinuteWalk) {
  const char* exprs[] = {"*/7 * * * *",        "0 */5 * * *",       "15,45 3-5 * * *",  "0 0 * * 1-5",
                         "0 12 13 * fri",       "0 0 */2 * mon",     "30 23 28-31 * *",  "0 0 29 2 *",
                         "59 23 * * sat,sun",   "0 6 1,15 jan-mar *", "1-3 0 1 * ?"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> minute_of(0, 60 * 24 * 366 * 4);
  TimePoint base = at("2023-01-01T00:00:00Z");
  for (const char* e : exprs) {
    auto parsed = CronSchedule::parse(e);
    ASSERT_TRUE(parsed.has_value()) << e;
    for (int k = 0; k < 30; ++k) {
      TimePoint from = base + std::chrono::minutes(minute_of(rng)) + std::chrono::seconds(k % 60);
      TimePoint got = parsed->next_after(from);
      ASSERT_GT(got, from) << e;
      ASSERT_TRUE(parsed->matches(got)) << e << " from " << format_utc(from) << " gave " << format_utc(got);
      int walked = 0;
      for (TimePoint t = std::chrono::floor<std::chrono::minutes>(from) + std::chrono::minutes(1); t < got;
           t += std::chrono::minutes(1)) {
        ASSERT_FALSE(parsed->matches(t)) << e << " skipped " << format_utc(t) << " (from " << format_utc(from) << ")";
        if (++walked > 60 * 24 * 366 * 5) break;  // leap days: at most 8 years apart, walk the first 5
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bad input: the field, the item, and what would be right

TEST(CronErrors, FieldCount) {
  EXPECT_NE(err("").find("empty schedule"), std::string::npos);
  auto e = err("* * * *");
  EXPECT_NE(e.find("4 field(s)"), std::string::npos) << e;
  EXPECT_NE(e.find("expected 5 fields (minute hour day-of-month month day-of-week"), std::string::npos) << e;
  EXPECT_NE(e.find("@every DURATION"), std::string::npos) << e;
  e = err("0 * * * * *");
  EXPECT_NE(e.find("a seconds field is not supported"), std::string::npos) << e;
}

TEST(CronErrors, OutOfRange) {
  EXPECT_EQ(err("61 * * * *"), "minute \"61\": out of range, expected 0-59");
  EXPECT_EQ(err("* 24 * * *"), "hour \"24\": out of range, expected 0-23");
  EXPECT_EQ(err("* * 0 * *"), "day-of-month \"0\": out of range, expected 1-31");
  EXPECT_EQ(err("* * 32 * *"), "day-of-month \"32\": out of range, expected 1-31");
  EXPECT_EQ(err("* * * 13 *"), "month \"13\": out of range, expected 1-12");
  EXPECT_EQ(err("* * * * 8"), "day-of-week \"8\": out of range, expected 0-7");
  EXPECT_EQ(err("0-60 * * * *"), "minute \"0-60\": out of range, expected 0-59");
  EXPECT_EQ(err("99999999999 * * * *"), "minute \"99999999999\": out of range, expected 0-59");
}

TEST(CronErrors, NamesAndSyntax) {
  EXPECT_EQ(err("* * * foo *"), "month \"foo\": expected a number 1-12 or a name jan..dec");
  EXPECT_EQ(err("* * * * mon-sux"),
            "day-of-week \"mon-sux\": expected a number 0-7 or a name sun..sat (0 and 7 are Sunday)");
  EXPECT_EQ(err("x * * * *"), "minute \"x\": expected a number 0-59");
  EXPECT_EQ(err("* * mon * *"), "day-of-month \"mon\": expected a number 1-31");
  EXPECT_EQ(err("-5 * * * *"), "minute \"-5\": expected a number 0-59");
  EXPECT_EQ(err("*/0 * * * *"), "minute \"*/0\": step \"0\": expected a number 1-60");
  EXPECT_EQ(err("*/x * * * *"), "minute \"*/x\": step \"x\": expected a number 1-60");
  EXPECT_EQ(err("*/ * * * *"), "minute \"*/\": expected a step like */15 or 0-30/5");
  EXPECT_EQ(err("*/2/3 * * * *"), "minute \"*/2/3\": expected a step like */15 or 0-30/5");
  EXPECT_NE(err("5-1 * * * *").find("minute \"5-1\": the range starts after it ends"), std::string::npos);
  EXPECT_NE(err("* * * * fri-mon").find("ranges do not wrap around"), std::string::npos);
  EXPECT_NE(err("1,,2 * * * *").find("minute \"1,,2\": empty list item"), std::string::npos);
  EXPECT_NE(err("1, * * * *").find("empty list item"), std::string::npos);
  EXPECT_EQ(err("? * * * *"), "minute \"?\": ? is only allowed in day-of-month and day-of-week; use *");
}

TEST(CronErrors, NeverFires) {
  EXPECT_EQ(err("0 0 30 2 *"), "day-of-month \"30\" never occurs in month \"2\": the schedule would never fire");
  EXPECT_NE(err("0 0 31 apr,jun,sep,nov *").find("never occurs"), std::string::npos);
  // Feb 29 exists (in leap years)
  EXPECT_TRUE(CronSchedule::parse("0 0 29 feb *").has_value());
  EXPECT_TRUE(CronSchedule::parse("0 0 31 4,5 *").has_value());
}

TEST(CronErrors, Descriptors) {
  EXPECT_EQ(err("@every"), "@every: expected a duration after it, like @every 30s or @every 1h30m");
  EXPECT_EQ(err("@every 500ms"), "@every \"500ms\": too short, expected at least 1s");
  EXPECT_EQ(err("@every 0s"), "@every \"0s\": too short, expected at least 1s");
  EXPECT_EQ(err("@every 1.5s"), "@every \"1.5s\": expected whole seconds (firings land on whole seconds)");
  EXPECT_NE(err("@every 2x").find("@every \"2x\": expected a duration like 10ms"), std::string::npos);
  EXPECT_NE(err("@every -5s").find("expected a duration"), std::string::npos);
  auto e = err("@fortnightly");
  EXPECT_NE(e.find("\"@fortnightly\": unknown;"), std::string::npos) << e;
  EXPECT_NE(e.find("@hourly, @daily, @weekly"), std::string::npos) << e;
  EXPECT_EQ(err("@daily 5"), "@daily: expected nothing after it, got \"5\"");
  EXPECT_NE(err("TZ=Europe/Paris 0 0 * * *").find("schedules are evaluated in UTC"), std::string::npos);
  EXPECT_NE(err("CRON_TZ=UTC 0 0 * * *").find("time zones are not supported"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// UTC instants

TEST(UtcTime, FormatAndParseRoundTrip) {
  EXPECT_EQ(format_utc(at("2024-02-29T23:59:59Z")), "2024-02-29T23:59:59Z");
  EXPECT_EQ(format_utc(at("2024-02-29T23:59:59.007Z")), "2024-02-29T23:59:59.007Z");
  EXPECT_EQ(format_utc(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00Z");
  auto t = at("2024-02-29T12:34:56.789Z");
  EXPECT_EQ(parse_utc(format_utc(t)).value(), t);
  EXPECT_EQ(t.time_since_epoch(), std::chrono::milliseconds(1709210096789));
}

TEST(UtcTime, ParseRefusesOtherForms) {
  for (const char* s : {"2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01 00:00:00Z", "2024-01-01T24:00:00Z",
                        "2024-01-01T00:00:00", "2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00.5Z", ""}) {
    auto r = parse_utc(s);
    EXPECT_FALSE(r.has_value()) << s;
    if (!r) {
      EXPECT_NE(r.error().message.find("expected a UTC time like"), std::string::npos);
    }
  }
}

// Years outside what system_clock's 64-bit nanoseconds hold overflowed the conversion (found by
// fuzz/fuzz_cron: "1013-11-29T11:58:50Z"); schedules.json is read back with parse_utc.
TEST(UtcTime, ParseRefusesYearsTheClockCannotHold) {
  for (const char* s : {"1013-11-29T11:58:50Z", "1969-12-31T23:59:59Z", "2262-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}) {
    auto r = parse_utc(s);
    ASSERT_FALSE(r.has_value()) << s;
    EXPECT_EQ(r.error().message, "\"" + std::string(s) + "\": expected a UTC time from 1970 to 2261, like 2026-11-29T11:58:50Z");
  }
  EXPECT_TRUE(parse_utc("2261-12-31T23:59:59.999Z").has_value());
  EXPECT_TRUE(parse_utc("1970-01-01T00:00:00Z").has_value());
}

}  // namespace
}  // namespace chaos
