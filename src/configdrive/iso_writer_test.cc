// What is specific to the ISO writer: the volume descriptors Nova's genisoimage call makes, and
// timestamps that never come from the clock. Reading the tree back (isoinfo, xorriso, a real
// kernel, cloud-init) is tests/integration/test_configdrive_images.py's job.
#include "configdrive/iso_writer.h"

#include <gtest/gtest.h>

#include <thread>
#include <utility>
#include <vector>

#include "configdrive/test_util.h"

namespace metastack::configdrive {
namespace {

constexpr size_t kBlock = 2048;

std::string Field(const std::string& image, size_t block, size_t offset, size_t len) {
  return image.substr(block * kBlock + offset, len);
}

std::string Padded(std::string s, size_t len, char pad = ' ') {
  s.resize(len, pad);
  return s;
}

class IsoWriterTest : public ::testing::Test {
 protected:
  std::string Build(int64_t timestamp = testing::kCreatedAt,
                    const std::string& label = "config-2") {
    ImageOptions o;
    o.timestamp = timestamp;
    o.label = label;
    auto image = IsoWriter(o).Build(testing::ExampleFiles());
    EXPECT_TRUE(image) << (image ? "" : image.error().ToString());
    return image ? image->Flatten() : std::string();
  }
};

TEST_F(IsoWriterTest, PrimaryVolumeDescriptorLooksLikeNovas) {
  std::string iso = Build();
  ASSERT_GT(iso.size(), 18 * kBlock);
  EXPECT_EQ(Field(iso, 16, 0, 6),
            "\x01"
            "CD001");
  EXPECT_EQ(Field(iso, 16, 8, 32), Padded("LINUX", 32));
  EXPECT_EQ(Field(iso, 16, 40, 32), Padded("config-2", 32));
  EXPECT_EQ(Field(iso, 16, 190, 128), Padded("", 128));  // volume set id: empty, as genisoimage
  EXPECT_EQ(Field(iso, 16, 318, 128), Padded("metastack", 128));
  // Creation and modification: the given time in GMT; expiration and effective: none.
  EXPECT_EQ(Field(iso, 16, 813, 17), std::string("2024050607080900") + '\0');
  EXPECT_EQ(Field(iso, 16, 830, 17), std::string("2024050607080900") + '\0');
  EXPECT_EQ(Field(iso, 16, 847, 16), std::string(16, '0'));
}

TEST_F(IsoWriterTest, HasJolietAndRockRidge) {
  std::string iso = Build();
  EXPECT_EQ(Field(iso, 17, 0, 6),
            "\x02"
            "CD001");
  EXPECT_EQ(Field(iso, 17, 88, 3), "%/E");  // UCS-2 level 3, what genisoimage -J records
  // Joliet's volume id is UCS-2 big-endian.
  EXPECT_EQ(Field(iso, 17, 40, 16), std::string("\0c\0o\0n\0f\0i\0g\0-\0"
                                                "2",
                                                16));
  EXPECT_NE(iso.find("RRIP_1991A"), std::string::npos);
  // No MD5 tags, no El Torito.
  EXPECT_EQ(iso.find("libisofs_checksum_tag"), std::string::npos);
  EXPECT_EQ(iso.find("EL TORITO"), std::string::npos);
}

TEST_F(IsoWriterTest, EveryFileIsStoredVerbatim) {
  std::string iso = Build();
  for (const auto& f : testing::ExampleFiles()) {
    if (!f.contents.empty()) {
      EXPECT_NE(iso.find(f.contents), std::string::npos) << f.path;
    }
  }
}

// The 7-byte recording times of every directory record under the one at `offset` (ISO 9660
// 9.1.5), each named by its path, and those of the Rock Ridge TF entries in their system use
// areas (RRIP 4.1.6, short form).
void CollectRecordTimes(const std::string& iso, size_t offset, const std::string& path,
                        std::vector<std::pair<std::string, std::string>>& out) {
  auto u32 = [&](size_t at) {
    return static_cast<size_t>(static_cast<uint8_t>(iso[at])) |
           static_cast<size_t>(static_cast<uint8_t>(iso[at + 1])) << 8 |
           static_cast<size_t>(static_cast<uint8_t>(iso[at + 2])) << 16 |
           static_cast<size_t>(static_cast<uint8_t>(iso[at + 3])) << 24;
  };
  const size_t extent = u32(offset + 2) * kBlock, size = u32(offset + 10);
  for (size_t at = extent; at < extent + size && at < iso.size();) {
    const size_t length = static_cast<uint8_t>(iso[at]);
    if (length == 0) {  // records never cross a block: the rest of this one is padding
      at = (at / kBlock + 1) * kBlock;
      continue;
    }
    const size_t name_length = static_cast<uint8_t>(iso[at + 32]);
    const std::string name = iso.substr(at + 33, name_length);
    const bool self_or_parent = name_length == 1 && (name[0] == '\0' || name[0] == '\1');
    const std::string here =
        path + "/" + (self_or_parent ? std::string(name[0] ? ".." : ".") : name);
    out.emplace_back(here, iso.substr(at + 18, 7));
    size_t su = at + 33 + name_length + (name_length % 2 == 0 ? 1 : 0);
    while (su + 4 <= at + length && iso[su + 2] != 0) {
      const size_t entry = static_cast<uint8_t>(iso[su + 2]);
      if (iso.compare(su, 2, "TF") == 0 && !(iso[su + 4] & 0x80)) {
        for (size_t t = su + 5; t + 7 <= su + entry; t += 7)
          out.emplace_back(here + " TF", iso.substr(t, 7));
      }
      su += entry;
    }
    if ((iso[at + 25] & 2) && !self_or_parent) CollectRecordTimes(iso, at, here, out);
    at += length;
  }
}

// So no time comes from the clock: every time recorded is the given one, for two given times.
TEST_F(IsoWriterTest, EveryRecordedTimeIsTheGivenOne) {
  struct Case {
    int64_t timestamp;
    std::string pvd;     // ISO 9660 8.4.26.1
    std::string record;  // years since 1900, month, day, hour, minute, second, GMT offset
  } cases[] = {
      {testing::kCreatedAt, "2024050607080900", std::string("\x7c\x05\x06\x07\x08\x09\x00", 7)},
      {testing::kCreatedAt + 86400 + 3600 + 60 + 1, "2024050708091000",
       std::string("\x7c\x05\x07\x08\x09\x0a\x00", 7)},
  };
  for (const Case& c : cases) {
    std::string iso = Build(c.timestamp);
    for (size_t block : {16, 17}) {  // the primary and the Joliet volume descriptor
      EXPECT_EQ(Field(iso, block, 813, 17), c.pvd + '\0') << block;  // creation
      EXPECT_EQ(Field(iso, block, 830, 17), c.pvd + '\0') << block;  // modification
      std::vector<std::pair<std::string, std::string>> times;
      CollectRecordTimes(iso, block * kBlock + 156, "", times);
      EXPECT_GT(times.size(), testing::ExampleFiles().size()) << block;
      size_t rock_ridge = 0;
      for (const auto& [where, time] : times) {
        EXPECT_EQ(time, c.record) << block << ": " << where;
        if (where.ends_with(" TF")) ++rock_ridge;
      }
      if (block == 16) EXPECT_GT(rock_ridge, testing::ExampleFiles().size());
    }
  }
}

TEST_F(IsoWriterTest, NeverReadsTheLocalTimezone) {
  std::string first = Build();
  const char* tz = std::getenv("TZ");
  std::string saved = tz ? tz : "";
  ::setenv("TZ", "America/New_York", 1);
  ::tzset();
  std::string in_new_york = Build();
  if (tz)
    ::setenv("TZ", saved.c_str(), 1);
  else
    ::unsetenv("TZ");
  ::tzset();
  EXPECT_EQ(in_new_york, first);
}

TEST_F(IsoWriterTest, TheLabelIsTheVolumeId) {
  std::string iso = Build(testing::kCreatedAt, "cidata");
  EXPECT_EQ(Field(iso, 16, 40, 32), Padded("cidata", 32));
}

TEST_F(IsoWriterTest, ConcurrentBuildsAgree) {
  std::string want = Build();
  std::vector<std::string> got(4);
  std::vector<std::thread> threads;
  for (auto& slot : got) threads.emplace_back([&slot, this] { slot = Build(); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, want);
}

}  // namespace
}  // namespace metastack::configdrive
