// Latency of the metadata agent's lookups (FindPortOnNetwork, FindPortOnRouter) and of
// GetInstance against stores holding 1 .. 100,000 instances, memory vs SQLite. Each lookup is
// timed on its own (steady_clock) and the run reports p50/p99/max as counters: the claim under
// test is that the SQLite store's p99 stays flat as the population grows (indexed, O(log n)).
//
// Population: 16 networks, 4 per router; instance i has one port with a globally unique IP on
// network i % 16, so router lookups are never ambiguous. SQLite is populated in one transaction
// (BulkCreateInstancesForTesting); the memory store through CreateInstance.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "store/memory_store.h"
#include "store/sqlite_store.h"

namespace {

using namespace metastack;
using Clock = std::chrono::steady_clock;

constexpr int kNetworks = 16;
constexpr int kNetworksPerRouter = 4;

std::string NetworkOf(int i) { return "net-" + std::to_string(i % kNetworks); }
std::string RouterOf(int i) { return "router-" + std::to_string(i % kNetworks / kNetworksPerRouter); }
std::string IpOf(int i) {
  return "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
         std::to_string(i & 255);
}
std::string UuidOf(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012d", i * 2654435761u, i);
  return buf;
}

// A document of realistic shape: one port, metadata, a key, user data.
core::Instance MakeInstance(int i) {
  std::string uuid = UuidOf(i);
  core::Json doc = {
      {"uuid", uuid},
      {"name", "vm-" + std::to_string(i)},
      {"hostname", "vm-" + std::to_string(i)},
      {"project_id", "project-" + std::to_string(i % 97)},
      {"user_id", "user-1"},
      {"public_keys", {{"default", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9v bench"}}},
      {"meta", {{"role", "web"}, {"tier", "frontend"}}},
      {"user_data", "#cloud-config\npackages: [nginx]\n"},
      {"ports",
       {{{"id", "port-" + uuid},
         {"mac", "fa:16:3e:00:00:01"},
         {"network_id", NetworkOf(i)},
         {"router_id", RouterOf(i)},
         {"subnets",
          {{{"cidr", "10.0.0.0/8"}, {"gateway_ip", "10.0.0.1"}, {"ip_address", IpOf(i)}}}}}}}};
  auto inst = core::ParseInstanceJson(doc);
  if (!inst) {
    std::fprintf(stderr, "bad bench document: %s\n", inst.error().ToString().c_str());
    std::abort();
  }
  return *inst;
}

// kSqliteNoMmap: the SQLite store with reader_mmap_bytes = 0, to show what mmap buys.
enum class Backend { kMemory, kSqlite, kSqliteNoMmap };
const char* Name(Backend b) {
  switch (b) {
    case Backend::kMemory: return "memory";
    case Backend::kSqlite: return "sqlite";
    case Backend::kSqliteNoMmap: return "sqlite-nommap";
  }
  return "?";
}

std::string& ScratchDir() {
  static std::string dir = [] {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/metastack-store-bench-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    return tmpl;
  }();
  return dir;
}

void Die(const char* what, const Error& error) {
  std::fprintf(stderr, "%s: %s\n", what, error.ToString().c_str());
  std::abort();
}

// The store for (backend, n), built once and kept while consecutive benchmarks use it.
store::Store& Populated(Backend backend, int n) {
  static Backend current_backend;
  static int current_n = -1;
  static std::unique_ptr<store::Store> current;
  if (current && current_backend == backend && current_n == n) return *current;
  current.reset();
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(ScratchDir(), ignored))
    std::filesystem::remove(entry.path(), ignored);

  auto started = Clock::now();
  if (backend == Backend::kMemory) {
    current = store::NewMemoryStore();
  } else {
    store::SqliteOptions options;
    if (backend == Backend::kSqliteNoMmap) options.reader_mmap_bytes = 0;
    auto opened =
        store::OpenSqliteStore(ScratchDir() + "/bench-" + std::to_string(n) + ".db", options);
    if (!opened) Die("open", opened.error());
    current = std::move(*opened);
  }
  for (int r = 0; r < kNetworks / kNetworksPerRouter; ++r)
    if (auto c = current->CreateRouter({RouterOf(r * kNetworksPerRouter), "", "admin", 0}); !c)
      Die("router", c.error());
  for (int k = 0; k < kNetworks; ++k)
    if (auto c = current->CreateNetwork({NetworkOf(k), "", "admin", RouterOf(k), 0}); !c)
      Die("network", c.error());
  std::vector<core::Instance> instances;
  instances.reserve(static_cast<size_t>(n));
  for (int i = 1; i <= n; ++i) instances.push_back(MakeInstance(i));
  if (backend != Backend::kMemory) {
    if (auto s = store::BulkCreateInstancesForTesting(*current, instances); !s)
      Die("populate", s.error());
  } else {
    for (const auto& inst : instances)
      if (auto c = current->CreateInstance(inst); !c) Die("populate", c.error());
  }
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::fprintf(stderr, "populated %s with %d instances in %.2f s\n", Name(backend), n, seconds);
  current_backend = backend;
  current_n = n;
  return *current;
}

using Lookup = std::function<bool(store::Store&, int)>;

void Measure(benchmark::State& state, Backend backend, int n, const Lookup& lookup) {
  store::Store& store = Populated(backend, n);
  std::vector<double> samples;
  uint64_t x = 0x9e3779b97f4a7c15ull;  // xorshift: uniform probes over the population
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int i = 1 + static_cast<int>(x % static_cast<uint64_t>(n));
    auto t0 = Clock::now();
    bool found = lookup(store, i);
    auto elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!found) {
      state.SkipWithError("lookup failed");
      break;
    }
    state.SetIterationTime(elapsed);
    samples.push_back(elapsed * 1e6);
  }
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) { return samples[static_cast<size_t>(q * double(samples.size() - 1))]; };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["max_us"] = samples.back();
}

const std::pair<const char*, Lookup> kLookups[] = {
    {"FindPortOnNetwork",
     [](store::Store& s, int i) { return s.FindPortOnNetwork(NetworkOf(i), IpOf(i)).has_value(); }},
    {"FindPortOnRouter",
     [](store::Store& s, int i) { return s.FindPortOnRouter(RouterOf(i), IpOf(i)).has_value(); }},
    {"GetInstance", [](store::Store& s, int i) { return s.GetInstance(UuidOf(i)).has_value(); }},
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // The memory store (a test fake) checks IPs and looks ports up by scanning every instance, so
  // populating it is O(n^2): 100,000 would take tens of minutes. It stops at 10,000.
  const std::pair<Backend, std::vector<int>> kRuns[] = {
      {Backend::kMemory, {1, 1000, 10000}},
      {Backend::kSqlite, {1, 1000, 10000, 100000}},
      {Backend::kSqliteNoMmap, {1, 100000}},
  };
  for (const auto& [backend, sizes] : kRuns)
    for (int n : sizes)
      for (const auto& [name, lookup] : kLookups) {
        std::string label = std::string(name) + "/" + Name(backend) + "/" + std::to_string(n);
        benchmark::RegisterBenchmark(label.c_str(),
                                     [backend, n, &lookup = lookup](benchmark::State& state) {
                                       Measure(state, backend, n, lookup);
                                     })
            ->UseManualTime()
            ->MinTime(1.0)
            ->Unit(benchmark::kMicrosecond);
      }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ignored;
  std::filesystem::remove_all(ScratchDir(), ignored);
  return 0;
}
