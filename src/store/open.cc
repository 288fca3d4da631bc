#include "store/memory_store.h"
#include "store/store.h"

namespace metastack::store {

Result<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  if (url == "memory:" || url == "memory") return NewMemoryStore();
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                   "unsupported store URL (expected memory:, sqlite:PATH or "
                                   "postgresql://...): " + url));
}

}  // namespace metastack::store
