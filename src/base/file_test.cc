#include "base/file.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace metastack {
namespace {

// Answers never share bytes: across many draws of the sizes the API asks for (and sizes that
// straddle a refill of the per-thread buffer, or bypass it) no 32-byte window repeats, and no
// draw comes back all zero (the buffer wipes what it hands out, so a reuse would show as zeros).
TEST(BufferedSystemRandomTest, EveryDrawIsFresh) {
  std::set<std::string> seen;
  for (size_t size : {512u, 512u, 100u, 7u, 4000u, 5000u, 512u, 16384u, 512u}) {
    for (int i = 0; i < 40; ++i) {
      std::vector<uint8_t> out(size, 0);
      BufferedSystemRandom(out);
      if (size >= 32) {
        EXPECT_TRUE(seen.insert(std::string(out.begin(), out.begin() + 32)).second) << size;
        EXPECT_NE(std::string(out.begin(), out.end()), std::string(size, '\0')) << size;
      }
    }
  }
}

}  // namespace
}  // namespace metastack
