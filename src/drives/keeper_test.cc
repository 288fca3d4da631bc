// The drive keeper on the memory store: drives built, rebuilt, removed as the feed announces
// changes; what a failed build leaves; flush-all; what it owns in the directory and what not.
// Drives are read back with the guest's own reader (guest/drive.h).
#include "drives/keeper.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "guest/drive.h"
#include "store/forwarding_store.h"
#include "store/memory_store.h"

namespace metastack::drives {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kA[] = "aaaaaaaa-0000-4000-8000-00000000000a";
constexpr char kB[] = "bbbbbbbb-0000-4000-8000-00000000000b";
constexpr char kC[] = "cccccccc-0000-4000-8000-00000000000c";
constexpr char kD[] = "dddddddd-0000-4000-8000-00000000000d";  // in no store
constexpr char kX[] = "eeeeeeee-0000-4000-8000-00000000000e";  // in no store

// A store whose change feed the test controls: announcements pass unless muted, the test can
// announce one itself ("flush all"), and reads can be made to fail.
class FeedStore : public store::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  std::unique_ptr<store::Subscription> Subscribe(
      std::function<void(const store::Change&)> callback) override {
    {
      std::lock_guard lock(mu_);
      callback_ = callback;
    }
    return ForwardingStore::Subscribe([this](const store::Change& c) {
      if (!muted.load()) Announce(c);
    });
  }
  Result<store::InstanceRecord> GetInstance(std::string_view uuid) override {
    if (reads_fail.load()) return std::unexpected(MakeError(ErrorCode::kUnavailable, "down"));
    return ForwardingStore::GetInstance(uuid);
  }
  Result<store::Page<store::InstanceRecord>> ListInstances(
      const store::ListOptions& options) override {
    if (reads_fail.load()) return std::unexpected(MakeError(ErrorCode::kUnavailable, "down"));
    return ForwardingStore::ListInstances(options);
  }

  void Announce(const store::Change& c) {
    std::function<void(const store::Change&)> callback;
    {
      std::lock_guard lock(mu_);
      callback = callback_;
    }
    if (callback) callback(c);
  }

  std::atomic<bool> muted{false};
  std::atomic<bool> reads_fail{false};

 private:
  std::mutex mu_;
  std::function<void(const store::Change&)> callback_;
};

core::Instance MakeInstance(const std::string& uuid, const std::string& hostname,
                            bool config_drive) {
  core::Json doc = {{"uuid", uuid},
                    {"hostname", hostname},
                    {"project_id", "p"},
                    {"config_drive", config_drive},
                    {"created_at", "2024-05-06T07:08:09Z"}};
  auto instance = core::ParseInstanceJson(doc);
  EXPECT_TRUE(instance) << instance.error().ToString();
  return *instance;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class KeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keeper_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    keeper_.reset();
    fs::remove_all(dir_);
  }

  DriveKeeper& Start(KeeperSettings settings = {}, core::Settings render = {}) {
    settings.dir = dir_;
    settings.log = [this](LogLevel level, const std::string& line) {
      std::lock_guard lock(log_mu_);
      if (level >= LogLevel::kInfo) log_.push_back(line);
    };
    keeper_ = std::make_unique<DriveKeeper>(feed_, metrics_, settings, render);
    keeper_->Start();
    Idle();
    return *keeper_;
  }
  void Idle() { ASSERT_TRUE(keeper_->WaitIdle(seconds(60))) << "the keeper did not settle"; }

  std::string PathOf(const std::string& uuid) { return keeper_->PathOf(uuid); }
  bool HasDrive(const std::string& uuid) { return fs::exists(PathOf(uuid)); }
  // meta_data.json's hostname, as a guest reads it off the drive.
  std::string Hostname(const std::string& uuid) {
    auto tree = guest::OpenDrive(PathOf(uuid));
    if (!tree) return "(" + tree.error().ToString() + ")";
    auto text = (*tree)->Read("openstack/latest/meta_data.json");
    if (!text) return "(" + text.error().ToString() + ")";
    return core::Json::parse(*text)["hostname"].get<std::string>();
  }
  double Counter(const std::string& name, const std::string& labels = "") {
    return metrics_.Counter(name, labels).value();
  }
  double Gauge(const std::string& name) { return metrics_.Gauge(name, "").value(); }
  double Failures(std::string_view stage) {
    return Counter("metastack_configdrive_build_failures_total", http::Labels({{"stage", stage}}));
  }
  std::vector<std::string> Log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }
  void ClearLog() {
    std::lock_guard lock(log_mu_);
    log_.clear();
  }
  void Create(const core::Instance& instance) { ASSERT_TRUE(store_->CreateInstance(instance)); }
  void Replace(const core::Instance& instance) {
    auto replaced = store_->ReplaceInstance(instance, std::nullopt);
    ASSERT_TRUE(replaced) << replaced.error().ToString();
  }
  void Touch(const std::string& name) { std::ofstream(dir_ + "/" + name) << "not ours\n"; }

  std::string dir_;
  std::unique_ptr<store::Store> store_ = store::NewMemoryStore();
  FeedStore feed_{*store_};
  http::Metrics metrics_{http::Metrics::ProcessSeries::kOmit};
  std::unique_ptr<DriveKeeper> keeper_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST(DriveExtensionTest, FollowsFileSystemAndContainer) {
  using configdrive::DiskFormat;
  using configdrive::DriveLayout;
  struct Case {
    DriveLayout layout;
    DiskFormat disk;
    std::string_view ext;
  };
  for (const Case& c : {Case{DriveLayout::kIso, DiskFormat::kRaw, "iso"},
                        Case{DriveLayout::kNoCloud, DiskFormat::kRaw, "iso"},
                        Case{DriveLayout::kVfat, DiskFormat::kRaw, "img"},
                        Case{DriveLayout::kNoCloudVfat, DiskFormat::kRaw, "img"},
                        Case{DriveLayout::kIso, DiskFormat::kQcow2, "qcow2"},
                        Case{DriveLayout::kVfat, DiskFormat::kVhd, "vhd"},
                        Case{DriveLayout::kIso, DiskFormat::kVhdx, "vhdx"},
                        Case{DriveLayout::kNoCloud, DiskFormat::kVmdk, "vmdk"}}) {
    configdrive::DriveSpec spec;
    spec.layout = c.layout;
    spec.disk = c.disk;
    EXPECT_EQ(DriveExtension(spec), c.ext)
        << configdrive::DriveLayoutName(c.layout) << " " << configdrive::DiskFormatName(c.disk);
  }
}

TEST_F(KeeperTest, BuildsOnCreateRebuildsOnChangeRemovesOnDelete) {
  Start();
  EXPECT_EQ(PathOf(kA), dir_ + "/" + kA + ".iso");
  Create(MakeInstance(kA, "a-01", true));
  Idle();
  EXPECT_EQ(Hostname(kA), "a-01.novalocal");
  EXPECT_EQ(Counter("metastack_configdrive_builds_total"), 1);
  EXPECT_EQ(Gauge("metastack_configdrive_drives"), 1);

  Replace(MakeInstance(kA, "a-02", true));
  Idle();
  EXPECT_EQ(Hostname(kA), "a-02.novalocal");
  EXPECT_EQ(Counter("metastack_configdrive_builds_total"), 2);

  ASSERT_TRUE(store_->DeleteInstance(kA));
  Idle();
  EXPECT_FALSE(HasDrive(kA));
  EXPECT_EQ(Gauge("metastack_configdrive_drives"), 0);
  EXPECT_EQ(Log(), std::vector<std::string>({"full scan: 0 drives kept in " + dir_,
                                             PathOf(kA) + ": removed (instance deleted)"}));
  EXPECT_EQ(keeper_->State()["drives"], 0);
}

TEST_F(KeeperTest, OnlyInstancesThatAskForOne) {
  Start();
  Create(MakeInstance(kB, "b-01", false));
  Idle();
  EXPECT_FALSE(HasDrive(kB));
  Replace(MakeInstance(kB, "b-01", true));
  Idle();
  EXPECT_EQ(Hostname(kB), "b-01.novalocal");
  Replace(MakeInstance(kB, "b-01", false));
  Idle();
  EXPECT_FALSE(HasDrive(kB));
  EXPECT_EQ(Log().back(), PathOf(kB) + ": removed (no config drive wanted)");
}

// Nova's force_config_drive.
TEST_F(KeeperTest, AllGivesEveryInstanceOne) {
  Create(MakeInstance(kA, "a-01", false));
  KeeperSettings settings;
  settings.all = true;
  Start(settings);
  EXPECT_EQ(Hostname(kA), "a-01.novalocal");
  Create(MakeInstance(kB, "b-01", false));
  Idle();
  EXPECT_EQ(Hostname(kB), "b-01.novalocal");
  EXPECT_EQ(Gauge("metastack_configdrive_drives"), 2);
}

TEST_F(KeeperTest, FailedBuildKeepsTheLastGoodDriveAndCounts) {
  KeeperSettings settings;
  settings.spec.layout = configdrive::DriveLayout::kVfat;
  settings.spec.vfat_size = uint64_t{1} << 20;
  Start(settings);
  EXPECT_EQ(PathOf(kA), dir_ + "/" + kA + ".img");
  Create(MakeInstance(kA, "a-01", true));
  Idle();
  const std::string good = ReadBytes(PathOf(kA));
  ASSERT_EQ(Hostname(kA), "a-01.novalocal");
  ClearLog();

  // 2 MiB of injected files cannot fit a 1 MiB VFAT image.
  core::Instance big = MakeInstance(kA, "a-02", true);
  for (int i = 0; i < 2; ++i)
    big.files.push_back({"/big/" + std::to_string(i), std::string(1 << 20, 'x')});
  Replace(big);
  Idle();
  EXPECT_EQ(ReadBytes(PathOf(kA)), good);
  EXPECT_EQ(Failures("build"), 1);
  EXPECT_EQ(Gauge("metastack_configdrive_failing"), 1);
  EXPECT_EQ(Gauge("metastack_configdrive_drives"), 1);
  const std::string failed =
      PathOf(kA) +
      ": not rebuilt (build: the files need 4153 clusters of 512 bytes but a 1 MiB FAT12 image "
      "has 2003 free); the last good drive stays";
  EXPECT_EQ(Log(), std::vector<std::string>{failed});

  // Failing again for the same reason counts, and is not logged again.
  big.hostname = "a-03";
  Replace(big);
  Idle();
  EXPECT_EQ(Failures("build"), 2);
  EXPECT_EQ(Log(), std::vector<std::string>{failed});
  EXPECT_EQ(keeper_->State()["failing"], 1);

  Replace(MakeInstance(kA, "a-04", true));
  Idle();
  EXPECT_EQ(Hostname(kA), "a-04.novalocal");
  EXPECT_EQ(Gauge("metastack_configdrive_failing"), 0);
  EXPECT_EQ(Log(), std::vector<std::string>({failed, PathOf(kA) + ": built again"}));
}

TEST_F(KeeperTest, FlushAllRescans) {
  Create(MakeInstance(kC, "c-01", true));
  Start();
  ASSERT_TRUE(HasDrive(kC));
  feed_.muted = true;  // the feed misses what follows
  Create(MakeInstance(kA, "a-01", true));
  ASSERT_TRUE(store_->DeleteInstance(kC));
  Idle();
  EXPECT_FALSE(HasDrive(kA));
  EXPECT_TRUE(HasDrive(kC));

  feed_.Announce(store::Change{.revision = 0, .kind = store::Change::Kind::kInstance, .id = ""});
  Idle();
  EXPECT_EQ(Hostname(kA), "a-01.novalocal");
  EXPECT_FALSE(HasDrive(kC));
  EXPECT_EQ(Log().back(), "full scan: 1 drives kept in " + dir_ + ", 1 stale ones removed");
}

TEST_F(KeeperTest, StartRemovesStaleDrivesAndNothingElse) {
  Create(MakeInstance(kA, "a-01", true));
  Create(MakeInstance(kB, "b-01", false));
  Create(MakeInstance(kC, "c-01", true));
  const std::vector<std::string> stale = {
      std::string(kX) + ".iso",                   // no such instance
      std::string(kB) + ".iso",                   // it wants none
      "." + std::string(kX) + ".iso.tmp-Ab12Cd",  // an interrupted write's
  };
  const std::vector<std::string> foreign = {
      "notes.txt",
      std::string(kX) + ".qcow2",  // another format's extension
      std::string(kX) + ".iso.bak",
      "not-a-uuid.iso",
      ".hidden",
      "." + std::string(kX) + ".iso.tmp-short",
  };
  for (const auto& name : stale) Touch(name);
  for (const auto& name : foreign) Touch(name);
  fs::create_directory(dir_ + "/" + kD + ".iso");  // a directory, not a drive
  KeeperSettings settings;
  settings.page = 1;  // a page per instance
  Start(settings);
  EXPECT_EQ(Hostname(kA), "a-01.novalocal");
  EXPECT_EQ(Hostname(kC), "c-01.novalocal");
  for (const auto& name : stale) EXPECT_FALSE(fs::exists(dir_ + "/" + name)) << name;
  for (const auto& name : foreign) EXPECT_EQ(ReadBytes(dir_ + "/" + name), "not ours\n") << name;
  EXPECT_TRUE(fs::is_directory(dir_ + "/" + kD + ".iso"));
  EXPECT_EQ(Gauge("metastack_configdrive_drives"), 2);
}

// A drive of an earlier run stays until its rebuild replaces it, even when that fails.
TEST_F(KeeperTest, StartReplacesDrivesOfAnEarlierRun) {
  Touch(std::string(kA) + ".iso");
  Create(MakeInstance(kA, "a-01", true));
  Start();
  EXPECT_EQ(Hostname(kA), "a-01.novalocal");
}

TEST_F(KeeperTest, StoreFailuresAreTriedAgain) {
  KeeperSettings settings;
  settings.retry = milliseconds(20);
  Start(settings);
  feed_.reads_fail = true;
  Create(MakeInstance(kA, "a-01", true));
  Idle();
  EXPECT_FALSE(HasDrive(kA));
  EXPECT_GE(Failures("store"), 1);
  EXPECT_EQ(Log().back(), PathOf(kA) + ": not rebuilt (store: down); no drive yet");
  feed_.reads_fail = false;
  // Nothing is announced: the retry alone builds it.
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (!HasDrive(kA) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  Idle();
  EXPECT_EQ(Hostname(kA), "a-01.novalocal");
}

// The DHCP domain and vendor data are the API's: new ones (SIGHUP) rebuild every drive.
TEST_F(KeeperTest, NewRenderSettingsRebuildEveryDrive) {
  Create(MakeInstance(kA, "a-01", true));
  Start();
  EXPECT_EQ(Counter("metastack_configdrive_builds_total"), 1);
  keeper_->SetRenderSettings(core::Settings{});  // the same: nothing to do
  Idle();
  EXPECT_EQ(Counter("metastack_configdrive_builds_total"), 1);
  core::Settings render;
  render.dhcp_domain = "example.org";
  keeper_->SetRenderSettings(render);
  Idle();
  EXPECT_EQ(Hostname(kA), "a-01.example.org");
  EXPECT_EQ(Counter("metastack_configdrive_builds_total"), 2);
}

// Every kept drive is built with the one BuildDrive: the same bytes as `metastack configdrive
// build` with the same seed and settings.
TEST_F(KeeperTest, TheDriveIsBuildDrivesOutput) {
  KeeperSettings settings;
  settings.spec.seed = "host secret";
  settings.spec.layout = configdrive::DriveLayout::kNoCloudVfat;
  settings.spec.vfat_size = uint64_t{1} << 20;
  core::Settings render;
  render.dhcp_domain = "";
  core::Instance a = MakeInstance(kA, "a-01", true);
  Create(a);
  Start(settings, render);
  auto expected = configdrive::BuildDrive(a, render, settings.spec);
  ASSERT_TRUE(expected) << expected.error().ToString();
  EXPECT_EQ(PathOf(kA), dir_ + "/" + kA + ".img");
  EXPECT_EQ(ReadBytes(PathOf(kA)), expected->image.Flatten());
}

constexpr const char* kPromtool = "/usr/bin/promtool";

TEST_F(KeeperTest, MetricsPassPromtool) {
  if (::access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " is absent";
  Start();
  Create(MakeInstance(kA, "a-01", true));
  Idle();
  const std::string text = metrics_.Render();
  for (const char* family :
       {"metastack_configdrive_builds_total 1\n", "metastack_configdrive_drives 1\n",
        "metastack_configdrive_failing 0\n",
        "metastack_configdrive_build_failures_total{stage=\"build\"} 0\n",
        "metastack_configdrive_build_seconds_count 1\n"})
    EXPECT_NE(text.find(family), std::string::npos) << family << " not in\n" << text;
  char path[] = "/tmp/keeper_metrics.XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  int status = std::system((std::string(kPromtool) + " check metrics < " + path).c_str());
  ::unlink(path);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
}

}  // namespace
}  // namespace metastack::drives
