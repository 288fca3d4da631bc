// The contract every ImageWriter shares (image_writer.h): refusals with exact messages and no
// file left behind, atomic replacement, independence from input order.
#include "configdrive/image_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "configdrive/iso_writer.h"
#include "configdrive/test_util.h"
#include "configdrive/vfat_writer.h"

namespace metastack::configdrive {
namespace {

using testing::ExampleFiles;

struct WriterCase {
  const char* format;  // for NewImageWriter
  uint64_t size;
};

class ImageWriterContract : public testing::TempDirTest,
                            public ::testing::WithParamInterface<WriterCase> {
 protected:
  std::unique_ptr<ImageWriter> Writer() const {
    ImageOptions o;
    o.timestamp = testing::kCreatedAt;
    auto w = NewImageWriter(GetParam().format, o, GetParam().size);
    EXPECT_TRUE(w) << (w ? "" : w.error().ToString());
    return std::move(*w);
  }
  bool IsIso() const { return std::string(GetParam().format) == "iso"; }
};

struct Hostile {
  std::vector<core::DriveFile> files;
  std::string message;  // Error::ToString(), verbatim
};

std::vector<Hostile> HostileCases(bool iso) {
  const std::string long_name(iso ? 65 : 256, 'n');
  std::vector<Hostile> cases = {
      {{{"", "x"}}, "empty path"},
      {{{"../etc/passwd", "x"}}, "../etc/passwd: '.' or '..' in a drive tree path"},
      {{{"openstack/../../etc/shadow", "x"}},
       "openstack/../../etc/shadow: '.' or '..' in a drive tree path"},
      {{{"openstack/./latest", "x"}}, "openstack/./latest: '.' or '..' in a drive tree path"},
      {{{"/etc/passwd", "x"}}, "/etc/passwd: absolute path in a drive tree"},
      {{{std::string("openstack/a\0b", 13), "x"}}, "openstack/a\\x00b: contains a NUL byte"},
      {{{"openstack//latest", "x"}}, "openstack//latest: empty name in a drive tree path"},
      {{{"openstack/", "x"}}, "openstack/: empty name in a drive tree path"},
      {{{"bad\xff/name", "x"}}, "bad\xff/name: not valid UTF-8"},
      {{{"over\xc0\xaflong", "x"}}, "over\xc0\xaflong: not valid UTF-8"},
      {{{"a\nb", "x"}}, "a\\x0ab: control character or one of \"*:<>?\\| in a name"},
      {{{"c:\\windows", "x"}}, "c:\\windows: control character or one of \"*:<>?\\| in a name"},
      {{{"trailing.", "x"}}, "trailing.: name ends with a dot or a space"},
      {{{"a", "1"}, {"a", "2"}}, "a: duplicate path"},
      {{{"a", "1"}, {"a/b", "2"}}, "a/b: is both a file and a directory"},
      {{{"a/b", "1"}, {"a", "2"}}, "a: is both a file and a directory"},
      {{{"d/" + long_name, "x"}},
       "d/" + long_name + ": name longer than " + (iso ? "64" : "255") + " characters (the " +
           (iso ? "Joliet" : "VFAT") + " limit)"},
  };
  if (iso) {
    cases.push_back({{{"1/2/3/4/5/6/7/8/f", "x"}},
                     "1/2/3/4/5/6/7/8/f: more than 7 directory levels (the ISO 9660 limit)"});
  } else {
    cases.push_back({{{"Openstack/x", "1"}, {"openstack/y", "2"}},
                     "openstack: two names differ only in case (FAT cannot tell them apart)"});
    cases.push_back({{{"big", std::string(2 << 20, 'b')}},
                     "the files need 4096 clusters of 512 bytes but a 1 MiB FAT12 image has "
                     "2003 free"});
    std::vector<core::DriveFile> many;
    for (int i = 0; i < 300; ++i) many.push_back({"file" + std::to_string(i), "x"});
    cases.push_back({many, "too many names in the root directory (FAT12 holds 512 entries)"});
  }
  return cases;
}

TEST_P(ImageWriterContract, RefusesHostileInputAndWritesNothing) {
  auto writer = Writer();
  for (const auto& c : HostileCases(IsIso())) {
    SCOPED_TRACE(c.message);
    auto st = writer->Write(c.files, Path("drive.img"));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().ToString(), c.message);
    EXPECT_TRUE(Entries().empty()) << "left " << Entries().front();
  }
}

TEST_P(ImageWriterContract, TwoBuildsAreByteIdentical) {
  auto writer = Writer();
  ASSERT_TRUE(writer->Write(ExampleFiles(), Path("a.img")));
  ASSERT_TRUE(writer->Write(ExampleFiles(), Path("b.img")));
  std::string a = Read(Path("a.img"));
  EXPECT_GT(a.size(), 32768u);
  EXPECT_EQ(a, Read(Path("b.img")));
  EXPECT_EQ(a, writer->Build(ExampleFiles())->Flatten());
}

TEST_P(ImageWriterContract, InputOrderDoesNotMatter) {
  auto writer = Writer();
  auto files = ExampleFiles();
  std::string want = writer->Build(files)->Flatten();
  std::mt19937 rng(42);
  std::shuffle(files.begin(), files.end(), rng);
  EXPECT_EQ(writer->Build(files)->Flatten(), want);
}

TEST_P(ImageWriterContract, TheSeedAndTheTimestampChangeTheImage) {
  auto writer = Writer();
  std::string base = writer->Build(ExampleFiles("one"))->Flatten();
  EXPECT_NE(writer->Build(ExampleFiles("two"))->Flatten(), base);
  ImageOptions later;
  later.timestamp = testing::kCreatedAt + 3600;
  auto other = NewImageWriter(GetParam().format, later, GetParam().size);
  EXPECT_NE((*other)->Build(ExampleFiles("one"))->Flatten(), base);
}

TEST_P(ImageWriterContract, ReplacesAnExistingFileAtomically) {
  { std::ofstream(Path("drive.img")) << "old"; }
  auto writer = Writer();
  ASSERT_TRUE(writer->Write(ExampleFiles(), Path("drive.img")));
  EXPECT_EQ(Read(Path("drive.img")), writer->Build(ExampleFiles())->Flatten());
  EXPECT_EQ(Entries(), std::vector<std::string>{"drive.img"});
  // A failed build leaves the previous image alone.
  ASSERT_FALSE(writer->Write({{"/abs", "x"}}, Path("drive.img")));
  EXPECT_EQ(Read(Path("drive.img")), writer->Build(ExampleFiles())->Flatten());
}

TEST_P(ImageWriterContract, AMissingDirectoryIsAnError) {
  auto st = Writer()->Write(ExampleFiles(), Path("no/such/dir/drive.img"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().ToString(), Path("no/such/dir/drive.img") +
                                       ": cannot create a temporary file in " +
                                       Path("no/such/dir") + ": No such file or directory");
}

INSTANTIATE_TEST_SUITE_P(Formats, ImageWriterContract,
                         ::testing::Values(WriterCase{"iso", 0}, WriterCase{"vfat", 1 << 20}),
                         [](const auto& info) { return std::string(info.param.format); });

TEST(NewImageWriter, NamesTheFormats) {
  ImageOptions o;
  EXPECT_EQ((*NewImageWriter("iso", o, 0))->FormatName(), "iso9660");
  EXPECT_EQ((*NewImageWriter("vfat", o, kDefaultVfatBytes))->FormatName(), "vfat");
  auto bad = NewImageWriter("udf", o, 0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().ToString(), "unknown image format (expected iso or vfat): udf");
  auto size = NewImageWriter("vfat", o, 1000);
  ASSERT_FALSE(size);
  EXPECT_EQ(size.error().ToString(), "image size must be a multiple of 512 bytes");
}

}  // namespace
}  // namespace metastack::configdrive
