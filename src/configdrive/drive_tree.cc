#include "configdrive/drive_tree.h"

#include <algorithm>
#include <cstdio>

#include "base/utf8.h"

namespace metastack::configdrive {
namespace {

constexpr uint64_t kMaxFileBytes = 0xFFFFFFFFull;  // FAT's size field; ISO level 2's extent

// The path as an error's field: bytes a terminal would not show become \xNN.
std::string Printable(std::string_view path) {
  std::string out;
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool ForbiddenChar(char16_t c) {
  return c < 0x20 || c == 0x7f || c == '"' || c == '*' || c == ':' || c == '<' || c == '>' ||
         c == '?' || c == '\\' || c == '|';
}

// Why `name` cannot be one path component, or empty when it can.
std::string CheckName(std::string_view name, const NameLimits& limits) {
  if (name.empty()) return "empty name in a drive tree path";
  if (name == "." || name == "..") return "'.' or '..' in a drive tree path";
  auto utf16 = Utf8ToUtf16(name);
  if (!utf16) return "not valid UTF-8";
  for (char16_t c : *utf16)
    if (ForbiddenChar(c)) return "control character or one of \"*:<>?\\| in a name";
  // FAT drops trailing dots and spaces; two names could then collide.
  if (name.back() == '.' || name.back() == ' ') return "name ends with a dot or a space";
  if (limits.max_name_units && utf16->size() > limits.max_name_units)
    return "name longer than " + std::to_string(limits.max_name_units) + " characters (the " +
           std::string(limits.name_format) + " limit)";
  return {};
}

TreeNode* Child(TreeNode& dir, std::string_view name) {
  for (auto& c : dir.children)
    if (c.name == name) return &c;
  return nullptr;
}

void Sort(TreeNode& dir) {
  std::sort(dir.children.begin(), dir.children.end(),
            [](const TreeNode& a, const TreeNode& b) { return a.name < b.name; });
  for (auto& c : dir.children)
    if (c.IsDir()) Sort(c);
}

}  // namespace

Result<std::u16string> Utf8ToUtf16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    std::optional<char32_t> cp = NextCodePoint(s, i);
    if (!cp) return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not valid UTF-8"));
    if (*cp >= 0x10000) {
      char32_t above = *cp - 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (above >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (above & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(*cp));
    }
  }
  return out;
}

Result<TreeNode> BuildTree(const std::vector<core::DriveFile>& files, const NameLimits& limits) {
  TreeNode root;
  for (const auto& f : files) {
    auto bad = [&](std::string why) {
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument, std::move(why), Printable(f.path)));
    };
    const std::string& path = f.path;
    if (path.empty()) return bad("empty path");
    if (path.find('\0') != std::string::npos) return bad("contains a NUL byte");
    if (path.front() == '/') return bad("absolute path in a drive tree");
    if (f.contents.size() > kMaxFileBytes) return bad("file larger than 4 GiB - 1 byte");
    std::vector<std::string_view> names;
    for (size_t start = 0;;) {
      size_t slash = path.find('/', start);
      names.push_back(std::string_view(path).substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    // Every name is checked before any is used, so "../x" reports the "..", not "x".
    for (auto name : names)
      if (std::string why = CheckName(name, limits); !why.empty()) return bad(why);
    if (limits.max_depth && names.size() - 1 > limits.max_depth)
      return bad("more than " + std::to_string(limits.max_depth) + " directory levels (the " +
                 std::string(limits.depth_format) + " limit)");
    TreeNode* dir = &root;
    for (size_t i = 0; i + 1 < names.size(); ++i) {
      TreeNode* next = Child(*dir, names[i]);
      if (next == nullptr) {
        dir->children.push_back(TreeNode{std::string(names[i]), nullptr, {}});
        next = &dir->children.back();
      } else if (!next->IsDir()) {
        return bad("is both a file and a directory");
      }
      dir = next;
    }
    if (TreeNode* existing = Child(*dir, names.back())) {
      return bad(existing->IsDir() ? "is both a file and a directory" : "duplicate path");
    }
    dir->children.push_back(TreeNode{std::string(names.back()), &f.contents, {}});
  }
  Sort(root);
  return root;
}

}  // namespace metastack::configdrive
