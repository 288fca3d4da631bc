#pragma once
// Helpers shared by configdrive's tests: a per-test temporary directory and a reproducible
// drive file set built from core's example instance.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "configdrive/reproducible.h"
#include "core/instance.h"
#include "core/metadata.h"
#include "core/testdata.h"

namespace metastack::configdrive::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("configdrive-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  // Every entry of the directory, temporary files included.
  std::vector<std::string> Entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      out.push_back(e.path().filename().string());
    return out;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::filesystem::path dir_;
};

inline core::Instance ExampleInstance() {
  auto inst = core::ParseInstanceJson(core::testing::ExampleDocument());
  EXPECT_TRUE(inst.has_value());
  return *inst;
}

// Nova's whole file set for the example instance, random_seed from a fixed build seed.
inline std::vector<core::DriveFile> ExampleFiles(const std::string& seed = "test-seed") {
  core::Instance inst = ExampleInstance();
  return core::ConfigDriveFiles(inst, core::Settings{}, SeededRandom(seed, inst.uuid));
}

inline constexpr int64_t kCreatedAt = 1714979289;  // 2024-05-06T07:08:09Z

}  // namespace metastack::configdrive::testing
