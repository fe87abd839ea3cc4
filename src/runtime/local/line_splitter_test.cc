#include "runtime/local/line_splitter.h"

#include <gtest/gtest.h>

namespace berth::runtime::local {
namespace {

TEST(LineSplitterTest, PrefixesWholeLinesOnly) {
  LineSplitter s("[w] ");
  EXPECT_EQ(s.Feed("a\nb"), "[w] a\n");
  EXPECT_EQ(s.Feed("c"), "");
  EXPECT_EQ(s.Feed("d\n\ne\n"), "[w] bcd\n[w] \n[w] e\n");
  EXPECT_EQ(s.Flush(), "");
}

TEST(LineSplitterTest, FlushEndsAPartialLine) {
  LineSplitter s("[w] ");
  EXPECT_EQ(s.Feed("tail"), "");
  EXPECT_EQ(s.Flush(), "[w] tail\n");
  EXPECT_EQ(s.Flush(), "");
}

TEST(LineSplitterTest, CutsOverlongLines) {
  LineSplitter s("> ", 4);
  EXPECT_EQ(s.Feed("abcdefghij\nxy"), "> abcd\n> efgh\n> ij\n");
  EXPECT_EQ(s.Feed("zw\n"), "> xyzw\n");
  EXPECT_EQ(s.Feed("1234"), "> 1234\n");
  EXPECT_EQ(s.Feed("\n"), "> \n");
}

}  // namespace
}  // namespace berth::runtime::local
