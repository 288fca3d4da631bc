// Fuzz target: the guest's drive readers (guest/drive.h) on arbitrary bytes, opened as an image
// file (a memfd, through its /proc/self/fd path, so the real pread path runs). Input: the image.
//
// Invariants: nothing crashes, reads out of bounds or allocates without bound (ASan's limits);
// ProbeDrive and OpenDrive agree on whether the bytes hold a drive; every error is
// kInvalidArgument (a corrupt image), kTooLarge (a file over 64 MiB) or, for a listed name a
// path cannot reach (a '/' in a Rock Ridge name, "." or ".."), kNotFound, and has a message;
// every file ListDriveFiles lists reads the same bytes twice, never over 64 MiB.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "fuzz/check.h"
#include "guest/drive.h"
#include "guest/drive_fs.h"

namespace metastack::fuzz {

bool Expected(const Error& e, bool not_found_ok) {
  return !e.message.empty() &&
         (e.code == ErrorCode::kInvalidArgument || e.code == ErrorCode::kTooLarge ||
          (not_found_ok && e.code == ErrorCode::kNotFound));
}

void CheckDrive(const std::string& path) {
  auto probed = guest::ProbeDrive(path);
  auto tree = guest::OpenDrive(path);
  if (!probed) {
    FUZZ_CHECK(Expected(probed.error(), false), probed.error().ToString());
    FUZZ_CHECK(!tree, "OpenDrive opened what ProbeDrive could not read");
    return;
  }
  FUZZ_CHECK(probed->has_value() == tree.has_value(),
             tree ? "OpenDrive opened what ProbeDrive did not recognise" : tree.error().ToString());
  if (!tree) return;
  auto source = guest::OpenImageFile(path);
  FUZZ_CHECK(source.has_value(), "the image file did not open again");
  auto fs = guest::OpenDriveFs(std::move(*source));
  FUZZ_CHECK(fs && *fs, "OpenDriveFs disagrees with OpenDrive");
  FUZZ_CHECK((*fs)->Label().label == (*probed)->label, "two labels for one image");
  auto files = guest::ListDriveFiles(**fs);
  if (!files) {
    FUZZ_CHECK(Expected(files.error(), false), files.error().ToString());
    return;
  }
  for (const std::string& file : *files) {
    auto bytes = (*tree)->Read(file);
    if (!bytes) {
      FUZZ_CHECK(Expected(bytes.error(), true), bytes.error().ToString());
      continue;
    }
    FUZZ_CHECK(bytes->size() <= guest::kMaxDriveFileBytes, "a file over the limit was read");
    auto again = guest::ReadDrivePath(**fs, file);
    FUZZ_CHECK(again && *again == *bytes, "a file read twice differs");
  }
}

}  // namespace metastack::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = memfd_create("guest_drive", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0, "memfd_create failed");
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    FUZZ_CHECK(n > 0, "writing the memfd failed");
    done += static_cast<size_t>(n);
  }
  metastack::fuzz::CheckDrive("/proc/self/fd/" + std::to_string(fd));
  close(fd);
  return 0;
}
