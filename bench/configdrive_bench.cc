// Config drive build time: our in-process writers vs the way Nova does it (render the tree into
// a temporary directory, run one genisoimage process per drive, remove the tree).
//
//   configdrive_bench MODE COUNT INSTANCE.json WORKDIR
//
// MODE:
//   iso, vfat              render + ImageWriter::Write (temp file, fsync, rename), as the CLI
//   iso-memory, vfat-memory  render + ImageWriter::Build only (the image stays in memory)
//   render                 render only (what every other mode includes)
//   genisoimage            render + WriteTree + genisoimage with nova.virt.configdrive's flags
//                          + remove the tree (no fsync: Nova does none)
// Every drive is rendered (core::ConfigDriveFiles) inside the timed region, in every mode, with
// a fresh seeded random_seed, so the modes differ only in how the image is made. Prints one
// line: mode, count, total seconds, median / p99 / mean milliseconds per drive, drives per
// second. bench/configdrive_bench.sh runs all modes and computes the ratios.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "base/file.h"
#include "configdrive/image_writer.h"
#include "configdrive/reproducible.h"
#include "configdrive/tree_writer.h"
#include "core/instance.h"
#include "core/metadata.h"

extern char** environ;

namespace {

using namespace metastack;
namespace fs = std::filesystem;

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "configdrive_bench: " << message << "\n";
  std::exit(1);
}

// genisoimage as nova.virt.configdrive.ConfigDriveBuilder._make_iso9660 runs it.
void RunGenisoimage(const std::string& out, const std::string& tree) {
  std::vector<std::string> args = {"genisoimage",
                                   "-o",
                                   out,
                                   "-ldots",
                                   "-allow-lowercase",
                                   "-allow-multidot",
                                   "-l",
                                   "-publisher",
                                   "metastack",
                                   "-quiet",
                                   "-J",
                                   "-r",
                                   "-V",
                                   "config-2",
                                   tree};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // genisoimage warns "not conform to ISO-9660" (it is -l and friends) even with -quiet.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, "genisoimage", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) Die("cannot run genisoimage");
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("genisoimage failed");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) Die("usage: configdrive_bench MODE COUNT INSTANCE.json WORKDIR");
  const std::string mode = argv[1];
  const int count = std::stoi(argv[2]);
  const fs::path work = argv[4];
  auto text = ReadFile(argv[3]);
  if (!text) Die(text.error().ToString());
  auto inst = core::ParseInstance(*text);
  if (!inst) Die(inst.error().ToString());
  const core::Settings settings;
  auto timestamp = configdrive::BuildTime(inst->created_at);
  if (!timestamp) Die(timestamp.error().ToString());
  configdrive::ImageOptions options;
  options.timestamp = *timestamp;

  const bool memory = mode.ends_with("-memory");
  const std::string format = mode.substr(0, mode.find('-'));
  std::unique_ptr<configdrive::ImageWriter> writer;
  if (format == "iso" || format == "vfat") {
    auto w = configdrive::NewImageWriter(format, options, uint64_t{64} << 20);
    if (!w) Die(w.error().ToString());
    writer = std::move(*w);
  } else if (mode != "genisoimage" && mode != "render") {
    Die("unknown mode " + mode);
  }

  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(count));
  const std::string image = (work / ("drive." + format)).string();
  const std::string tree = (work / "tree").string();
  auto start_all = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto files = core::ConfigDriveFiles(
        *inst, settings, configdrive::SeededRandom("bench-" + std::to_string(i), inst->uuid));
    if (mode == "render") {
      if (files.empty()) Die("nothing rendered");
    } else if (writer && memory) {
      auto built = writer->Build(files);
      if (!built) Die(built.error().ToString());
    } else if (writer) {
      if (auto st = writer->Write(files, image); !st) Die(st.error().ToString());
    } else {
      if (auto st = configdrive::WriteTree(files, tree); !st) Die(st.error().ToString());
      RunGenisoimage(image, tree);
      fs::remove_all(tree);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_all).count();
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
  };
  std::printf(
      "mode=%s count=%d total_s=%.3f median_ms=%.3f p99_ms=%.3f mean_ms=%.3f "
      "drives_per_s=%.1f image_bytes=%ju\n",
      mode.c_str(), count, total, pct(0.5), pct(0.99),
      std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size()), count / total,
      static_cast<uintmax_t>(memory || !fs::exists(image) ? 0 : fs::file_size(image)));
  return 0;
}
