// What is specific to the ISO writer: the volume descriptors Nova's genisoimage call makes, and
// timestamps that never come from the clock. Reading the tree back (isoinfo, xorriso, a real
// kernel, cloud-init) is tests/integration/test_configdrive_images.py's job.
#include "configdrive/iso_writer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

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

TEST_F(IsoWriterTest, NeverReadsTheClock) {
  std::string first = Build();
  // Long enough for any second-resolution "now" to move on.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(Build(), first);
  // Nor the local timezone.
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
