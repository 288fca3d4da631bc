#include "configdrive/vfat_names.h"

#include <gtest/gtest.h>

#include <vector>

namespace metastack::configdrive {
namespace {

struct NameCase {
  const char* name;
  const char* short_name;
  bool lfn;
};

// Names are fed in order to one directory's generator, so tails count up.
void ExpectNames(const std::vector<NameCase>& cases) {
  ShortNameGenerator gen;
  for (const auto& c : cases) {
    auto n = gen.Add(c.name);
    EXPECT_EQ(ShortNameText(n.short_name), c.short_name) << c.name;
    EXPECT_EQ(n.needs_lfn, c.lfn) << c.name;
  }
}

TEST(ShortNames, ANovaVersionDirectory) {
  ExpectNames({
      {"meta_data.json", "META_D~1.JSO", true},
      {"network_data.json", "NETWOR~1.JSO", true},
      {"user_data", "USER_D~1", true},
      {"vendor_data.json", "VENDOR~1.JSO", true},
      {"vendor_data2.json", "VENDOR~2.JSO", true},
  });
}

TEST(ShortNames, ExactNamesNeedNoLongName) {
  ExpectNames({
      {"0000", "0000", false},
      {"README.TXT", "README.TXT", false},
      {"A-B_C~D", "A-B_C~D", false},
      {"latest", "LATEST", true},  // only the case differs: kept by the LFN, no tail
      {"ec2", "EC2", true},
      {"Mixed.Txt", "MIXED.TXT", true},
  });
}

TEST(ShortNames, LossyNamesGetTails) {
  ExpectNames({
      {"2018-08-27", "2018-0~1", true},
      {".bashrc", "BASHRC~1", true},
      {"a b.txt", "AB~1.TXT", true},
      {"r\xc3\xa9sum\xc3\xa9.txt", "R_SUM_~1.TXT", true},  // one "_" per character
      {"x.tar.gz", "XTAR~1.GZ", true},
      {"a+b=c.d", "A_B_C~1.D", true},
      {"...", "_~1", true},
  });
}

TEST(ShortNames, TailsGrowPastNine) {
  std::vector<NameCase> cases;
  static const char* kWant[] = {"LONGNA~1.TXT", "LONGNA~2.TXT", "LONGNA~3.TXT", "LONGNA~4.TXT",
                                "LONGNA~5.TXT", "LONGNA~6.TXT", "LONGNA~7.TXT", "LONGNA~8.TXT",
                                "LONGNA~9.TXT", "LONGN~10.TXT", "LONGN~11.TXT"};
  std::vector<std::string> names;
  for (int i = 0; i < 11; ++i) names.push_back("longname_" + std::to_string(i) + ".txt");
  for (int i = 0; i < 11; ++i) cases.push_back({names[i].c_str(), kWant[i], true});
  ExpectNames(cases);
}

TEST(ShortNames, AnExactNameTakenEarlierPushesTheNextOneOn) {
  ExpectNames({
      {"ABC", "ABC", false},
      {"abc", "ABC~1", true},
      {"META_D~1.JSO", "META_D~1.JSO", false},
      {"meta_data.json", "META_D~2.JSO", true},
  });
}

TEST(LfnChecksum, MatchesTheSpecsRotateAdd) {
  // Independently, in Python: s = 0; for c in name: s = (((s & 1) << 7) + (s >> 1) + c) & 0xff
  EXPECT_EQ(LfnChecksum(MakeShortName("A", "")), 0x80);
  EXPECT_EQ(LfnChecksum(MakeShortName("META_D~1", "JSO")), 0xC0);
}

TEST(LfnEntries, LayOutTheNameLastPartFirst) {
  std::string out;
  AppendLfnEntries(u"meta_data.json", 0xAB, out);  // 14 characters: two entries
  ASSERT_EQ(out.size(), 64u);
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x42);  // sequence 2, last
  EXPECT_EQ(static_cast<uint8_t>(out[32]), 0x01);
  for (size_t e : {0u, 32u}) {
    EXPECT_EQ(static_cast<uint8_t>(out[e + 11]), 0x0F);
    EXPECT_EQ(static_cast<uint8_t>(out[e + 13]), 0xAB);
    EXPECT_EQ(out.substr(e + 26, 2), std::string(2, '\0'));  // first cluster: always 0
  }
  // Entry 1 (stored second) holds "meta_data.jso"; entry 2 holds "n", NUL, then 0xFFFF.
  EXPECT_EQ(out.substr(32 + 1, 10), std::string("m\0e\0t\0a\0_\0", 10));
  EXPECT_EQ(out.substr(32 + 28, 4), std::string("s\0o\0", 4));
  EXPECT_EQ(out.substr(1, 6), std::string("n\0\0\0\xff\xff", 6));
  EXPECT_EQ(out.substr(28, 4), std::string(4, '\xff'));
}

TEST(LfnEntries, ExactMultiplesOf13HaveNoTerminator) {
  std::string out;
  AppendLfnEntries(u"abcdefghijklm", 0, out);
  ASSERT_EQ(out.size(), 32u);
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x41);
  EXPECT_EQ(out.substr(30, 2), std::string("m\0", 2));
}

}  // namespace
}  // namespace metastack::configdrive
