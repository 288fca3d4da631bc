#pragma once
// What makes a config drive reproducible: one timestamp stamped on everything, and a
// random_seed drawn from a keyed stream rather than from the OS generator.
//
// Build time (BuildTime): SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/
// source-date-epoch/) when it is set, else the time the caller passes (the instance's
// created_at), else kFatEpoch (1980-01-01T00:00:00Z, the earliest time FAT can record). The
// clock is never read, so two builds of one instance are byte-identical whenever they run.
//
// random_seed (SeededRandom): Nova puts 512 bytes from os.urandom into every meta_data.json,
// which makes every drive different. A reproducible drive takes them from the stream
//   block[i] = HMAC-SHA256(key = build_seed,
//                          "metastack random_seed v1" 0x00 instance_uuid 0x00 be64(i))
//   stream   = block[0] || block[1] || ...
// consumed in order by every request for random bytes (one per meta_data.json version, so the
// versions still differ from each other, as on Nova's drives). The build seed is given by the
// operator (`--seed`) or, failing that, is the text of SOURCE_DATE_EPOCH.
// Caveat: the guest mixes random_seed into its entropy pool. A seed anyone can guess (such as
// SOURCE_DATE_EPOCH) adds no entropy; keep `--seed` secret when that matters.
//
// Pure functions apart from BuildTime/SourceDateEpoch reading the environment; thread-safe
// (the RandomBytes returned by SeededRandom keeps its position in the stream: one per build,
// not shared between threads).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "core/metadata.h"

namespace metastack::configdrive {

inline constexpr int64_t kFatEpoch = 315532800;  // 1980-01-01T00:00:00Z

// "YYYY-MM-DDTHH:MM:SS" with an optional fraction (dropped), and "Z", "+HH:MM", "-HH:MM" or no
// zone (UTC); a space may stand for the "T". Seconds since the Unix epoch.
Result<int64_t> ParseIsoTimestamp(std::string_view text);

// SOURCE_DATE_EPOCH as a number of seconds, nullopt when unset or empty; kInvalidArgument when
// it is not a non-negative decimal integer.
Result<std::optional<int64_t>> SourceDateEpoch();

// The time a drive is stamped with, as described above. kInvalidArgument (field "created_at")
// for a created_at ParseIsoTimestamp refuses.
Result<int64_t> BuildTime(const std::optional<std::string>& created_at);

// The keyed stream described above, as a core::RandomBytes for core::ConfigDriveFiles.
core::RandomBytes SeededRandom(std::string_view build_seed, std::string_view instance_uuid);

}  // namespace metastack::configdrive
