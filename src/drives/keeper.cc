#include "drives/keeper.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "configdrive/image_writer.h"

namespace metastack::drives {
namespace {

constexpr char kLogName[] = "configdrive";
constexpr char kBuilds[] = "metastack_configdrive_builds_total";
constexpr char kFailures[] = "metastack_configdrive_build_failures_total";
constexpr char kSeconds[] = "metastack_configdrive_build_seconds";
constexpr char kDrives[] = "metastack_configdrive_drives";
constexpr char kFailing[] = "metastack_configdrive_failing";
// More dirty instances than this at once become one full scan.
constexpr size_t kMaxDirty = 100'000;
using Clock = std::chrono::steady_clock;

enum class Stage { kBuild, kWrite, kStore };
constexpr Stage kStages[] = {Stage::kBuild, Stage::kWrite, Stage::kStore};

std::string_view StageName(Stage s) {
  switch (s) {
    case Stage::kBuild:
      return "build";
    case Stage::kWrite:
      return "write";
    case Stage::kStore:
      return "store";
  }
  return "build";
}

// What the keeper knows of one instance's drive.
struct Kept {
  bool on_disk = false;   // a drive of ours is at its path
  int64_t revision = -1;  // the instance revision it was last built (or tried) from
  uint64_t settings = 0;  // the render settings' generation then
  bool built = false;     // that attempt succeeded
  std::string error;      // the failure last logged; empty while none
};

bool FileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

bool SameSettings(const core::Settings& a, const core::Settings& b) {
  return a.dhcp_domain == b.dhcp_domain && a.vendor_data == b.vendor_data && a.today == b.today;
}

}  // namespace

std::string_view DriveExtension(const configdrive::DriveSpec& spec) {
  if (spec.disk != configdrive::DiskFormat::kRaw) return configdrive::DiskFormatName(spec.disk);
  return configdrive::IsVfat(spec.layout) ? "img" : "iso";
}

struct DriveKeeper::Impl {
  Impl(store::Store& s, http::Metrics& m, KeeperSettings k, core::Settings r)
      : store(s),
        metrics(m),
        settings(std::move(k)),
        ext(DriveExtension(settings.spec)),
        render(std::move(r)) {}

  store::Store& store;
  http::Metrics& metrics;
  const KeeperSettings settings;
  const std::string ext;

  // Shared with the other threads, under mu.
  mutable std::mutex mu;
  std::condition_variable wake;
  mutable std::condition_variable idle;
  std::set<std::string> dirty;
  bool flush = false;
  std::optional<core::Settings> next_render;
  bool stop = false;
  uint64_t requested = 1;  // the start's scan
  uint64_t done = 0;
  nlohmann::json snapshot = nlohmann::json::object();
  std::unique_ptr<store::Subscription> subscription;
  std::thread thread;

  // The keeper thread's own.
  core::Settings render;
  uint64_t generation = 1;
  std::map<std::string, Kept> kept;
  std::map<std::string, Clock::time_point> retry_at;
  std::optional<Clock::time_point> scan_retry_at;
  std::string scan_error;

  void Log(LogLevel level, const std::string& line) const {
    if (settings.log)
      settings.log(level, line);
    else
      metastack::Log(level, kLogName, line);
  }
  std::string PathOf(std::string_view uuid) const {
    return (std::filesystem::path(settings.dir) / (std::string(uuid) + "." + ext)).string();
  }
  bool Wants(const core::Instance& instance) const { return settings.all || instance.config_drive; }

  void Run();
  // Takes the dirty ids (and counts them as taken); false when stopping.
  std::vector<std::string> TakeDirty(uint64_t& taken);
  void FullScan(uint64_t& taken);
  void Refresh(const std::string& uuid);
  void Apply(const store::InstanceRecord& record);
  void Remove(const std::string& uuid, std::string_view why);
  void Fail(const std::string& uuid, Stage stage, const Error& error, bool retry,
            int64_t revision = -1);
  std::set<std::string> Sweep(const std::set<std::string>& keep);
  void Publish();
};

DriveKeeper::DriveKeeper(store::Store& store, http::Metrics& metrics, KeeperSettings settings,
                         core::Settings render)
    : impl_(std::make_unique<Impl>(store, metrics, std::move(settings), std::move(render))) {
  metrics.Describe(kBuilds, "counter", "Config drives built and written to their kept path");
  metrics.Describe(kFailures, "counter",
                   "Config drives not rebuilt, by stage (build: the document or the format "
                   "refused; write: the file system; store: the instance could not be read); "
                   "the last good drive stays");
  metrics.Describe(kSeconds, "histogram", "Time to build and write one kept config drive");
  metrics.Describe(kDrives, "gauge", "Config drives kept current in the drive directory");
  metrics.Describe(kFailing, "gauge", "Instances whose drive's last build failed");
  metrics.Counter(kBuilds, "");
  for (Stage s : kStages) metrics.Counter(kFailures, http::Labels({{"stage", StageName(s)}}));
  impl_->Publish();
}

DriveKeeper::~DriveKeeper() { Stop(); }

void DriveKeeper::Start() {
  Impl& k = *impl_;
  if (k.thread.joinable()) return;
  k.subscription = k.store.Subscribe([&k](const store::Change& c) {
    if (c.kind != store::Change::Kind::kInstance) return;
    {
      std::lock_guard lock(k.mu);
      if (c.id.empty() || k.dirty.size() >= kMaxDirty) {
        k.flush = true;
        k.dirty.clear();
      } else {
        k.dirty.insert(c.id);
      }
      ++k.requested;
    }
    k.wake.notify_one();
  });
  k.thread = std::thread([&k] { k.Run(); });
}

void DriveKeeper::Stop() {
  Impl& k = *impl_;
  k.subscription.reset();
  if (!k.thread.joinable()) return;
  {
    std::lock_guard lock(k.mu);
    k.stop = true;
  }
  k.wake.notify_one();
  k.thread.join();
}

void DriveKeeper::SetRenderSettings(core::Settings render) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->next_render = std::move(render);
    ++impl_->requested;
  }
  impl_->wake.notify_one();
}

std::string DriveKeeper::PathOf(std::string_view uuid) const { return impl_->PathOf(uuid); }

nlohmann::json DriveKeeper::State() const {
  std::lock_guard lock(impl_->mu);
  nlohmann::json state = impl_->snapshot;
  state["pending"] = impl_->dirty.size();
  return state;
}

bool DriveKeeper::WaitIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  const uint64_t target = impl_->requested;
  return impl_->idle.wait_for(lock, timeout, [&] { return impl_->done >= target; });
}

std::vector<std::string> DriveKeeper::Impl::TakeDirty(uint64_t& taken) {
  std::lock_guard lock(mu);
  std::vector<std::string> ids(dirty.begin(), dirty.end());
  dirty.clear();
  taken = requested;
  return ids;
}

void DriveKeeper::Impl::Run() {
  bool full = true;  // the start's scan
  for (;;) {
    uint64_t taken = 0;
    std::vector<std::string> ids;
    {
      std::unique_lock lock(mu);
      auto ready = [&] { return stop || flush || full || next_render || !dirty.empty(); };
      std::optional<Clock::time_point> until = scan_retry_at;
      for (const auto& [_, at] : retry_at) until = until ? std::min(*until, at) : at;
      if (until)
        wake.wait_until(lock, *until, ready);
      else
        wake.wait(lock, ready);
      if (stop) break;
      full = full || flush;
      flush = false;
      if (next_render) {
        if (!SameSettings(*next_render, render)) {
          render = std::move(*next_render);
          ++generation;
          full = true;
        }
        next_render.reset();
      }
      ids.assign(dirty.begin(), dirty.end());
      dirty.clear();
      taken = requested;
    }
    const auto now = Clock::now();
    if (scan_retry_at && *scan_retry_at <= now) {
      full = true;
      scan_retry_at.reset();
    }
    for (auto it = retry_at.begin(); it != retry_at.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      ids.push_back(it->first);
      it = retry_at.erase(it);
    }
    for (const auto& id : ids) Refresh(id);
    if (full) FullScan(taken);
    full = false;
    Publish();
    {
      std::lock_guard lock(mu);
      done = taken;
    }
    idle.notify_all();
  }
}

void DriveKeeper::Impl::FullScan(uint64_t& taken) {
  std::set<std::string> keep;  // instances whose drive stays: wanted, or decided meanwhile
  store::ListOptions options;
  options.limit = settings.page;
  for (;;) {
    auto page = store.ListInstances(options);
    if (!page) {
      metrics.Add(kFailures, http::Labels({{"stage", "store"}}));
      std::string text = "full scan: cannot list the instances: " + page.error().ToString();
      if (text != scan_error) Log(LogLevel::kError, text + "; trying again shortly");
      scan_error = std::move(text);
      scan_retry_at = Clock::now() + settings.retry;
      return;  // nothing is swept on a partial view
    }
    for (const auto& record : page->items) {
      if (Wants(record.instance)) keep.insert(record.instance.uuid);
      Apply(record);
    }
    // What changed meanwhile is not held back by the rest of the scan.
    uint64_t now_taken = 0;
    for (const auto& id : TakeDirty(now_taken)) {
      Refresh(id);
      keep.insert(id);  // decided from fresher state than the scan's; Refresh removed it if due
    }
    taken = now_taken;
    if (page->next.empty()) break;
    options.after = page->next;
    {
      std::lock_guard lock(mu);
      if (stop) return;  // nothing is swept on a partial view
    }
  }
  if (!scan_error.empty()) Log(LogLevel::kInfo, "full scan: the store answers again");
  scan_error.clear();
  std::set<std::string> removed = Sweep(keep);
  for (auto it = kept.begin(); it != kept.end();)
    it = keep.count(it->first) ? std::next(it) : kept.erase(it);
  size_t built = 0;
  for (const auto& [_, k] : kept) built += k.on_disk ? 1 : 0;
  Log(LogLevel::kInfo,
      "full scan: " + std::to_string(built) + " drives kept in " + settings.dir +
          (removed.empty() ? "" : ", " + std::to_string(removed.size()) + " stale ones removed"));
}

void DriveKeeper::Impl::Refresh(const std::string& uuid) {
  auto record = store.GetInstance(uuid);
  if (record) {
    Apply(*record);
  } else if (record.error().code == ErrorCode::kNotFound) {
    Remove(uuid, "instance deleted");
  } else {
    Fail(uuid, Stage::kStore, record.error(), /*retry=*/true);
  }
}

void DriveKeeper::Impl::Apply(const store::InstanceRecord& record) {
  const core::Instance& instance = record.instance;
  if (!Wants(instance)) {
    Remove(instance.uuid, "no config drive wanted");
    return;
  }
  const std::string path = PathOf(instance.uuid);
  auto [it, added] = kept.try_emplace(instance.uuid);
  Kept& k = it->second;
  if (added) k.on_disk = FileExists(path);  // a drive of an earlier run stays until replaced
  if (k.revision == record.revision && k.settings == generation) {
    // Built from exactly this already, or failed to build from it (which will fail again).
    if (!k.built || FileExists(path)) return;
  }
  const auto started = Clock::now();
  auto drive = configdrive::BuildDrive(instance, render, settings.spec);
  if (!drive) {
    Fail(instance.uuid, Stage::kBuild, drive.error(), /*retry=*/false, record.revision);
    return;
  }
  if (auto written = configdrive::WriteImageFile(drive->image, path); !written) {
    Fail(instance.uuid, Stage::kWrite, written.error(), /*retry=*/true);
    return;
  }
  metrics.Observe(kSeconds, "", std::chrono::duration<double>(Clock::now() - started).count());
  metrics.Add(kBuilds, "");
  retry_at.erase(instance.uuid);
  k.on_disk = true;
  k.revision = record.revision;
  k.settings = generation;
  k.built = true;
  if (!k.error.empty()) Log(LogLevel::kInfo, path + ": built again");
  k.error.clear();
  Log(LogLevel::kDebug, path + ": built (revision " + std::to_string(record.revision) + ")");
}

void DriveKeeper::Impl::Remove(const std::string& uuid, std::string_view why) {
  const std::string path = PathOf(uuid);
  if (::unlink(path.c_str()) == 0) {
    Log(LogLevel::kInfo, path + ": removed (" + std::string(why) + ")");
  } else if (errno != ENOENT) {
    int err = errno;
    Fail(uuid, Stage::kWrite,
         MakeError(ErrorCode::kInternal, "cannot remove it: " + std::string(::strerror(err))),
         /*retry=*/true);
    return;
  }
  kept.erase(uuid);
  retry_at.erase(uuid);
}

void DriveKeeper::Impl::Fail(const std::string& uuid, Stage stage, const Error& error, bool retry,
                             int64_t revision) {
  metrics.Add(kFailures, http::Labels({{"stage", StageName(stage)}}));
  const std::string path = PathOf(uuid);
  auto [it, added] = kept.try_emplace(uuid);
  Kept& k = it->second;
  if (added) k.on_disk = FileExists(path);
  k.built = false;
  if (revision >= 0) {
    k.revision = revision;
    k.settings = generation;
  } else {
    k.revision = -1;  // not known to fail again: the next scan tries it
  }
  if (retry) retry_at[uuid] = Clock::now() + settings.retry;
  std::string text = std::string(StageName(stage)) + ": " + error.ToString();
  if (text == k.error) return;  // logged already
  Log(LogLevel::kError, path + ": not rebuilt (" + text + "); " +
                            (k.on_disk ? "the last good drive stays" : "no drive yet"));
  k.error = std::move(text);
}

std::set<std::string> DriveKeeper::Impl::Sweep(const std::set<std::string>& keep) {
  namespace fs = std::filesystem;
  std::set<std::string> removed;
  std::error_code ec;
  const std::string suffix = "." + ext;
  for (fs::directory_iterator it(settings.dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code sec;
    if (!fs::is_regular_file(it->symlink_status(sec))) continue;
    // `.<uuid>.<ext>.tmp-XXXXXX`: what WriteImageFile left behind when a process died in it.
    if (name.size() > 1 && name[0] == '.') {
      const size_t tmp = name.rfind(suffix + ".tmp-");
      if (tmp != std::string::npos && tmp + suffix.size() + 11 == name.size() &&
          core::IsValidUuid(name.substr(1, tmp - 1))) {
        if (::unlink(it->path().c_str()) == 0)
          Log(LogLevel::kInfo, it->path().string() + ": removed (an interrupted write's)");
      }
      continue;
    }
    if (!name.ends_with(suffix)) continue;
    const std::string uuid = name.substr(0, name.size() - suffix.size());
    if (!core::IsValidUuid(uuid) || keep.count(uuid)) continue;
    if (::unlink(it->path().c_str()) == 0) {
      Log(LogLevel::kInfo, it->path().string() + ": removed (stale: no instance wants it)");
      removed.insert(uuid);
    }
  }
  if (ec) {
    metrics.Add(kFailures, http::Labels({{"stage", "write"}}));
    Log(LogLevel::kError, settings.dir + ": cannot list it: " + ec.message());
  }
  return removed;
}

void DriveKeeper::Impl::Publish() {
  size_t on_disk = 0, failing = 0;
  for (const auto& [_, k] : kept) {
    on_disk += k.on_disk ? 1 : 0;
    failing += k.error.empty() ? 0 : 1;
  }
  metrics.SetGauge(kDrives, "", static_cast<double>(on_disk));
  metrics.SetGauge(kFailing, "", static_cast<double>(failing));
  std::lock_guard lock(mu);
  snapshot = {{"dir", settings.dir},
              {"format", configdrive::DriveLayoutName(settings.spec.layout)},
              {"disk_format", configdrive::DiskFormatName(settings.spec.disk)},
              {"drives", on_disk},
              {"failing", failing}};
}

}  // namespace metastack::drives
