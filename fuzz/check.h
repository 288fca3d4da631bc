#pragma once
// What every fuzz target shares: FUZZ_CHECK, an invariant that aborts with a message when it
// does not hold (libFuzzer then saves the input as a crash; the replay binary fails its test).
// Not assert(): the fuzz build defines NDEBUG.

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace metastack::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* cond, std::string_view why) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n  %.*s\n", file, line, cond,
               static_cast<int>(why.size()), why.data());
  std::abort();
}

}  // namespace metastack::fuzz

#define FUZZ_CHECK(cond, why)                                               \
  do {                                                                      \
    if (!(cond)) ::metastack::fuzz::Fail(__FILE__, __LINE__, #cond, (why)); \
  } while (0)
