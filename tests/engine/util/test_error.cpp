// Result<T>/Status behaviour and the printable form of errors.
#include <gtest/gtest.h>

#include <memory>

#include "nibble/error.h"

namespace nibble {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return make_error(ErrorKind::invalid_argument, "value ", v, " is not positive");
  return v;
}

Result<int> doubled(int v) {
  NIBBLE_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

Status check(int v) {
  NIBBLE_TRY(parse_positive(v));
  return {};
}

TEST(Error, ResultCarriesValueOrError) {
  auto good = parse_positive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::invalid_argument);
  EXPECT_EQ(bad.error().to_string(), "invalid_argument: value -1 is not positive");
}

TEST(Error, MacrosPropagate) {
  EXPECT_EQ(*doubled(4), 8);
  EXPECT_FALSE(doubled(0).ok());
  EXPECT_TRUE(check(1).ok());
  auto s = check(0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::invalid_argument);
}

TEST(Error, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(Error, EveryKindHasAName) {
  for (int k = 0; k <= static_cast<int>(ErrorKind::internal); ++k) {
    EXPECT_FALSE(error_kind_name(static_cast<ErrorKind>(k)).empty());
  }
  EXPECT_EQ(error_kind_name(ErrorKind::out_of_memory), "out_of_memory");
}

}  // namespace
}  // namespace nibble
