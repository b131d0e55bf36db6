// Schedule expressions for scheduled game days, evaluated in UTC (never the host's time zone):
//
//   @every DURATION          a fixed period, at least 1s: "@every 2s", "@every 1h30m"
//   @hourly @daily @weekly   "0 * * * *", "0 0 * * *", "0 0 * * 0"
//   @monthly @yearly         "0 0 1 * *", "0 0 1 1 *" (@midnight = @daily, @annually = @yearly)
//   MIN HOUR DOM MON DOW     standard 5-field cron
//
// Each cron field is a comma list of `*`, `N`, `N-M`, each optionally `/STEP`; `N/STEP` means
// N to the field's maximum. Months take jan..dec, days of the week sun..sat (0 and 7 are both
// Sunday); names are case-insensitive. `?` is `*` in the two day fields (as in robfig/cron,
// which Chaos Mesh's Schedule uses). Day of month and day of week follow Vixie cron: when both
// are restricted (neither starts with `*`), a day matches when EITHER matches; otherwise both
// must (so `0 0 13 * fri` fires on every 13th and every Friday).
#pragma once

#include <bitset>
#include <chrono>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/units.h"

namespace chaos {

class CronSchedule {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // Errors name the field and what it expects:
  //   minute "61": out of range, expected 0-59
  //   month "foo": expected a number 1-12 or a name jan..dec
  static Result<CronSchedule> parse(std::string_view expr);

  // The first firing strictly after t. Cron fields fire on whole minutes; @every fires at
  // t + period, t taken down to its whole second.
  TimePoint next_after(TimePoint t) const;
  // Does a cron expression fire at this instant (a whole minute)? False for @every.
  bool matches(TimePoint t) const;

  // The expression as given (whitespace trimmed).
  const std::string& text() const { return text_; }
  // The period of an @every expression; zero for a cron expression.
  Duration every() const { return every_; }

 private:
  bool day_matches(int dom, int month, int dow) const;

  std::string text_;
  Duration every_{0};
  std::bitset<60> minute_;
  std::bitset<24> hour_;
  std::bitset<32> dom_;    // 1..31
  std::bitset<13> month_;  // 1..12
  std::bitset<7> dow_;     // 0..6, Sunday = 0
  bool dom_star_ = true;
  bool dow_star_ = true;
};

// Instants as users read them: "2026-11-29T11:58:50Z", with ".123" milliseconds when there are
// any. parse_utc reads both forms back (and nothing else).
std::string format_utc(std::chrono::system_clock::time_point t);
Result<std::chrono::system_clock::time_point> parse_utc(std::string_view text);

}  // namespace chaos
