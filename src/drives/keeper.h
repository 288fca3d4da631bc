#pragma once
// The drive keeper: keeps `<dir>/<uuid>.<ext>` current for every instance of the store that
// wants a config drive (its document's `config_drive`, or every instance with `all`, as Nova's
// force_config_drive), so that a hypervisor can point at a stable path (docs/configdrive.md,
// "Drives kept current").
//
// What it does:
//   - at Start, a full scan: every instance (ListInstances, page by page) that wants a drive
//     gets one built, and every file it owns whose instance no longer wants one is removed;
//   - then the store's change feed (Subscribe) marks instances dirty; the keeper's thread takes
//     them in batches (several changes of one instance before it runs are one rebuild), reads
//     each instance and builds its drive with configdrive::BuildDrive, written with
//     configdrive::WriteImageFile (temporary file beside it, fsync, rename: a reader sees the
//     old drive or the new one, never a part); an instance deleted, or no longer wanting a
//     drive, has its file removed. "Flush all" (an empty id) is a full scan; so is
//     SetRenderSettings. A full scan takes the instances that changed meanwhile between its
//     pages, so it never holds a change back for more than one page's builds.
//   - a failed build leaves the last good drive in place; the reason is logged once (again only
//     when it changes, and once when the drive builds again) and counted in
//     metastack_configdrive_build_failures_total{stage}. A build the instance's document makes
//     fail (stage "build") is tried again at its next change; a store or file-system failure
//     ("store", "write") after KeeperSettings::retry.
//
// Files it owns in `dir`: `<uuid>.<ext>` for a UUID and the extension of its format
// (DriveExtension), and WriteImageFile's leftovers `.<uuid>.<ext>.tmp-XXXXXX`. Nothing else in
// the directory is read, written or removed. One keeper per directory.
//
// Bound: a change is on disk within 1 s of the store announcing it, while the keeper is not
// behind by more than a page of builds (the feed's own delay comes first: immediate in the
// writing process, 50 ms across processes on SQLite, a commit's notification on PostgreSQL).
//
// Metrics (the registry given): metastack_configdrive_builds_total,
// metastack_configdrive_build_failures_total{stage="build|write|store"},
// metastack_configdrive_build_seconds (histogram), metastack_configdrive_drives (gauge: files
// kept now), metastack_configdrive_failing (gauge: instances whose last attempt failed).
//
// Threads: every store call, build and file operation runs on the keeper's own thread; the
// feed's callback only records the id. Start, Stop, SetRenderSettings, State and WaitIdle may
// be called from any thread. The store and the metrics must outlive the keeper.

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/log.h"
#include "configdrive/drive_build.h"
#include "core/metadata.h"
#include "http/metrics.h"
#include "store/store.h"

namespace metastack::drives {

struct KeeperSettings {
  std::string dir;   // must exist
  bool all = false;  // every instance gets a drive, whatever its config_drive says
  configdrive::DriveSpec spec;
  // A store or file-system failure is tried again after this long.
  std::chrono::milliseconds retry = std::chrono::seconds(5);
  size_t page = 100;  // instances listed per store call during a full scan
  // Where the keeper's log lines go (tests); default: Log(level, "configdrive", line).
  std::function<void(LogLevel, const std::string&)> log;
};

// The file name extension for drives of `spec`: "iso" (iso, nocloud), "img" (vfat,
// nocloud-vfat), or the container's for other disk formats ("qcow2", "vhd", "vhdx", "vmdk").
std::string_view DriveExtension(const configdrive::DriveSpec& spec);

class DriveKeeper {
 public:
  // `render`: what documents are rendered with (the API's DHCP domain and vendor data, so the
  // drive says what the metadata service serves).
  DriveKeeper(store::Store& store, http::Metrics& metrics, KeeperSettings settings,
              core::Settings render);
  ~DriveKeeper();
  DriveKeeper(const DriveKeeper&) = delete;
  DriveKeeper& operator=(const DriveKeeper&) = delete;

  // Subscribes to the feed and starts the thread, which begins with a full scan.
  void Start();
  // Unsubscribes and joins the thread (after the instance it is building); idempotent. Files
  // stay as they are.
  void Stop();
  // New render settings (SIGHUP): every drive is built again, at a full scan.
  void SetRenderSettings(core::Settings render);

  // The path of `uuid`'s drive.
  std::string PathOf(std::string_view uuid) const;
  // {"dir", "format", "disk_format", "drives": N, "failing": N, "pending": N} as of the
  // thread's last step (pending: instances waiting to be looked at).
  nlohmann::json State() const;
  // Waits until everything the keeper had been told of before the call (changes, the start's
  // scan, a flush) has been dealt with; false after `timeout`. For tests and tools.
  bool WaitIdle(std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace metastack::drives
