#pragma once
// Disk image containers around a drive's raw bytes, so that every hypervisor can attach a drive
// as the disk format it expects: raw (libvirt/KVM, as built), qcow2 (QEMU's own), VHD and VHDX
// (Hyper-V; Nova's Hyper-V driver converts the ISO with `qemu-img convert -O vpc`), VMDK
// (VMware). Written in-process, no qemu-img.
//
// Contract shared by every container:
//  - The guest sees exactly the raw drive: reading the container's virtual disk (qemu-img
//    convert -O raw) gives the raw image byte for byte, same size. (One exception: a VHD of a
//    drive whose sector count no CHS geometry multiplies out to grows to the next one, zeros
//    at its end; metastack's ISO images under 128 MiB and VFAT images always have one.)
//  - Sparse where the format allows: only the raw image's extents (rounded to the format's
//    allocation unit) are stored; zeros stay unallocated.
//  - Reproducible: the output depends only on the raw image and DiskOptions (identifiers the
//    formats carry, such as GUIDs and content ids, are derived from the raw bytes; timestamps
//    come from DiskOptions, never from the clock).
//
// Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/error.h"
#include "configdrive/image_writer.h"

namespace metastack::configdrive {

enum class DiskFormat { kRaw, kQcow2, kVhd, kVhdx, kVmdk };

// "raw", "qcow2", "vhd", "vhdx", "vmdk": what --disk-format takes and what the docs name.
std::string_view DiskFormatName(DiskFormat format);
// The names above; nullopt for anything else.
std::optional<DiskFormat> ParseDiskFormat(std::string_view name);
// The format an output file's extension names (".qcow2", ".vhd", ".vhdx", ".vmdk", case
// insensitive); nullopt for any other extension (the caller's default, raw, applies).
std::optional<DiskFormat> DiskFormatForPath(std::string_view path);
// QEMU's and libvirt's name for the format (`-drive format=`, `<driver type=>`): "raw",
// "qcow2", "vpc", "vhdx", "vmdk".
std::string_view QemuFormatName(DiskFormat format);

struct DiskOptions {
  // Seconds since the Unix epoch, UTC, for the formats that record a creation time (VHD).
  int64_t timestamp = 315532800;
};

// `raw` inside `format`'s container (layouts: docs/configdrive.md, "Disk formats"). kRaw
// returns `raw` unchanged. kTooLarge when the drive exceeds what the format can describe (qcow2
// 2 PiB, VHD 2040 GiB, VHDX 64 TiB, VMDK 2040 GiB), kInvalidArgument when it is not a whole,
// non-zero number of 512-byte sectors; each message names the format.
Result<Image> WrapDisk(const Image& raw, DiskFormat format, const DiskOptions& options);

}  // namespace metastack::configdrive
