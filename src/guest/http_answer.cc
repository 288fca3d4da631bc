#include "guest/http_answer.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>

#include "base/strings.h"

namespace metastack::guest {
namespace {

using Clock = std::chrono::steady_clock;

// The status line and headers together, and a chunk-size line: ample for any service, small
// enough that a broken one cannot make the guest buffer much.
constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxChunkLine = 1024;
constexpr size_t kReadSize = 64 * 1024;
constexpr std::string_view kHeadTooLong = "a head over 65536 bytes";
static_assert(kMaxHeadBytes == 65536);

std::unexpected<Failure> Malformed(std::string what) {
  return Fail(ErrorCode::kUnavailable, "malformed answer: " + std::move(what));
}

std::unexpected<Failure> TooLarge(size_t cap) {
  return Fail(ErrorCode::kTooLarge, "answer body over " + std::to_string(cap) + " bytes",
              /*retry=*/false);
}

// A whole string of digits in `base`, or nothing (overflow included).
std::optional<uint64_t> ParseNumber(std::string_view s, int base) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

struct Head {
  int status = 0;
  std::optional<uint64_t> content_length;
  bool chunked = false;
};

// "HTTP/1.1 200 OK": the status, or 0.
int ParseStatusLine(std::string_view line) {
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ' ||
      (line.size() > 12 && line[12] != ' '))
    return 0;
  auto status = ParseNumber(line.substr(9, 3), 10);
  return status && *status >= 100 ? static_cast<int>(*status) : 0;
}

std::expected<Head, Failure> ReadHead(AnswerReader& in) {
  size_t budget = kMaxHeadBytes;
  auto next_line = [&in, &budget]() -> std::expected<std::string, Failure> {
    auto line = in.Line(budget, kHeadTooLong);
    if (line) budget -= std::min(budget, line->size() + 2);
    return line;
  };
  for (;;) {
    auto status_line = next_line();
    if (!status_line) return std::unexpected(std::move(status_line).error());
    Head head;
    head.status = ParseStatusLine(*status_line);
    if (head.status == 0) return Malformed("status line '" + status_line->substr(0, 80) + "'");
    for (;;) {
      auto line = next_line();
      if (!line) return std::unexpected(std::move(line).error());
      if (line->empty()) break;
      size_t colon = line->find(':');
      std::string_view name = std::string_view(*line).substr(0, colon);
      if (colon == std::string::npos || name.empty() || name != TrimBlanks(name))
        return Malformed("header line '" + line->substr(0, 80) + "'");
      std::string_view value = TrimBlanks(std::string_view(*line).substr(colon + 1));
      if (EqualsIgnoreAsciiCase(name, "Content-Length")) {
        auto length = ParseNumber(value, 10);
        if (!length || (head.content_length && *head.content_length != *length))
          return Malformed("Content-Length '" + std::string(value) + "'");
        head.content_length = length;
      } else if (EqualsIgnoreAsciiCase(name, "Transfer-Encoding")) {
        // Chunked when it is the last coding; any other last coding runs to the end of the
        // stream (RFC 9112, 6.3).
        size_t comma = value.rfind(',');
        head.chunked = EqualsIgnoreAsciiCase(
            TrimBlanks(comma == std::string_view::npos ? value : value.substr(comma + 1)),
            "chunked");
        if (!head.chunked) head.content_length.reset();
      }
    }
    // 101 would switch protocols, which this client never asks for.
    if (head.status >= 200 || head.status == 101) return head;
  }
}

std::expected<void, Failure> ReadChunked(AnswerReader& in, std::string& body, size_t cap) {
  for (;;) {
    auto line = in.Line(kMaxChunkLine, "a chunk size line over 1024 bytes");
    if (!line) return std::unexpected(std::move(line).error());
    std::string_view size_text = TrimBlanks(std::string_view(*line).substr(0, line->find(';')));
    auto size = ParseNumber(size_text, 16);
    if (!size) return Malformed("chunk size '" + line->substr(0, 80) + "'");
    if (*size == 0) break;
    if (*size > cap - body.size()) return TooLarge(cap);
    if (auto taken = in.Take(static_cast<size_t>(*size), body); !taken) return taken;
    auto end = in.Line(0, "chunk not followed by CRLF");
    if (!end) return std::unexpected(std::move(end).error());
  }
  size_t budget = kMaxHeadBytes;  // trailer fields, ignored
  for (;;) {
    auto line = in.Line(budget, "trailer fields over 65536 bytes");
    if (!line) return std::unexpected(std::move(line).error());
    if (line->empty()) return {};
    budget -= std::min(budget, line->size() + 2);
  }
}

}  // namespace

std::unexpected<Failure> Fail(ErrorCode code, std::string reason, bool retry) {
  return std::unexpected(Failure{code, std::move(reason), retry});
}

std::unexpected<Failure> SystemFailure(int err) {
  std::string reason = std::strerror(err);
  if (!reason.empty())
    reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  return Fail(ErrorCode::kUnavailable, std::move(reason));
}

int WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (n > 0) return 1;
    if (n < 0 && errno != EINTR) return -1;
    if (n == 0 && Clock::now() >= deadline) return 0;
  }
}

AnswerReader::AnswerReader(int fd, Clock::time_point deadline, std::string timeout_reason)
    : fd_(fd), deadline_(deadline), timeout_reason_(std::move(timeout_reason)) {}

std::unexpected<Failure> AnswerReader::Closed() const {
  return Fail(ErrorCode::kUnavailable, received_
                                           ? "connection closed before the answer was complete"
                                           : "connection closed without an answer");
}

std::expected<bool, Failure> AnswerReader::Fill() {
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  for (;;) {
    int ready = WaitFor(fd_, POLLIN, deadline_);
    if (ready < 0) return SystemFailure(errno);
    if (ready == 0) return Fail(ErrorCode::kTimeout, timeout_reason_);
    size_t old = buf_.size();
    buf_.resize(old + kReadSize);
    ssize_t n = recv(fd_, buf_.data() + old, kReadSize, 0);
    buf_.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return SystemFailure(errno);
    }
    if (n > 0) received_ = true;
    return n > 0;
  }
}

std::expected<std::string, Failure> AnswerReader::Line(size_t limit, std::string_view too_long) {
  for (size_t searched = pos_;;) {
    size_t lf = buf_.find('\n', searched);
    if (lf != std::string::npos) {
      std::string line = buf_.substr(pos_, lf - pos_);
      if (line.ends_with('\r')) line.pop_back();
      if (line.size() > limit) break;
      pos_ = lf + 1;
      return line;
    }
    if (buf_.size() - pos_ > limit + 1) break;
    searched = buf_.size();
    size_t before = pos_;
    auto more = Fill();
    if (!more) return std::unexpected(std::move(more).error());
    if (!*more) return Closed();
    searched -= before - pos_;  // Fill may have moved the unread bytes to the front
  }
  return Malformed(std::string(too_long));
}

std::expected<void, Failure> AnswerReader::Take(size_t n, std::string& out) {
  size_t buffered = std::min(n, buf_.size() - pos_);
  out.append(buf_, pos_, buffered);
  pos_ += buffered;
  // The rest goes straight into `out`, sized once (not per read: a resize fills what it adds).
  size_t start = out.size(), want = n - buffered, got = 0;
  out.resize(start + want);
  auto fail = [&](std::unexpected<Failure> failure) {
    out.resize(start + got);
    return failure;
  };
  while (got < want) {
    int ready = WaitFor(fd_, POLLIN, deadline_);
    if (ready < 0) return fail(SystemFailure(errno));
    if (ready == 0) return fail(Fail(ErrorCode::kTimeout, timeout_reason_));
    ssize_t n_read = recv(fd_, out.data() + start + got, want - got, 0);
    if (n_read < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return fail(SystemFailure(errno));
    }
    if (n_read == 0) return fail(Closed());
    got += static_cast<size_t>(n_read);
  }
  return {};
}

std::expected<void, Failure> AnswerReader::Rest(std::string& out, size_t cap) {
  for (;;) {
    size_t buffered = buf_.size() - pos_;
    if (buffered > cap - out.size()) return TooLarge(cap);
    out.append(buf_, pos_, buffered);
    pos_ = buf_.size();
    auto more = Fill();
    if (!more) return std::unexpected(std::move(more).error());
    if (!*more) return {};
  }
}

std::expected<HttpAnswer, Failure> ReadAnswer(AnswerReader& in, bool head_request,
                                              size_t max_body) {
  auto head = ReadHead(in);
  if (!head) return std::unexpected(std::move(head).error());
  HttpAnswer answer{head->status, {}};
  if (head_request || head->status == 204 || head->status == 304) return answer;
  std::expected<void, Failure> body;
  if (head->chunked) {
    body = ReadChunked(in, answer.body, max_body);
  } else if (head->content_length) {
    if (*head->content_length > max_body) return TooLarge(max_body);
    body = in.Take(static_cast<size_t>(*head->content_length), answer.body);
  } else {
    body = in.Rest(answer.body, max_body);
  }
  if (!body) return std::unexpected(std::move(body).error());
  return answer;
}

}  // namespace metastack::guest
