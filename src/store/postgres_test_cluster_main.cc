// pg_test_cluster: one throwaway PostgreSQL cluster for a whole CTest run (the `postgres`
// fixture in src/store/CMakeLists.txt).
//   pg_test_cluster start STATE   initdb, start, write STATE; the cluster is stopped by `stop`,
//                                 or by its watchdog when this command's parent (CTest) ends
//   pg_test_cluster stop STATE    stop it and remove its directory and STATE
#include <unistd.h>

#include <cstdio>
#include <string>

#include "store/postgres_test_cluster.h"

int main(int argc, char** argv) {
  using metastack::store::testing::PostgresTestCluster;
  std::string verb = argc == 3 ? argv[1] : "";
  if (verb != "start" && verb != "stop") {
    std::fprintf(stderr, "usage: pg_test_cluster start|stop STATE_FILE\n");
    return 2;
  }
  auto done = verb == "start" ? PostgresTestCluster::StartDetached(argv[2], getppid())
                              : PostgresTestCluster::StopDetached(argv[2]);
  if (!done) {
    std::fprintf(stderr, "pg_test_cluster %s: %s\n", verb.c_str(), done.error().ToString().c_str());
    return 1;
  }
  return 0;
}
