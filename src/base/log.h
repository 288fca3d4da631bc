#pragma once
// The log facade: one line per event on standard error, "<UTC time> <level> <component>:
// <message>". Thread-safe (lines never interleave). The threshold is process-wide.

#include <string_view>

namespace metastack {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view component, std::string_view message);

inline void LogInfo(std::string_view c, std::string_view m) { Log(LogLevel::kInfo, c, m); }
inline void LogWarning(std::string_view c, std::string_view m) { Log(LogLevel::kWarning, c, m); }
inline void LogError(std::string_view c, std::string_view m) { Log(LogLevel::kError, c, m); }

}  // namespace metastack
