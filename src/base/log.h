#pragma once
// The log facade: one line per event on standard error. Thread-safe (lines never interleave).
// The threshold is process-wide; an event below it costs one atomic load and is not formatted.
//
// A line reads "<UTC time> <LEVEL> <component>: <message>", e.g.
//   2024-05-01T12:00:00.123Z INFO api: listening on 127.0.0.1:8775
// When standard error is the systemd journal (JOURNAL_STREAM names its device and inode, as
// systemd.exec(5) describes), the time gives way to the syslog priority journald reads, <7>
// debug, <6> info, <4> warning, <3> error, since the journal stamps each entry itself:
//   <6>INFO api: listening on 127.0.0.1:8775
// A line feed or carriage return inside a message is written as \n or \r, so that an event
// stays one line (one journal entry).

#include <string_view>

namespace metastack {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view component, std::string_view message);

inline void LogDebug(std::string_view c, std::string_view m) { Log(LogLevel::kDebug, c, m); }
inline void LogInfo(std::string_view c, std::string_view m) { Log(LogLevel::kInfo, c, m); }
inline void LogWarning(std::string_view c, std::string_view m) { Log(LogLevel::kWarning, c, m); }
inline void LogError(std::string_view c, std::string_view m) { Log(LogLevel::kError, c, m); }

}  // namespace metastack
