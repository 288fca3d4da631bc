// Fuzz target: the VFAT writer on hostile drive trees (names, depths, sizes, duplicates, case
// collisions, odd characters, labels, image sizes). Input: drive_input.h.
//
// Invariants: Create() and Build() never throw; they fail only with kInvalidArgument (hostile
// input) or kTooLarge (does not fit), with a message; an image they build has the requested
// size, ascending, non-overlapping extents inside it, and reads back (guest/fat.h) with no
// structural fault, the label, and exactly the files given, byte for byte; the same files in
// reverse order build the same image.

#include <cstdint>
#include <map>
#include <string>

#include "configdrive/test_image_source.h"
#include "fuzz/check.h"
#include "fuzz/drive_input.h"

namespace metastack::fuzz {

void CheckExtents(const configdrive::Image& image) {
  uint64_t end = 0;
  for (const auto& e : image.extents) {
    FUZZ_CHECK(e.offset >= end, "extents overlap or are out of order");
    end = e.offset + e.bytes.size();
    FUZZ_CHECK(end <= image.size, "an extent past the image's end");
  }
}

bool SameImage(const configdrive::Image& a, const configdrive::Image& b) {
  if (a.size != b.size || a.extents.size() != b.extents.size()) return false;
  for (size_t i = 0; i < a.extents.size(); ++i)
    if (a.extents[i].offset != b.extents[i].offset || a.extents[i].bytes != b.extents[i].bytes)
      return false;
  return true;
}

}  // namespace metastack::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace metastack;
  fuzz::DriveInput in =
      fuzz::ParseDriveInput(std::string_view(reinterpret_cast<const char*>(data), size));
  auto writer = configdrive::VfatWriter::Create(in.vfat);
  if (!writer) {
    FUZZ_CHECK(writer.error().code == ErrorCode::kInvalidArgument, writer.error().ToString());
    return 0;
  }
  auto image = (*writer)->Build(in.files);
  if (!image) {
    auto code = image.error().code;
    FUZZ_CHECK(code == ErrorCode::kInvalidArgument || code == ErrorCode::kTooLarge,
               image.error().ToString());
    FUZZ_CHECK(!image.error().message.empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(image->size == in.vfat.size_bytes, "image size");
  fuzz::CheckExtents(*image);
  std::vector<core::DriveFile> reversed(in.files.rbegin(), in.files.rend());
  auto again = (*writer)->Build(reversed);
  FUZZ_CHECK(again && fuzz::SameImage(*image, *again), "input order changed the image");

  auto fat = configdrive::testing::OpenFat(std::move(*image));
  FUZZ_CHECK(fat.has_value(), fat ? "" : fat.error().ToString());
  std::map<std::string, std::string> want;
  for (const auto& f : in.files) want[f.path] = f.contents;
  guest::FatCheck check = guest::CheckFat(**fat);
  std::string problems;
  for (const auto& p : check.problems) problems += p + "\n";
  FUZZ_CHECK(check.problems.empty(), problems);
  FUZZ_CHECK(check.files == want, "the files read back differ");
  std::string label = in.vfat.image.label;  // as readers show it: no trailing spaces
  while (!label.empty() && label.back() == ' ') label.pop_back();
  if (label == "NO NAME") label.clear();
  FUZZ_CHECK((*fat)->Label().label == label, "label " + (*fat)->Label().label);
  return 0;
}
