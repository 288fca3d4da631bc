#include "guest/simple_yaml.h"

#include <gtest/gtest.h>

namespace metastack::guest {
namespace {

TEST(SimpleYamlTest, ReadsWhatNoCloudSeedsHold) {
  auto y = ParseFlatYaml(
      "# a comment\n"
      "instance-id: iid-local01\n"
      "local-hostname: 'it''s'  # trailing\n"
      "availability-zone: \"nova \\u00e9\\x41\\\"q\\\\\"\n"
      "public-keys:\n"
      "  - \"ssh-rsa AAAA one\"\n"
      "  - ssh-ed25519 BBBB two\n"
      "empty:\n");
  ASSERT_TRUE(y) << y.error().ToString();
  EXPECT_EQ(y->at("instance-id"), std::vector<std::string>{"iid-local01"});
  EXPECT_EQ(y->at("local-hostname"), std::vector<std::string>{"it's"});
  EXPECT_EQ(y->at("availability-zone"), std::vector<std::string>{"nova \xc3\xa9"
                                                                 "A\"q\\"});
  EXPECT_EQ(y->at("public-keys"),
            (std::vector<std::string>{"ssh-rsa AAAA one", "ssh-ed25519 BBBB two"}));
  EXPECT_TRUE(y->at("empty").empty());
}

TEST(SimpleYamlTest, ReadsJsonToo) {
  auto y = ParseFlatYaml(R"( {"instance-id": "i-1", "public-keys": ["k1", "k2"], "n": 3})");
  ASSERT_TRUE(y) << y.error().ToString();
  EXPECT_EQ(y->at("instance-id"), std::vector<std::string>{"i-1"});
  EXPECT_EQ(y->at("public-keys"), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(y->at("n"), std::vector<std::string>{"3"});
}

TEST(SimpleYamlTest, RefusesWhatItDoesNotRead) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"a: b\nc:\n  d: e\n", "line 3: nested mappings are not read"},
      {"- x\n", "line 1: a list item outside a key's list"},
      {"a: [1, 2]\n",
       "line 1: unsupported YAML (flow collections, anchors, tags and block "
       "scalars are not read)"},
      {"a: |\n  text\n",
       "line 1: unsupported YAML (flow collections, anchors, tags and block "
       "scalars are not read)"},
      {"a: \"open\n", "line 1: unterminated double-quoted scalar"},
      {"a: \"\\q\"\n", "line 1: unknown escape \\q"},
      {"a: \"\\ud800\"\n", "line 1: escape is not a Unicode scalar value"},
      {"a: 1\na: 2\n", "line 2: duplicate key 'a'"},
      {"just text\n", "line 1: expected 'key: value'"},
      {"{\"a\": ", "not a JSON object"},
  };
  for (const auto& c : cases) {
    auto y = ParseFlatYaml(c.text);
    ASSERT_FALSE(y) << c.text;
    EXPECT_EQ(y.error().ToString(), c.error) << c.text;
  }
}

}  // namespace
}  // namespace metastack::guest
