#pragma once
// Small file-system helpers with errors as values. Blocking: not for an io_context thread.

#include <cstdint>
#include <span>
#include <string>

#include "base/error.h"

namespace metastack {

// Reads a whole file ("-" reads standard input). Errors name the path and the OS reason:
// kNotFound when it (or a directory on the way) does not exist, kInvalidArgument otherwise.
Result<std::string> ReadFile(const std::string& path);

// The same for a path only (no "-"), with `follow_last_link` false refusing a symbolic link
// as the last component (O_NOFOLLOW: "cannot read: Too many levels of symbolic links").
Result<std::string> ReadFile(const std::string& path, bool follow_last_link);

// Fills `out` from the operating system's random generator (getrandom(2)); never fails
// short of a kernel without getrandom, which aborts.
void SystemRandom(std::span<uint8_t> out);

// The same bytes, drawn from getrandom(2) 16 KiB at a time per thread: a request path that
// needs a few hundred random bytes per answer then makes a system call once in ~32 answers.
// Each byte is handed out once and wiped from the buffer as it is.
void BufferedSystemRandom(std::span<uint8_t> out);

// Today's UTC date as "YYYY-MM-DD".
std::string TodayUtc();

}  // namespace metastack
