#pragma once
// Fixed-width integers at a byte address, little-endian (FAT, VHDX, VMDK) or big-endian (qcow2,
// VHD), whatever the host's order. The one place configdrive's writers (and their tests' readers)
// lay out on-disk integers. Pure; thread-safe.

#include <cstdint>

namespace metastack::configdrive {

inline void PutLe16(char* p, uint32_t v) {
  p[0] = static_cast<char>(v & 0xFF);
  p[1] = static_cast<char>((v >> 8) & 0xFF);
}
inline void PutLe32(char* p, uint32_t v) {
  PutLe16(p, v & 0xFFFF);
  PutLe16(p + 2, v >> 16);
}
inline void PutLe64(char* p, uint64_t v) {
  PutLe32(p, static_cast<uint32_t>(v));
  PutLe32(p + 4, static_cast<uint32_t>(v >> 32));
}
inline void PutBe16(char* p, uint32_t v) {
  p[0] = static_cast<char>((v >> 8) & 0xFF);
  p[1] = static_cast<char>(v & 0xFF);
}
inline void PutBe32(char* p, uint32_t v) {
  PutBe16(p, v >> 16);
  PutBe16(p + 2, v & 0xFFFF);
}
inline void PutBe64(char* p, uint64_t v) {
  PutBe32(p, static_cast<uint32_t>(v >> 32));
  PutBe32(p + 4, static_cast<uint32_t>(v));
}

inline uint32_t GetLe16(const char* p) {
  return static_cast<uint32_t>(static_cast<uint8_t>(p[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8;
}
inline uint32_t GetLe32(const char* p) { return GetLe16(p) | GetLe16(p + 2) << 16; }
inline uint64_t GetLe64(const char* p) {
  return GetLe32(p) | static_cast<uint64_t>(GetLe32(p + 4)) << 32;
}
inline uint32_t GetBe16(const char* p) {
  return static_cast<uint32_t>(static_cast<uint8_t>(p[0])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[1]));
}
inline uint32_t GetBe32(const char* p) { return GetBe16(p) << 16 | GetBe16(p + 2); }
inline uint64_t GetBe64(const char* p) {
  return static_cast<uint64_t>(GetBe32(p)) << 32 | GetBe32(p + 4);
}

}  // namespace metastack::configdrive
