#include "core/cron.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <vector>

namespace chaos {

namespace {

using namespace std::chrono;

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr const char* kForms =
    "expected 5 fields (minute hour day-of-month month day-of-week, e.g. \"30 2 * * mon-fri\") "
    "or one of @every DURATION, @hourly, @daily, @weekly, @monthly, @yearly";

struct FieldSpec {
  const char* name;
  int min, max;
  const char* const* names;  // nullptr, or names for min, min+1, ...
  int name_count;
  bool question_mark;  // `?` allowed (the day fields)
};

constexpr FieldSpec kMinute{"minute", 0, 59, nullptr, 0, false};
constexpr FieldSpec kHour{"hour", 0, 23, nullptr, 0, false};
constexpr FieldSpec kDom{"day-of-month", 1, 31, nullptr, 0, true};
constexpr FieldSpec kMonth{"month", 1, 12, kMonthNames, 12, false};
// 7 is Sunday too (folded into 0 by the caller); names stop at sat.
constexpr FieldSpec kDow{"day-of-week", 0, 7, kDayNames, 7, true};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string expected_value(const FieldSpec& f) {
  std::string s = "expected a number " + std::to_string(f.min) + "-" + std::to_string(f.max);
  if (f.names) s += std::string(" or a name ") + f.names[0] + ".." + f.names[f.name_count - 1];
  if (&f == &kDow) s += " (0 and 7 are Sunday)";
  return s;
}

std::unexpected<Error> field_error(const FieldSpec& f, std::string_view item, const std::string& what) {
  return fail(std::string(f.name) + " \"" + std::string(item) + "\": " + what);
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// One value of a field: a number in range or a name.
Result<int> field_value(const FieldSpec& f, std::string_view item, std::string_view v) {
  if (all_digits(v)) {
    int n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || n < f.min || n > f.max)
      return field_error(f, item, "out of range, expected " + std::to_string(f.min) + "-" + std::to_string(f.max));
    return n;
  }
  if (f.names) {
    auto l = lower(v);
    for (int i = 0; i < f.name_count; ++i)
      if (l == f.names[i]) return f.min + i;
  }
  return field_error(f, item, expected_value(f));
}

// A comma list of *, N, N-M, each with an optional /STEP, into bits [min, max]. `star` says
// whether the field starts with * (or ?): Vixie cron's test for an unrestricted day field.
Result<std::uint64_t> parse_field(const FieldSpec& f, std::string_view text, bool& star) {
  std::uint64_t bits = 0;
  star = !text.empty() && (text[0] == '*' || (f.question_mark && text[0] == '?'));
  std::size_t pos = 0;
  for (;;) {
    std::size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (item.empty())
      return field_error(f, text, "empty list item: expected values separated by single commas, like 1,15,30");
    std::string_view range = item, step_text;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      step_text = item.substr(slash + 1);
      if (step_text.find('/') != std::string_view::npos || step_text.empty() || range.empty())
        return field_error(f, item, "expected a step like */15 or 0-30/5");
    }
    int lo = 0, hi = 0;
    if (range == "*" || (f.question_mark && range == "?")) {
      lo = f.min;
      hi = f.max;
    } else if (range == "?") {
      return field_error(f, item, "? is only allowed in day-of-month and day-of-week; use *");
    } else if (auto dash = range.find('-'); dash != std::string_view::npos) {
      auto a = field_value(f, item, range.substr(0, dash));
      if (!a) return std::unexpected(a.error());
      auto b = field_value(f, item, range.substr(dash + 1));
      if (!b) return std::unexpected(b.error());
      lo = *a;
      hi = *b;
      if (lo > hi)
        return field_error(f, item,
                           "the range starts after it ends (ranges do not wrap around; use a list, like 22-23,0-2)");
    } else {
      auto v = field_value(f, item, range);
      if (!v) return std::unexpected(v.error());
      lo = *v;
      hi = step_text.empty() ? *v : f.max;  // N/STEP: from N to the end of the field
    }
    int step = 1;
    if (!step_text.empty()) {
      auto [p, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (!all_digits(step_text) || ec != std::errc() || step < 1 || step > f.max + 1)
        return field_error(f, item,
                           "step \"" + std::string(step_text) + "\": expected a number 1-" + std::to_string(f.max + 1));
    }
    for (int v = lo; v <= hi; v += step) bits |= std::uint64_t{1} << v;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return bits;
}

int days_in_month(int month, bool leap) {
  static constexpr int kDays[] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && leap ? 29 : kDays[month];
}

std::string two(unsigned v) {
  char b[3];
  std::snprintf(b, sizeof b, "%02u", v % 100);
  return b;
}

}  // namespace

Result<CronSchedule> CronSchedule::parse(std::string_view expr) {
  CronSchedule s;
  std::string_view text = trim(expr);
  s.text_ = std::string(text);
  if (text.empty()) return fail(std::string("empty schedule: ") + kForms);
  if (text.rfind("TZ=", 0) == 0 || text.rfind("CRON_TZ=", 0) == 0)
    return fail("time zones are not supported: schedules are evaluated in UTC; write the time in UTC");

  if (text[0] == '@') {
    std::string_view word = text.substr(0, text.find_first_of(" \t"));
    std::string_view rest = trim(text.substr(word.size()));
    std::string w = lower(word);
    if (w == "@every") {
      if (rest.empty()) return fail("@every: expected a duration after it, like @every 30s or @every 1h30m");
      auto d = parse_duration(rest);
      if (!d) return fail("@every \"" + std::string(rest) + "\": " + d.error().message);
      if (*d < std::chrono::seconds(1))
        return fail("@every \"" + std::string(rest) + "\": too short, expected at least 1s");
      // Firings land on whole seconds, so a fraction would be dropped on every firing (1500ms
      // would fire every 1s): refuse it rather than drift.
      if (*d != std::chrono::floor<std::chrono::seconds>(*d))
        return fail("@every \"" + std::string(rest) + "\": expected whole seconds (firings land on whole seconds)");
      s.every_ = *d;
      return s;
    }
    const char* equivalent = nullptr;
    if (w == "@hourly") equivalent = "0 * * * *";
    else if (w == "@daily" || w == "@midnight") equivalent = "0 0 * * *";
    else if (w == "@weekly") equivalent = "0 0 * * 0";
    else if (w == "@monthly") equivalent = "0 0 1 * *";
    else if (w == "@yearly" || w == "@annually") equivalent = "0 0 1 1 *";
    else return fail("\"" + std::string(word) + "\": unknown; " + kForms);
    if (!rest.empty())
      return fail(std::string(word) + ": expected nothing after it, got \"" + std::string(rest) + "\"");
    auto inner = parse(equivalent);
    if (!inner) return inner;
    inner->text_ = s.text_;
    return inner;
  }

  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) fields.push_back(text.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5) {
    std::string msg = "\"" + s.text_ + "\": " + std::to_string(fields.size()) + " field(s); " + kForms;
    if (fields.size() == 6) msg += " (a seconds field is not supported)";
    return fail(msg);
  }
  bool star = false;
  auto mi = parse_field(kMinute, fields[0], star);
  if (!mi) return std::unexpected(mi.error());
  auto ho = parse_field(kHour, fields[1], star);
  if (!ho) return std::unexpected(ho.error());
  auto dm = parse_field(kDom, fields[2], s.dom_star_);
  if (!dm) return std::unexpected(dm.error());
  auto mo = parse_field(kMonth, fields[3], star);
  if (!mo) return std::unexpected(mo.error());
  auto dw = parse_field(kDow, fields[4], s.dow_star_);
  if (!dw) return std::unexpected(dw.error());
  std::uint64_t dow = *dw;
  if (dow & (1u << 7)) dow = (dow | 1u) & 0x7f;  // 7 is Sunday
  s.minute_ = std::bitset<60>(*mi);
  s.hour_ = std::bitset<24>(*ho);
  s.dom_ = std::bitset<32>(*dm);
  s.month_ = std::bitset<13>(*mo);
  s.dow_ = std::bitset<7>(dow);

  // When only the day of month decides (the day of week is *), make sure such a day exists in
  // one of the months: "0 0 30 feb *" would otherwise be accepted and never fire.
  if (s.dow_star_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m)
      for (int d = 1; d <= days_in_month(m, true) && !possible; ++d)
        possible = s.month_[m] && s.dom_[d];
    if (!possible)
      return fail("day-of-month \"" + std::string(fields[2]) + "\" never occurs in month \"" + std::string(fields[3]) +
                  "\": the schedule would never fire");
  }
  return s;
}

bool CronSchedule::day_matches(int dom, int month, int dow) const {
  if (!month_[month]) return false;
  bool d = dom_[dom], w = dow_[dow];
  // Vixie cron: both restricted -> either; otherwise both (the unrestricted one matches anyway).
  if (!dom_star_ && !dow_star_) return d || w;
  return d && w;
}

bool CronSchedule::matches(TimePoint t) const {
  if (every_ > Duration::zero() || floor<minutes>(t) != t) return false;
  sys_days day = floor<days>(t);
  year_month_day ymd{day};
  auto tod = floor<minutes>(t - day).count();
  return hour_[static_cast<std::size_t>(tod / 60)] && minute_[static_cast<std::size_t>(tod % 60)] &&
         day_matches(static_cast<int>(static_cast<unsigned>(ymd.day())),
                     static_cast<int>(static_cast<unsigned>(ymd.month())), static_cast<int>(weekday{day}.c_encoding()));
}

CronSchedule::TimePoint CronSchedule::next_after(TimePoint t) const {
  // @every counts from the whole second (as robfig/cron does): firings land on whole seconds.
  if (every_ > Duration::zero()) return floor<seconds>(t) + std::chrono::duration_cast<TimePoint::duration>(every_);
  auto start = floor<minutes>(t) + minutes(1);
  sys_days day = floor<days>(start);
  auto tod = start - day;
  int h0 = static_cast<int>(duration_cast<hours>(tod).count());
  int m0 = static_cast<int>(duration_cast<minutes>(tod).count() % 60);
  // 400 years is a whole Gregorian cycle: every satisfiable schedule fires within it (parse()
  // refuses the ones that can never fire).
  for (int i = 0; i < 146097 + 2; ++i, day += days(1), h0 = 0, m0 = 0) {
    year_month_day ymd{day};
    int dom = static_cast<int>(static_cast<unsigned>(ymd.day()));
    int month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    if (!day_matches(dom, month, static_cast<int>(weekday{day}.c_encoding()))) continue;
    for (int h = h0; h < 24; ++h) {
      if (!hour_[h]) continue;
      for (int m = h == h0 ? m0 : 0; m < 60; ++m)
        if (minute_[m]) return day + hours(h) + minutes(m);
    }
  }
  return TimePoint::max();
}

std::string format_utc(std::chrono::system_clock::time_point t) {
  auto ms = floor<milliseconds>(t);
  sys_days day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss hms{ms - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%s-%sT%s:%s:%s", static_cast<int>(ymd.year()),
                two(static_cast<unsigned>(ymd.month())).c_str(), two(static_cast<unsigned>(ymd.day())).c_str(),
                two(static_cast<unsigned>(hms.hours().count())).c_str(),
                two(static_cast<unsigned>(hms.minutes().count())).c_str(),
                two(static_cast<unsigned>(hms.seconds().count())).c_str());
  std::string out = buf;
  if (auto frac = hms.subseconds().count(); frac != 0) {
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(frac));
    out += buf;
  }
  return out + "Z";
}

Result<std::chrono::system_clock::time_point> parse_utc(std::string_view text) {
  auto bad = [&] { return fail("\"" + std::string(text) + "\": expected a UTC time like 2026-11-29T11:58:50Z"); };
  // YYYY-MM-DDTHH:MM:SS[.mmm]Z
  if (text.size() != 20 && text.size() != 24) return bad();
  auto num = [&](std::size_t at, std::size_t len, int& out) {
    auto v = text.substr(at, len);
    return all_digits(v) && std::from_chars(v.data(), v.data() + len, out).ec == std::errc();
  };
  int y, mo, d, h, mi, s, ms = 0;
  if (!num(0, 4, y) || text[4] != '-' || !num(5, 2, mo) || text[7] != '-' || !num(8, 2, d) || text[10] != 'T' ||
      !num(11, 2, h) || text[13] != ':' || !num(14, 2, mi) || text[16] != ':' || !num(17, 2, s) || text.back() != 'Z')
    return bad();
  if (text.size() == 24 && (text[19] != '.' || !num(20, 3, ms))) return bad();
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return bad();
  // system_clock counts nanoseconds in 64 bits: 1677 to 2262. Outside that the conversion would
  // overflow (undefined; found by fuzz/fuzz_cron with "1013-11-29T11:58:50Z").
  if (y < 1970 || y > 2261)
    return fail("\"" + std::string(text) + "\": expected a UTC time from 1970 to 2261, like 2026-11-29T11:58:50Z");
  return sys_days(ymd) + hours(h) + minutes(mi) + seconds(s) + milliseconds(ms);
}

}  // namespace chaos
