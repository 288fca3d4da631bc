#include "core/entity_tag.h"

#include <gtest/gtest.h>

namespace metastack::core {
namespace {

TEST(EntityTagTest, SixteenHexDigitsOfTheContent) {
  std::string tag = EntityTag("text/plain; charset=UTF-8", "web-01");
  EXPECT_EQ(tag.size(), kEntityTagLength);
  EXPECT_EQ(tag.find_first_not_of("0123456789abcdef"), std::string::npos) << tag;
  // The first 8 bytes of SHA-256("text/plain; charset=UTF-8\nweb-01"), so that every API
  // process gives the same tag for the same answer.
  EXPECT_EQ(tag, "882c3e6ad39c982a");
}

TEST(EntityTagTest, ChangesExactlyWithTheContent) {
  EXPECT_EQ(EntityTag("a", "body"), EntityTag("a", "body"));
  EXPECT_NE(EntityTag("a", "body"), EntityTag("a", "body2"));
  EXPECT_NE(EntityTag("text/plain", "x"), EntityTag("application/json", "x"));
  // The parts around meta_data.json's seed hash as the body without it.
  const std::string_view parts[] = {"{\"random_seed\": \"", "\"}"};
  EXPECT_EQ(EntityTag("a", parts), EntityTag("a", "{\"random_seed\": \"\"}"));
}

TEST(EntityTagTest, IfNoneMatchForms) {
  struct Case {
    std::string_view field;
    bool match;
  } cases[] = {
      {"0123456789abcdef", true},        // bare, as GCE's clients send back GCE's tag
      {"\"0123456789abcdef\"", true},    // quoted, as RFC 9110 spells it
      {"W/\"0123456789abcdef\"", true},  // weak
      {"\"aaaa\", \"0123456789abcdef\"", true},
      {" \"aaaa\" ,0123456789abcdef ", true},
      {"*", true},
      {"", false},
      {"\"\"", false},
      {"0123456789abcde", false},
      {"\"0123456789abcdef", false},
      {"aaaa, bbbb", false},
  };
  for (const auto& c : cases)
    EXPECT_EQ(IfNoneMatchNames(c.field, "0123456789abcdef"), c.match) << c.field;
}

TEST(EntityTagTest, OpaqueTagOfWhatAClientSendsBack) {
  EXPECT_EQ(OpaqueTag("0123456789abcdef"), "0123456789abcdef");
  EXPECT_EQ(OpaqueTag("\"0123456789abcdef\""), "0123456789abcdef");
  EXPECT_EQ(OpaqueTag("W/\"0123456789abcdef\""), "0123456789abcdef");
  EXPECT_EQ(OpaqueTag("NONE"), "NONE");
  EXPECT_EQ(OpaqueTag("\""), "\"");
}

}  // namespace
}  // namespace metastack::core
