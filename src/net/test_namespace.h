#pragma once
// Test helper: a uniquely named network namespace that is deleted when the object dies, so a
// failed assertion never leaves one behind. Needs root; NeedRoot() skips the test otherwise.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "net/netns.h"

namespace metastack::net {

#define METASTACK_NEED_ROOT() \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, iptables)"

class TestNamespace {
 public:
  explicit TestNamespace(const std::string& tag = "t") {
    static std::atomic<int> counter{0};
    name_ = "mst-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    auto made = CreateNamespace(name_);
    EXPECT_TRUE(made) << made.error().ToString();
  }
  TestNamespace(const TestNamespace&) = delete;
  TestNamespace& operator=(const TestNamespace&) = delete;
  ~TestNamespace() {
    if (NamespaceExists(name_)) (void)DeleteNamespace(name_);
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

}  // namespace metastack::net
