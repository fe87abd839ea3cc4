#include "roles/placeholders.h"

#include <gtest/gtest.h>

namespace berth::roles {
namespace {

const std::vector<std::pair<std::string, std::string>> kEnv = {
    {"BERTH_PORT_HTTP", "31001"}, {"MASTER_ADDR", "10.0.0.1"}, {"ODD", "a{b}c"}};

std::string Expand(const std::string& arg) {
  auto r = ExpandPlaceholders(arg, kEnv);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r ? *r : "";
}

std::string Error(const std::string& arg) {
  auto r = ExpandPlaceholders(arg, kEnv);
  EXPECT_FALSE(r.has_value()) << arg;
  return r ? "" : r.error().message();
}

TEST(PlaceholdersTest, Expands) {
  EXPECT_EQ(Expand("--port={BERTH_PORT_HTTP}"), "--port=31001");
  EXPECT_EQ(Expand("{MASTER_ADDR}:{BERTH_PORT_HTTP}"), "10.0.0.1:31001");
  EXPECT_EQ(Expand("plain"), "plain");
  EXPECT_EQ(Expand(""), "");
}

TEST(PlaceholdersTest, DoubledBracesAreLiteral) {
  EXPECT_EQ(Expand("{{\"a\": {BERTH_PORT_HTTP}}}"), "{\"a\": 31001}");
  EXPECT_EQ(Expand("{{BERTH_PORT_HTTP}}"), "{BERTH_PORT_HTTP}");
}

TEST(PlaceholdersTest, ValuesAreNotExpandedAgain) { EXPECT_EQ(Expand("{ODD}"), "a{b}c"); }

TEST(PlaceholdersTest, UnknownNameListsTheAvailableOnes) {
  const std::string e = Error("--x={NOPE}");
  EXPECT_NE(e.find("unknown placeholder {NOPE}"), std::string::npos) << e;
  EXPECT_NE(e.find("available: BERTH_PORT_HTTP, MASTER_ADDR, ODD"), std::string::npos) << e;
}

TEST(PlaceholdersTest, SyntaxErrors) {
  EXPECT_NE(Error("{BERTH_PORT_HTTP").find("is not closed"), std::string::npos);
  EXPECT_NE(Error("a}b").find("single '}'"), std::string::npos);
  EXPECT_NE(Error("{\"a\": 1}").find("is not a placeholder"), std::string::npos);
  EXPECT_NE(Error("{}").find("is not a placeholder"), std::string::npos);
  EXPECT_FALSE(CheckPlaceholders("{ X }").ok());
  EXPECT_TRUE(CheckPlaceholders("{ANY_NAME} {{x}}").ok());
}

}  // namespace
}  // namespace berth::roles
