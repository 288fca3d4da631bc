#include "configdrive/iso_writer.h"

// Without libburn, libisofs.h declares struct burn_source itself (we read the image from it).
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>

namespace metastack::configdrive {
namespace {

constexpr int kBlock = 2048;

std::mutex& LibisofsMutex() {
  static std::mutex mu;
  return mu;
}

// The newest queued libisofs message, which usually says more than the code's text alone.
std::string DrainMessages() {
  std::string last;
  int code = 0, image_id = 0;
  char text[ISO_MSGS_MESSAGE_LEN];
  char severity[80];
  while (iso_obtain_msgs(const_cast<char*>("ALL"), &code, &image_id, text, severity) > 0)
    last = text;
  return last;
}

// Translates a libisofs return code into our Error (the only place one is read).
std::unexpected<Error> IsoError(const std::string& what, int code) {
  std::string message = "libisofs: " + what + ": " + iso_error_to_msg(code);
  if (std::string detail = DrainMessages(); !detail.empty()) message += " (" + detail + ")";
  return std::unexpected(MakeError(ErrorCode::kInternal, std::move(message)));
}

Status Init() {
  static const int rc = [] {
    // bit0: leave the process's locale alone; names are UTF-8 whatever LC_* says.
    int r = iso_init_with_flag(1);
    if (r < 0) return r;
    iso_set_local_charset(const_cast<char*>("UTF-8"), 0);
    // Queue errors for IsoError(); never print to our stderr.
    iso_set_msgs_severities(const_cast<char*>("SORRY"), const_cast<char*>("NEVER"),
                            const_cast<char*>("libisofs"));
    return r;
  }();
  if (rc < 0) return IsoError("init", rc);
  return Ok();
}

// "YYYYMMDDhhmmss00": the form iso_write_opts_set_pvd_times() records verbatim (GMT), free of
// the local timezone.
std::string PvdTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

void Stamp(IsoNode* node, time_t t, mode_t mode) {
  iso_node_set_mtime(node, t);
  iso_node_set_atime(node, t);
  iso_node_set_ctime(node, t);
  iso_node_set_permissions(node, mode);
  iso_node_set_uid(node, 0);
  iso_node_set_gid(node, 0);
}

Status AddChildren(IsoImage* image, IsoDir* parent, const TreeNode& dir, time_t t) {
  for (const auto& child : dir.children) {
    if (child.IsDir()) {
      IsoDir* sub = nullptr;
      if (int rc = iso_image_add_new_dir(image, parent, child.name.c_str(), &sub); rc < 0)
        return IsoError("adding directory " + child.name, rc);
      Stamp(reinterpret_cast<IsoNode*>(sub), t, 0555);
      METASTACK_RETURN_IF_ERROR(AddChildren(image, sub, child, t));
      continue;
    }
    // The stream owns (and free()s) a malloc'd copy.
    const std::string& data = *child.contents;
    auto* buf = static_cast<unsigned char*>(std::malloc(data.empty() ? 1 : data.size()));
    if (buf == nullptr) return std::unexpected(MakeError(ErrorCode::kInternal, "out of memory"));
    std::memcpy(buf, data.data(), data.size());
    IsoStream* stream = nullptr;
    if (int rc = iso_memory_stream_new(buf, data.size(), &stream); rc < 0) {
      std::free(buf);
      return IsoError("creating a stream for " + child.name, rc);
    }
    IsoFile* file = nullptr;
    if (int rc = iso_image_add_new_file(image, parent, child.name.c_str(), stream, &file); rc < 0) {
      iso_stream_unref(stream);
      return IsoError("adding file " + child.name, rc);
    }
    Stamp(reinterpret_cast<IsoNode*>(file), t, 0444);
  }
  return Ok();
}

struct ImageUnref {
  void operator()(IsoImage* p) const { iso_image_unref(p); }
};
struct OptsFree {
  void operator()(IsoWriteOpts* p) const { iso_write_opts_free(p); }
};

// Every option that decides what lands in the image, in one place.
Status SetOptions(IsoWriteOpts* o, time_t t) {
  std::string pvd = PvdTime(t);
  const int rcs[] = {
      iso_write_opts_set_iso_level(o, 2),  // 31-character names, as genisoimage -l
      iso_write_opts_set_rockridge(o, 1),
      iso_write_opts_set_rrip_version_1_10(o, 1),  // "RRIP_1991A", what genisoimage -r writes
      iso_write_opts_set_joliet(o, 1),
      iso_write_opts_set_joliet_longer_paths(o, 1),
      iso_write_opts_set_omit_version_numbers(o, 2),  // Joliet names without ";1" ...
      iso_write_opts_set_no_force_dots(o, 2),         // ... or a forced ".", as genisoimage
      iso_write_opts_set_allow_longer_paths(o, 1),
      iso_write_opts_set_allow_lowercase(o, 1),   // genisoimage -allow-lowercase
      iso_write_opts_set_relaxed_vol_atts(o, 1),  // a lower-case volume id: "config-2"
      iso_write_opts_set_hardlinks(o, 0),
      iso_write_opts_set_aaip(o, 0),
      iso_write_opts_set_record_md5(o, 0, 0),
      iso_write_opts_set_replace_mode(o, 2, 2, 2, 2),
      iso_write_opts_set_default_dir_mode(o, 0555),
      iso_write_opts_set_default_file_mode(o, 0444),
      iso_write_opts_set_default_uid(o, 0),
      iso_write_opts_set_default_gid(o, 0),
      iso_write_opts_set_replace_timestamps(o, 2),
      iso_write_opts_set_default_timestamp(o, t),
      iso_write_opts_set_dir_rec_mtime(o, 7),  // file times, not "now", in all three trees
      iso_write_opts_set_always_gmt(o, 1),
      iso_write_opts_set_pvd_times(o, t, t, 0, 0, pvd.data()),
  };
  for (int rc : rcs)
    if (rc < 0) return IsoError("setting write options", rc);
  return Ok();
}

Result<std::string> Generate(IsoImage* image, IsoWriteOpts* opts) {
  struct burn_source* src = nullptr;
  if (int rc = iso_image_create_burn_source(image, opts, &src); rc < 0)
    return IsoError("starting the image writer", rc);
  std::string out;
  out.reserve(static_cast<size_t>(src->get_size(src)));
  unsigned char buf[kBlock];
  int n = 0;
  while ((n = src->read_xt(src, buf, kBlock)) > 0)
    out.append(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  if (n < 0) src->cancel(src);
  // What libisofs's own demo does to release a burn_source nobody else references.
  src->free_data(src);
  std::free(src);
  if (n < 0) return IsoError("writing the image", ISO_WRITE_ERROR);
  return out;
}

// libisofs maps the primary descriptor's publisher to ISO 9660 "a-characters" (upper case);
// genisoimage, and so Nova, records it as given ("metastack", "OpenStack Nova 26.2.2"). The
// field is 128 bytes at offset 318 of the primary volume descriptor (block 16), space-padded.
void PatchPublisher(std::string& image, const std::string& publisher) {
  constexpr size_t kPvd = 16 * kBlock, kField = 318, kLen = 128;
  if (image.size() < kPvd + kField + kLen || image[kPvd] != 1) return;
  std::string field = publisher.substr(0, kLen);
  field.resize(kLen, ' ');
  image.replace(kPvd + kField, kLen, field);
}

}  // namespace

IsoWriter::IsoWriter(ImageOptions options, std::string publisher)
    : options_(std::move(options)), publisher_(std::move(publisher)) {}

Result<Image> IsoWriter::Build(const std::vector<core::DriveFile>& files) const {
  METASTACK_ASSIGN_OR_RETURN(TreeNode tree, BuildTree(files, kIsoNameLimits));
  const time_t t = static_cast<time_t>(options_.timestamp);

  std::lock_guard lock(LibisofsMutex());
  METASTACK_RETURN_IF_ERROR(Init());
  DrainMessages();
  // Nodes created now get this time, and so does anything libisofs would stamp with "now".
  time_t now = t;
  iso_nowtime(&now, 1);
  struct NowReset {
    ~NowReset() {
      time_t unused = 0;
      iso_nowtime(&unused, 2);
    }
  } now_reset;

  IsoImage* raw_image = nullptr;
  if (int rc = iso_image_new(options_.label.c_str(), &raw_image); rc < 0)
    return IsoError("creating an image", rc);
  std::unique_ptr<IsoImage, ImageUnref> image(raw_image);
  iso_image_set_volume_id(image.get(), options_.label.c_str());
  iso_image_set_system_id(image.get(), "LINUX");
  iso_image_set_volset_id(image.get(), "");
  iso_image_set_publisher_id(image.get(), publisher_.c_str());
  IsoDir* root = iso_image_get_root(image.get());
  Stamp(reinterpret_cast<IsoNode*>(root), t, 0555);
  METASTACK_RETURN_IF_ERROR(AddChildren(image.get(), root, tree, t));

  IsoWriteOpts* raw_opts = nullptr;
  if (int rc = iso_write_opts_new(&raw_opts, 0); rc < 0)
    return IsoError("creating write options", rc);
  std::unique_ptr<IsoWriteOpts, OptsFree> opts(raw_opts);
  METASTACK_RETURN_IF_ERROR(SetOptions(opts.get(), t));
  METASTACK_ASSIGN_OR_RETURN(std::string bytes, Generate(image.get(), opts.get()));
  DrainMessages();

  PatchPublisher(bytes, publisher_);

  Image out;
  out.size = bytes.size();
  out.extents.push_back({0, std::move(bytes)});
  return out;
}

}  // namespace metastack::configdrive
