#pragma once
// The contract every Store implementation passes. A backend joins with
//   INSTANTIATE_TEST_SUITE_P(Name, StoreContractTest, ::testing::Values(StoreFactory{...}));
// where `make` returns a fresh, empty store each call.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "core/testdata.h"
#include "store/store.h"

namespace metastack::store::testing {

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<Store>()> make;
};

inline void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam().make();
    ASSERT_TRUE(store_);
  }
  void TearDown() override { store_.reset(); }

  std::unique_ptr<Store> store_;
};

// Uuids the store tests use: kU1.. and Uuid(n) for the nth of many.
inline constexpr char kU1[] = "00000000-0000-4000-8000-000000000001";
inline constexpr char kU2[] = "00000000-0000-4000-8000-000000000002";
inline constexpr char kU3[] = "00000000-0000-4000-8000-000000000003";
std::string Uuid(int n);

using core::testing::InstanceWithPort;

}  // namespace metastack::store::testing
