// core/enum_names.h: one name table per enum. The table's consteval checks (every value once, in
// declaration order, distinct non-empty names) are compile errors, so they cannot be unit tested
// here; what is tested is what the table does at run time.
#include "core/enum_names.h"

#include <gtest/gtest.h>

namespace chaos {
namespace {

enum class Colour { red, dark_green, blue };
inline constexpr auto kColourNames =
    name_table<Colour>("colour", {{Colour::red, "red"}, {Colour::dark_green, "dark-green"}, {Colour::blue, "blue"}});
constexpr const auto& names_of(Colour) { return kColourNames; }

static_assert(name(Colour::dark_green) == "dark-green");
static_assert(kColourNames.size() == 3);
static_assert(kColourNames.find("blue") == Colour::blue);
static_assert(!kColourNames.find("Blue").has_value());

TEST(EnumNames, EveryNameParsesBackToItsValue) {
  for (const auto& [value, text] : kColourNames.entries()) {
    auto back = parse_name<Colour>(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, value);
    EXPECT_EQ(name(value), text);
  }
}

TEST(EnumNames, AnUnknownNameSaysWhatWouldBeRight) {
  auto r = parse_name<Colour>("dark_green");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "unknown colour \"dark_green\": expected red, dark-green or blue");
}

TEST(EnumNames, AValueOutsideTheTablePrintsAsAQuestionMark) {
  EXPECT_EQ(name(static_cast<Colour>(7)), "?");
}

TEST(EnumNames, AJsonFieldIsParsedOrRefusedWithItsKey) {
  auto ok = parse_field<Colour>(nlohmann::json{{"c", "blue"}}, "c");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, Colour::blue);

  auto missing = parse_field<Colour>(nlohmann::json::object(), "c");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "c: missing (expected red, dark-green or blue)");

  auto number = parse_field<Colour>(nlohmann::json{{"c", 3}}, "c");
  ASSERT_FALSE(number);
  EXPECT_EQ(number.error().message, "c: 3 is not a colour");

  auto wrong = parse_field<Colour>(nlohmann::json{{"c", "teal"}}, "c");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("c: "), std::string::npos) << wrong.error().message;
  EXPECT_NE(wrong.error().message.find("unknown colour \"teal\""), std::string::npos) << wrong.error().message;

  EXPECT_FALSE(parse_field<Colour>(nlohmann::json::array(), "c"));
}

}  // namespace
}  // namespace chaos
