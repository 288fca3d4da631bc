#include "configdrive/reproducible.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <memory>

namespace metastack::configdrive {
namespace {

// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

Result<int64_t> ParseIsoTimestamp(std::string_view s) {
  auto bad = [&] {
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "not an ISO 8601 timestamp: " + std::string(s)));
  };
  int y, mo, d, h, mi, sec;
  if (!Digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, h) || s[13] != ':' || !Digits(s, 14, 2, mi) || s[16] != ':' ||
      !Digits(s, 17, 2, sec))
    return bad();
  static constexpr int kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > kMonthDays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
      h > 23 || mi > 59 || sec > 60)
    return bad();
  size_t pos = 19;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return bad();
  }
  int64_t offset = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh, om;
      int sign = s[pos] == '-' ? -1 : 1;
      if (!Digits(s, pos + 1, 2, oh)) return bad();
      size_t mpos = pos + 3;
      if (mpos < s.size() && s[mpos] == ':') ++mpos;
      if (!Digits(s, mpos, 2, om) || oh > 23 || om > 59) return bad();
      offset = sign * (oh * 3600 + om * 60);
      pos = mpos + 2;
    }
  }
  if (pos != s.size()) return bad();
  return DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
         mi * 60 + std::min(sec, 59) - offset;
}

Result<std::optional<int64_t>> SourceDateEpoch() {
  const char* env = std::getenv("SOURCE_DATE_EPOCH");
  if (env == nullptr || *env == '\0') return std::optional<int64_t>();
  std::string_view text(env);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "not a non-negative number of seconds: " + std::string(text),
                                     "SOURCE_DATE_EPOCH"));
  return std::optional<int64_t>(value);
}

Result<int64_t> BuildTime(const std::optional<std::string>& created_at) {
  METASTACK_ASSIGN_OR_RETURN(std::optional<int64_t> epoch, SourceDateEpoch());
  if (epoch) return *epoch;
  if (!created_at) return kFatEpoch;
  auto t = ParseIsoTimestamp(*created_at);
  if (!t)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, t.error().message, "created_at"));
  return *t;
}

core::RandomBytes SeededRandom(std::string_view build_seed, std::string_view instance_uuid) {
  struct Stream {
    std::string key, label;
    uint64_t block = 0;
    std::array<uint8_t, 32> buf{};
    size_t used = 32;  // bytes of buf already handed out

    void Refill() {
      std::string msg = label;
      for (int shift = 56; shift >= 0; shift -= 8)
        msg.push_back(static_cast<char>((block >> shift) & 0xff));
      unsigned int len = 0;
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), buf.data(), &len);
      ++block;
      used = 0;
    }
  };
  auto stream = std::make_shared<Stream>();
  stream->key = std::string(build_seed);
  stream->label =
      std::string("metastack random_seed v1") + '\0' + std::string(instance_uuid) + '\0';
  return [stream](std::span<uint8_t> out) {
    for (auto& byte : out) {
      if (stream->used == stream->buf.size()) stream->Refill();
      byte = stream->buf[stream->used++];
    }
  };
}

}  // namespace metastack::configdrive
