#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "store/memory_store.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "store/store_url.h"

namespace metastack::store {
namespace {

// The SQLite file's directory must exist: SQLite creates the file, not its directory, and says
// only "unable to open database file" when the directory is missing. The default store's
// directory is ours to make; another one may be a typo, so it is named instead.
Status PrepareSqliteDirectory(const std::string& url, const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) return {};
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) return {};
  if (url != kDefaultStoreUrl)
    return std::unexpected(
        MakeError(ErrorCode::kNotFound, url + ": the directory " + dir.string() +
                                            " does not exist (create it first; only the default "
                                            "store's directory is created for you)"));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return std::unexpected(MakeError(
        ErrorCode::kInternal,
        url + ": cannot create the directory " + dir.string() + ": " + std::strerror(errno)));
  return {};
}

}  // namespace

Result<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  if (url == "memory:" || url == "memory") return NewMemoryStore();
  if (url.starts_with("sqlite:")) {
    std::string path = url.substr(7);
    METASTACK_RETURN_IF_ERROR(PrepareSqliteDirectory(url, path));
    return OpenSqliteStore(path);
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    auto store = OpenPostgresStore(url);
    if (!store)
      return std::unexpected(
          MakeError(store.error().code,
                    RedactedStoreUrl(url) + ": " + WithoutSecrets(store.error().message, url)));
    return store;
  }
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                   "unsupported store URL (expected memory:, sqlite:PATH or "
                                   "postgresql://...): " +
                                       RedactedStoreUrl(url)));
}

}  // namespace metastack::store
