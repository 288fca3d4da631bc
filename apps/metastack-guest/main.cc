// metastack-guest: reads this instance's metadata and applies it (apps/metastack-guest).
#include <cstdio>

int main() {
  std::puts("metastack-guest: not yet built");
  return 1;
}
