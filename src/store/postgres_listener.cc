#include "store/postgres_listener.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "base/log.h"

namespace metastack::store::pg {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::optional<Change> ParseChangePayload(std::string_view payload) {
  size_t first = payload.find(' ');
  size_t second = first == std::string_view::npos ? first : payload.find(' ', first + 1);
  size_t last = payload.rfind(' ');
  if (second == std::string_view::npos || last <= second) return std::nullopt;
  Change change;
  std::string_view revision = payload.substr(0, first);
  auto [end, ec] =
      std::from_chars(revision.data(), revision.data() + revision.size(), change.revision);
  if (ec != std::errc() || end != revision.data() + revision.size()) return std::nullopt;
  std::string_view kind = payload.substr(first + 1, second - first - 1);
  std::optional<Change::Kind> parsed = internal::KindFromName(kind);
  if (!parsed) return std::nullopt;
  change.kind = *parsed;
  change.id = std::string(payload.substr(second + 1, last - second - 1));
  std::string_view deleted = payload.substr(last + 1);
  if (deleted != "0" && deleted != "1") return std::nullopt;
  change.deleted = deleted == "1";
  if (change.id.empty()) return std::nullopt;  // reserved for "flush all"
  return change;
}

Listener::Listener(ConnParams params, internal::ChangeHub& hub)
    : params_(std::move(params)), hub_(hub), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Listener::~Listener() {
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Listener::Start() {
  std::unique_lock lock(mu_);
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  first_attempt_cv_.wait(lock, [&] { return first_attempt_done_; });
}

void Listener::MarkFirstAttemptDone() {
  std::lock_guard lock(mu_);
  if (first_attempt_done_) return;
  first_attempt_done_ = true;
  first_attempt_cv_.notify_all();
}

Listener::Wake Listener::WaitFor(int fd, short events, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {fd, events, 0}};
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    int timeout_ms =
        timeout.count() < 0 ? -1 : static_cast<int>(std::max<int64_t>(left.count(), 0));
    int n = poll(fds, fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[0].revents) return Wake::kStop;  // a broken poll() must not spin
    if (n == 0) return Wake::kTimeout;
    return Wake::kReady;  // readiness or POLLHUP/POLLERR: libpq tells which
  }
}

PGconn* Listener::Connect(int64_t* revision, std::string* why) {
  PGconn* conn = params_.StartConnect();
  if (!conn) {
    *why = ConnectError(nullptr).message;
    return nullptr;
  }
  // libpq does not apply connect_timeout to non-blocking connects; apply it here.
  int seconds = params_.connect_timeout_seconds() > 0 ? params_.connect_timeout_seconds() : 10;
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
  Wake wake = Wake::kReady;
  while (PQstatus(conn) != CONNECTION_BAD && poll_status != PGRES_POLLING_OK &&
         poll_status != PGRES_POLLING_FAILED) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    wake = left.count() <= 0
               ? Wake::kTimeout
               : WaitFor(PQsocket(conn), poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                         left);
    if (wake != Wake::kReady) break;
    poll_status = PQconnectPoll(conn);
  }
  if (poll_status == PGRES_POLLING_OK && PQstatus(conn) == CONNECTION_OK) {
    Session session(conn);
    auto listen = session.Exec("LISTEN metastack_changes");
    auto current = listen ? session.Exec("SELECT value FROM store_revision")
                          : Result<Rows>(std::unexpected(listen.error()));
    if (current && !current->empty()) {
      *revision = current->Int(0, 0);
      return conn;
    }
    *why = current ? "postgresql: no store revision" : current.error().message;
  } else if (wake == Wake::kTimeout) {
    *why = "postgresql: cannot connect: timeout expired";
  } else if (wake == Wake::kReady) {
    *why = ConnectError(conn).message;
  }  // kStop: the Listener is going, nothing to report
  PQfinish(conn);
  return nullptr;
}

bool Listener::Pump(PGconn* conn) {
  while (true) {
    if (PQsocket(conn) < 0) return true;
    Wake wake = WaitFor(PQsocket(conn), POLLIN, milliseconds(-1));
    if (wake == Wake::kStop) return false;
    if (!PQconsumeInput(conn)) return true;
    while (PGnotify* notify = PQnotifies(conn)) {
      std::optional<Change> change = ParseChangePayload(notify->extra);
      PQfreemem(notify);
      if (change) hub_.Publish(*change);
    }
    if (PQstatus(conn) != CONNECTION_OK) return true;
  }
}

void Listener::Run() {
  // Every connection but a first attempt that succeeds follows a gap in the feed.
  bool may_have_missed = false;
  bool failing = false;  // one log line per streak of failed connects, not one per attempt
  milliseconds backoff(100);
  while (true) {
    int64_t revision = 0;
    std::string why;
    PGconn* conn = Connect(&revision, &why);
    MarkFirstAttemptDone();
    if (!conn) {
      if (!failing && !why.empty()) LogWarning("store", "change feed: " + why + " (retrying)");
      failing = failing || !why.empty();
      may_have_missed = true;
      if (WaitFor(-1, 0, backoff) == Wake::kStop) return;
      backoff = std::min(backoff * 2, milliseconds(5000));
      continue;
    }
    if (failing) LogInfo("store", "postgresql: change feed resumed");
    failing = false;
    backoff = milliseconds(100);
    if (may_have_missed) hub_.Publish(Change{revision, Change::Kind::kInstance, "", false});
    may_have_missed = true;
    bool lost = Pump(conn);
    PQfinish(conn);
    if (!lost) return;
  }
}

}  // namespace metastack::store::pg
