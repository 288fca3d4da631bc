// Rendering cost of the documents the metadata service serves, and of a whole drive's file set.
// Compared with Nova's own figure (reference/nova.md: ~4 ms to render a drive) in RESULTS.md.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "core/instance.h"
#include "core/metadata.h"

namespace {

using namespace metastack::core;

void FastRandom(std::span<uint8_t> out) {
  static uint64_t state = 0x9e3779b97f4a7c15ull;
  for (auto& b : out) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    b = static_cast<uint8_t>(state);
  }
}

const Instance& Example() {
  static Instance inst = [] {
    std::ifstream in(METASTACK_SOURCE_DIR "/examples/instance.json");
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = ParseInstance(ss.str());
    if (!parsed) std::abort();
    return *parsed;
  }();
  return inst;
}

void BM_Path(benchmark::State& state, const char* path) {
  Settings settings;
  RenderContext ctx{Delivery::kService, "10.0.0.5", FastRandom};
  for (auto _ : state) {
    auto doc = Lookup(Example(), path, settings, ctx);
    benchmark::DoNotOptimize(doc);
  }
}
BENCHMARK_CAPTURE(BM_Path, meta_data, "/openstack/latest/meta_data.json");
BENCHMARK_CAPTURE(BM_Path, network_data, "/openstack/latest/network_data.json");
BENCHMARK_CAPTURE(BM_Path, ec2_listing, "/latest/meta-data/");
BENCHMARK_CAPTURE(BM_Path, ec2_leaf, "/latest/meta-data/instance-id");

void BM_ConfigDriveFiles(benchmark::State& state) {
  Settings settings;
  for (auto _ : state) {
    auto files = ConfigDriveFiles(Example(), settings, FastRandom);
    benchmark::DoNotOptimize(files);
  }
}
BENCHMARK(BM_ConfigDriveFiles);

void BM_ParseInstance(benchmark::State& state) {
  std::string text = InstanceToJson(Example()).dump();
  for (auto _ : state) {
    auto inst = ParseInstance(text);
    benchmark::DoNotOptimize(inst);
  }
}
BENCHMARK(BM_ParseInstance);

}  // namespace

BENCHMARK_MAIN();
