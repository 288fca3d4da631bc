#pragma once
// The wire side of the metadata service's client (guest/service.h): reading one HTTP/1.1 answer
// from a connected non-blocking socket under a deadline (status line, headers, a body framed by
// Content-Length, chunked coding or the end of the stream), and the failure of one attempt.
// Internal to guest/; thread-compatible.

#include <chrono>
#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

#include "base/error.h"
#include "guest/service.h"

namespace metastack::guest {

// Why one attempt got no answer: `reason` without the URL ("connection refused"), and whether
// another attempt may do better (not for a body over the cap).
struct Failure {
  ErrorCode code = ErrorCode::kUnavailable;
  std::string reason;
  bool retry = true;
};

std::unexpected<Failure> Fail(ErrorCode code, std::string reason, bool retry = true);

// kUnavailable with strerror(err) as a sentence fragment: "connection refused".
std::unexpected<Failure> SystemFailure(int err);

// poll(2) for `events` until `deadline`: 1 ready, 0 the deadline passed, -1 failed (errno).
int WaitFor(int fd, short events, std::chrono::steady_clock::time_point deadline);

// Buffered reads from `fd`, each failing with kTimeout `timeout_reason` once `deadline` passes.
class AnswerReader {
 public:
  AnswerReader(int fd, std::chrono::steady_clock::time_point deadline, std::string timeout_reason);

  // The next line without its CRLF (or bare LF); a line longer than `limit` bytes is a
  // malformed answer, `too_long` saying why.
  std::expected<std::string, Failure> Line(size_t limit, std::string_view too_long);
  // Appends exactly `n` more bytes to `out`.
  std::expected<void, Failure> Take(size_t n, std::string& out);
  // Appends everything up to the end of the stream to `out`; kTooLarge past `cap` bytes in all.
  std::expected<void, Failure> Rest(std::string& out, size_t cap);

 private:
  // More bytes into buf_; false at the end of the stream.
  std::expected<bool, Failure> Fill();
  std::unexpected<Failure> Closed() const;

  int fd_;
  std::chrono::steady_clock::time_point deadline_;
  std::string timeout_reason_;
  std::string buf_;
  size_t pos_ = 0;
  bool received_ = false;
};

// The final answer (1xx interim answers are skipped), its body at most `max_body` bytes (else a
// kTooLarge failure that is not retried). A malformed answer is a kUnavailable failure.
std::expected<HttpAnswer, Failure> ReadAnswer(AnswerReader& in, bool head_request, size_t max_body);

}  // namespace metastack::guest
