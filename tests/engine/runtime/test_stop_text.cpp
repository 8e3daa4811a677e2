// StopText: held-back text, matches spanning deltas, earliest match, min-token bypass.
#include <gtest/gtest.h>

#include "runtime/stop_text.h"

namespace nibble {
namespace {

TEST(StopText, HoldsBackAPartialMatchAndCutsAtTheMatch) {
  StopText st({"</end>"});
  bool m = false;
  EXPECT_EQ(st.push("Hello <", true, m), "Hello ");
  EXPECT_FALSE(m);
  EXPECT_EQ(st.push("/e", true, m), "");
  EXPECT_EQ(st.push("nd> tail", true, m), "");
  EXPECT_TRUE(m);
}

TEST(StopText, ReleasesHeldTextWhenTheMatchFails) {
  StopText st({"</end>"});
  bool m = false;
  EXPECT_EQ(st.push("a </e", true, m), "a ");
  EXPECT_EQ(st.push("x", true, m), "</ex");
  EXPECT_FALSE(m);
  EXPECT_EQ(st.push("</", true, m), "");
  EXPECT_EQ(st.flush(), "</");
}

TEST(StopText, EarliestOfSeveralStopsWinsAndCanBeKept) {
  StopText st({"world", "lo w"}, true);
  bool m = false;
  EXPECT_EQ(st.push("hello world", true, m), "hello w");
  EXPECT_TRUE(m);
}

TEST(StopText, MultiByteStopStrings) {
  StopText st({"日本"});
  bool m = false;
  EXPECT_EQ(st.push("ab日", true, m), "ab");
  EXPECT_EQ(st.push("x日", true, m), "日x");
  EXPECT_EQ(st.push("本y", true, m), "");
  EXPECT_TRUE(m);
}

TEST(StopText, UncheckedDeltasPassThrough) {
  StopText st({"stop"});
  bool m = false;
  EXPECT_EQ(st.push("no stop here", false, m), "no stop here");
  EXPECT_FALSE(m);
}

}  // namespace
}  // namespace nibble
