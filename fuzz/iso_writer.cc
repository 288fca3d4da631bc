// Fuzz target: the ISO 9660 writer (libisofs) on hostile drive trees. Input: drive_input.h
// (the size is ignored; the label is the volume id).
//
// Invariants: Build() never throws and fails only with kInvalidArgument or kTooLarge (a
// kInternal is a libisofs failure on input we accepted); an image it builds is whole 2048-byte
// blocks with ascending, non-overlapping extents, carries the primary volume descriptor, and
// read back by libisofs's own reader (Rock Ridge names) holds exactly the files given, byte
// for byte; the same files in reverse order build the same image.

#include "configdrive/iso_writer.h"

#include <libisofs/libisofs.h>  // after <cstdint>: it uses uint32_t without including it

#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "fuzz/check.h"
#include "fuzz/drive_input.h"

namespace metastack::fuzz {
namespace {

// libisofs's reader over an image in memory.
int Open(IsoDataSource*) { return ISO_SUCCESS; }
int Close(IsoDataSource*) { return ISO_SUCCESS; }
void FreeData(IsoDataSource*) {}
int ReadBlock(IsoDataSource* src, uint32_t lba, uint8_t* buffer) {
  const auto* bytes = static_cast<const std::string*>(src->data);
  uint64_t at = uint64_t{lba} * 2048;
  if (at + 2048 > bytes->size()) return ISO_DATA_SOURCE_FAILURE;
  std::memcpy(buffer, bytes->data() + at, 2048);
  return ISO_SUCCESS;
}

void Walk(IsoDir* dir, const std::string& prefix, std::map<std::string, std::string>& out) {
  IsoDirIter* it = nullptr;
  FUZZ_CHECK(iso_dir_get_children(dir, &it) >= 0, "cannot list " + prefix);
  IsoNode* node = nullptr;
  while (iso_dir_iter_next(it, &node) == 1) {
    std::string path = prefix + iso_node_get_name(node);
    if (iso_node_get_type(node) == LIBISO_DIR) {
      Walk(reinterpret_cast<IsoDir*>(node), path + "/", out);
      continue;
    }
    FUZZ_CHECK(iso_node_get_type(node) == LIBISO_FILE, "not a file: " + path);
    IsoStream* stream = iso_file_get_stream(reinterpret_cast<IsoFile*>(node));
    FUZZ_CHECK(iso_stream_open(stream) >= 0, "cannot open " + path);
    std::string contents;
    char buf[65536];
    int n;
    while ((n = iso_stream_read(stream, buf, sizeof buf)) > 0) contents.append(buf, n);
    FUZZ_CHECK(n == 0, "cannot read " + path);
    iso_stream_close(stream);
    out[path] = std::move(contents);
  }
  iso_dir_iter_free(it);
}

std::map<std::string, std::string> ReadBack(const std::string& bytes) {
  IsoDataSource src{};
  src.version = 0;
  src.refcount = 1;
  src.open = Open;
  src.close = Close;
  src.read_block = ReadBlock;
  src.free_data = FreeData;
  src.data = const_cast<std::string*>(&bytes);
  IsoImage* image = nullptr;
  IsoReadOpts* opts = nullptr;
  FUZZ_CHECK(iso_image_new("fuzz", &image) >= 0 && iso_read_opts_new(&opts, 0) >= 0, "libisofs");
  iso_read_opts_set_no_joliet(opts, 1);
  IsoReadImageFeatures* features = nullptr;
  int rc = iso_image_import(image, &src, opts, &features);
  FUZZ_CHECK(rc >= 0, std::string("libisofs cannot read the image: ") + iso_error_to_msg(rc));
  std::map<std::string, std::string> out;
  Walk(iso_image_get_root(image), "", out);
  iso_read_image_features_destroy(features);
  iso_read_opts_free(opts);
  iso_image_unref(image);
  return out;
}

}  // namespace
}  // namespace metastack::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace metastack;
  fuzz::DriveInput in =
      fuzz::ParseDriveInput(std::string_view(reinterpret_cast<const char*>(data), size));
  configdrive::IsoWriter writer(in.vfat.image);
  auto image = writer.Build(in.files);
  if (!image) {
    auto code = image.error().code;
    FUZZ_CHECK(code == ErrorCode::kInvalidArgument || code == ErrorCode::kTooLarge,
               image.error().ToString());
    return 0;
  }
  FUZZ_CHECK(image->size % 2048 == 0, "not whole blocks");
  uint64_t end = 0;
  for (const auto& e : image->extents) {
    FUZZ_CHECK(e.offset >= end && e.offset + e.bytes.size() <= image->size, "bad extents");
    end = e.offset + e.bytes.size();
  }
  std::string bytes = image->Flatten();
  FUZZ_CHECK(bytes.compare(16 * 2048, 6,
                           "\x01"
                           "CD001") == 0,
             "no primary volume descriptor");
  std::vector<core::DriveFile> reversed(in.files.rbegin(), in.files.rend());
  auto again = writer.Build(reversed);
  FUZZ_CHECK(again && again->Flatten() == bytes, "input order changed the image");
  std::map<std::string, std::string> want;
  for (const auto& f : in.files) want[f.path] = f.contents;
  FUZZ_CHECK(fuzz::ReadBack(bytes) == want, "the files read back differ");
  return 0;
}
