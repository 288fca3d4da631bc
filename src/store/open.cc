#include "store/memory_store.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace metastack::store {

Result<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  if (url == "memory:" || url == "memory") return NewMemoryStore();
  if (url.starts_with("sqlite:")) return OpenSqliteStore(url.substr(7));
  if (url.starts_with("postgresql://") || url.starts_with("postgres://"))
    return OpenPostgresStore(url);
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                   "unsupported store URL (expected memory:, sqlite:PATH or "
                                   "postgresql://...): " +
                                       url));
}

}  // namespace metastack::store
