// Latency of the metadata agent's lookups (FindPortOnNetwork, FindPortOnRouter) and of
// GetInstance against stores holding 1 .. 1,000,000 instances: memory (to 10,000), SQLite and
// PostgreSQL (when METASTACK_BENCH_POSTGRES names a server: a libpq URI of a database the bench
// may empty; bench/store_bench.sh starts a throwaway cluster and sets it). Each lookup is timed
// on its own (steady_clock) and the run reports p50/p99/max as counters: the claim under test
// is that the SQLite and PostgreSQL stores' p99 stays flat as the population grows (indexed,
// O(log n)).
//
// Writes: ReplaceInstance on the 1,000-instance SQLite store, each its own fsync'd transaction
// (what the admin API does per edit), and the bulk population's time per instance (no fsync per
// row: the CPU cost of a write).
//
// Feed latency (FeedLatency/sqlite/cross-process): a child process (this binary, re-executed
// with --feed-writer) replaces an instance 200 times on the same file; this process, subscribed,
// records when each revision is announced. Latency = announce time - the time the child's write
// returned (steady_clock is CLOCK_MONOTONIC, shared by processes). FeedIdle/sqlite: the CPU an
// idle subscribed process spends polling.
//
// Population: 16 networks, 4 per router; instance i has one port with a globally unique IP on
// network i % 16, so router lookups are never ambiguous. SQLite is populated in
// transactions of 50,000 instances with CreateInstance's checks (BulkCreateInstancesForTesting)
// and PostgreSQL in set-based batches of 10,000 with the schema's constraints
// (PostgresBulkCreateInstancesForTesting); the memory store through CreateInstance. A store grows
// from one size to the next (instances n+1 .. m added): each size's population time is printed
// to stderr, as the time to add the step and the total.
#include <benchmark/benchmark.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/memory_store.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace {

using namespace metastack;
using Clock = std::chrono::steady_clock;

constexpr int kNetworks = 16;
constexpr int kNetworksPerRouter = 4;

std::string NetworkOf(int i) { return "net-" + std::to_string(i % kNetworks); }
std::string RouterOf(int i) {
  return "router-" + std::to_string(i % kNetworks / kNetworksPerRouter);
}
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
enum class Backend { kMemory, kSqlite, kSqliteNoMmap, kPostgres };
const char* Name(Backend b) {
  switch (b) {
    case Backend::kMemory:
      return "memory";
    case Backend::kSqlite:
      return "sqlite";
    case Backend::kSqliteNoMmap:
      return "sqlite-nommap";
    case Backend::kPostgres:
      return "postgres";
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

const char* PostgresUri() {
  const char* uri = getenv("METASTACK_BENCH_POSTGRES");
  return uri && *uri ? uri : nullptr;
}

// Empties the bench's PostgreSQL database (the store migrates it afresh on open).
void ResetPostgres() {
  PGconn* conn = PQconnectdb(PostgresUri());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "postgres: %s", PQerrorMessage(conn));
    std::abort();
  }
  PGresult* r = PQexec(conn, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "postgres reset: %s", PQerrorMessage(conn));
    std::abort();
  }
  PQclear(r);
  PQfinish(conn);
}

// Instances per transaction (PostgreSQL's bulk path is a few set-based statements per batch,
// its JSON parameters ~2 KiB per instance).
constexpr int kBatch = 50'000;
constexpr int kPostgresBatch = 10'000;

// Adds instances from+1 .. to.
void Grow(Backend backend, store::Store& store, int from, int to) {
  const int batch = backend == Backend::kPostgres ? kPostgresBatch : kBatch;
  for (int start = from + 1; start <= to; start += batch) {
    int end = std::min(to, start + batch - 1);
    std::vector<core::Instance> instances;
    instances.reserve(static_cast<size_t>(end - start + 1));
    for (int i = start; i <= end; ++i) instances.push_back(MakeInstance(i));
    Status s = Ok();
    if (backend == Backend::kPostgres)
      s = store::PostgresBulkCreateInstancesForTesting(store, instances);
    else if (backend != Backend::kMemory)
      s = store::BulkCreateInstancesForTesting(store, instances);
    else
      for (const auto& inst : instances)
        if (auto c = store.CreateInstance(inst); !c) s = std::unexpected(c.error());
    if (!s) Die("populate", s.error());
  }
}

// The store for (backend, n), built once and kept while consecutive benchmarks use it; a larger
// n of the same backend grows it.
store::Store& Populated(Backend backend, int n) {
  static Backend current_backend;
  static int current_n = -1;
  static double total_seconds = 0;
  static std::unique_ptr<store::Store> current;
  if (current && current_backend == backend && current_n == n) return *current;
  auto started = Clock::now();
  if (!current || current_backend != backend || current_n > n) {
    current.reset();
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(ScratchDir(), ignored))
      std::filesystem::remove(entry.path(), ignored);
    if (backend == Backend::kMemory) {
      current = store::NewMemoryStore();
    } else if (backend == Backend::kPostgres) {
      ResetPostgres();
      auto opened = store::OpenPostgresStore(PostgresUri());
      if (!opened) Die("open", opened.error());
      current = std::move(*opened);
    } else {
      store::SqliteOptions options;
      if (backend == Backend::kSqliteNoMmap) options.reader_mmap_bytes = 0;
      auto opened = store::OpenSqliteStore(ScratchDir() + "/bench.db", options);
      if (!opened) Die("open", opened.error());
      current = std::move(*opened);
    }
    for (int r = 0; r < kNetworks / kNetworksPerRouter; ++r)
      if (auto c = current->CreateRouter({RouterOf(r * kNetworksPerRouter), "", "admin", 0, ""});
          !c)
        Die("router", c.error());
    for (int k = 0; k < kNetworks; ++k)
      if (auto c = current->CreateNetwork({NetworkOf(k), "", "admin", RouterOf(k), 0, ""}); !c)
        Die("network", c.error());
    current_n = 0;
    total_seconds = 0;
  }
  int from = current_n;
  Grow(backend, *current, from, n);
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  total_seconds += seconds;
  std::fprintf(stderr, "populated %s with %d instances: +%d in %.2f s, %.2f s in all\n",
               Name(backend), n, n - from, seconds, total_seconds);
  current_backend = backend;
  current_n = n;
  return *current;
}

using Lookup = std::function<bool(store::Store&, int)>;

void Percentiles(benchmark::State& state, std::vector<double> samples) {
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) { return samples[static_cast<size_t>(q * double(samples.size() - 1))]; };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["max_us"] = samples.back();
}

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
  Percentiles(state, std::move(samples));
}

// Replaces instance i with a changed "meta" each iteration; only ReplaceInstance is timed.
void MeasureWrites(benchmark::State& state, int n) {
  store::Store& store = Populated(Backend::kSqlite, n);
  std::vector<double> samples;
  int i = 0;
  for (auto _ : state) {
    core::Instance inst = MakeInstance(1 + i % n);
    inst.meta.emplace_back("edit", std::to_string(i++));
    auto t0 = Clock::now();
    auto replaced = store.ReplaceInstance(inst, std::nullopt);
    auto elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!replaced) {
      state.SkipWithError(replaced.error().ToString().c_str());
      break;
    }
    state.SetIterationTime(elapsed);
    samples.push_back(elapsed * 1e6);
  }
  Percentiles(state, std::move(samples));
}

constexpr int kFeedWrites = 200;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The child's side: `kFeedWrites` replaces of instance 1 on `path`, each answered on stdout as
// "<revision> <ns when it returned>", each after the parent's go-ahead byte on stdin.
int FeedWriter(const std::string& path) {
  auto opened = store::OpenSqliteStore(path);
  if (!opened) Die("feed writer open", opened.error());
  char go;
  for (int i = 0; i < kFeedWrites && read(0, &go, 1) == 1; ++i) {
    core::Instance inst = MakeInstance(1);
    inst.ports[0].router_id.reset();
    inst.meta.emplace_back("edit", std::to_string(i));
    auto replaced = (*opened)->ReplaceInstance(inst, std::nullopt);
    int64_t returned = NowNs();
    if (!replaced) Die("feed writer", replaced.error());
    std::printf("%lld %lld\n", static_cast<long long>(replaced->revision),
                static_cast<long long>(returned));
    std::fflush(stdout);
  }
  return 0;
}

void MeasureFeedLatency(benchmark::State& state) {
  std::string path = ScratchDir() + "/feed.db";
  auto opened = store::OpenSqliteStore(path);
  if (!opened) Die("open", opened.error());
  store::Store& store = **opened;
  (void)store.CreateNetwork({NetworkOf(1), "", "admin", std::nullopt, 0, ""});
  core::Instance first = MakeInstance(1);
  first.ports[0].router_id.reset();
  if (auto c = store.CreateInstance(first); !c) Die("create", c.error());

  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, int64_t> announced;  // revision -> ns
  auto subscription = store.Subscribe([&](const store::Change& change) {
    int64_t now = NowNs();
    std::lock_guard lock(mu);
    announced.emplace(change.revision, now);
    cv.notify_all();
  });

  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) std::abort();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
  std::string self = std::filesystem::read_symlink("/proc/self/exe");
  std::string flag = "--feed-writer=" + path;
  char* argv[] = {self.data(), flag.data(), nullptr};
  pid_t pid;
  if (posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, environ) != 0) std::abort();
  close(to_child[0]);
  close(from_child[1]);
  FILE* lines = fdopen(from_child[0], "r");

  std::vector<double> samples;
  for (auto _ : state) {
    for (int i = 0; i < kFeedWrites; ++i) {
      if (write(to_child[1], "g", 1) != 1) std::abort();
      long long revision = 0, returned = 0;
      if (std::fscanf(lines, "%lld %lld", &revision, &returned) != 2) {
        state.SkipWithError("the writer process failed");
        break;
      }
      std::unique_lock lock(mu);
      if (!cv.wait_for(lock, std::chrono::seconds(10),
                       [&] { return announced.count(revision) != 0; })) {
        state.SkipWithError("a change was not announced within 10 s");
        break;
      }
      samples.push_back(double(announced[revision] - returned) / 1e3);
      state.SetIterationTime(double(announced[revision] - returned) / 1e9);
    }
  }
  close(to_child[1]);
  fclose(lines);
  int status;
  waitpid(pid, &status, 0);
  posix_spawn_file_actions_destroy(&actions);
  Percentiles(state, std::move(samples));
}

// What an idle subscribed process pays for the watcher: CPU time over 5 s of nothing else (the
// main thread sleeps), as a percentage of one core.
void MeasureFeedIdle(benchmark::State& state) {
  auto opened = store::OpenSqliteStore(ScratchDir() + "/idle.db");
  if (!opened) Die("open", opened.error());
  auto subscription = (*opened)->Subscribe([](const store::Change&) {});
  auto cpu = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  };
  for (auto _ : state) {
    double before = cpu();
    std::this_thread::sleep_for(std::chrono::seconds(5));
    state.counters["cpu_percent"] = (cpu() - before) / 5 * 100;
  }
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
  if (argc == 2 && std::strncmp(argv[1], "--feed-writer=", 14) == 0)
    return FeedWriter(argv[1] + 14);
  benchmark::Initialize(&argc, argv);
  // The memory store (a test fake) checks IPs and looks ports up by scanning every instance, so
  // populating it is O(n^2): 100,000 would take tens of minutes. It stops at 10,000.
  std::vector<std::pair<Backend, std::vector<int>>> runs = {
      {Backend::kMemory, {1, 1000, 10000}},
      {Backend::kSqlite, {1, 1000, 10000, 100000, 1000000}},
      {Backend::kSqliteNoMmap, {1, 100000}},
  };
  if (PostgresUri())
    runs.push_back({Backend::kPostgres, {1, 1000, 10000, 100000, 1000000}});
  else
    std::fprintf(stderr,
                 "METASTACK_BENCH_POSTGRES unset: no PostgreSQL runs "
                 "(bench/store_bench.sh sets it)\n");
  for (const auto& [backend, sizes] : runs)
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
  benchmark::RegisterBenchmark("Write/ReplaceInstance/sqlite/1000",
                               [](benchmark::State& state) { MeasureWrites(state, 1000); })
      ->UseManualTime()
      ->MinTime(2.0)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("FeedLatency/sqlite/cross-process", MeasureFeedLatency)
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("FeedIdle/sqlite", MeasureFeedIdle)->Iterations(1);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ignored;
  std::filesystem::remove_all(ScratchDir(), ignored);
  return 0;
}
