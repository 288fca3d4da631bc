#pragma once
// The Store in memory: the reference semantics, and the fake the services' tests use.
// Thread-safe (one mutex); nothing survives the process.

#include <memory>

#include "store/store.h"

namespace metastack::store {

std::unique_ptr<Store> NewMemoryStore();

}  // namespace metastack::store
