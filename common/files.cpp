#include "common/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <system_error>
#include <utility>

#include "common/error.hpp"

namespace gpufleet {
namespace fs = std::filesystem;

namespace {

// The folder a file name lies in; "." for a bare name ("hello.wav"), whose parent_path() is empty.
fs::path folder_of(const fs::path& file) {
  auto folder = file.parent_path();
  return folder.empty() ? fs::path(".") : folder;
}

[[noreturn]] void storage_failure(const std::string& what, const fs::path& path) {
  const int error = errno;  // before anything below can change it
  throw FleetError(ErrorCode::kStorageError,
                   what + " " + path.string() + ": " + std::generic_category().message(error));
}

// Closes a file descriptor on every path out.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Renames a synced file into place and syncs the folder, so that the rename itself survives a crash.
void rename_durably(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    ::unlink(from.c_str());
    storage_failure("cannot rename onto", to);
  }
  FileDescriptor folder(::open(folder_of(to).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (folder.get() >= 0) ::fsync(folder.get());
}

}  // namespace

void write_file_atomically(const fs::path& path, std::string_view data) {
  std::error_code ec;
  fs::create_directories(folder_of(path), ec);
  if (ec)
    throw FleetError(ErrorCode::kStorageError,
                     "cannot create " + folder_of(path).string() + ": " + ec.message());

  thread_local std::mt19937_64 random{std::random_device{}()};
  fs::path temporary = path;
  temporary += ".tmp-" + std::to_string(random());

  FileDescriptor file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (file.get() < 0) storage_failure("cannot create", temporary);
  const char* cursor = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t written = ::write(file.get(), cursor, left);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) {
      int saved = errno;
      ::unlink(temporary.c_str());
      errno = saved;
      storage_failure("cannot write", temporary);
    }
    cursor += written;
    left -= static_cast<size_t>(written);
  }
  if (::fsync(file.get()) != 0) {
    ::unlink(temporary.c_str());
    storage_failure("cannot fsync", temporary);
  }
  if (::close(file.release()) != 0) {
    ::unlink(temporary.c_str());
    storage_failure("cannot close", temporary);
  }
  rename_durably(temporary, path);
}

void move_file_durably(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(folder_of(to), ec);
  if (ec)
    throw FleetError(ErrorCode::kStorageError,
                     "cannot create " + folder_of(to).string() + ": " + ec.message());
  {
    FileDescriptor file(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0 || ::fsync(file.get()) != 0) {
      ::unlink(from.c_str());
      storage_failure("cannot fsync", from);
    }
  }
  rename_durably(from, to);
}

std::optional<std::string> read_file(const fs::path& path, size_t max_bytes) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec || size > max_bytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<size_t>(in.gcount()) != size) return std::nullopt;
  return data;
}

std::optional<fs::path> relative_reference(std::string_view text, const fs::path& root) {
  if (text.empty() || text.size() > 512 || text.find('\0') != std::string_view::npos ||
      text.find('\\') != std::string_view::npos) {
    return std::nullopt;
  }
  fs::path path{std::string(text)};
  if (path.is_absolute()) {
    const fs::path base = root.lexically_normal();
    const auto end = std::mismatch(base.begin(), base.end(), path.begin(), path.end());
    // A trailing separator in `root` leaves an empty last element, which matches nothing: skip it.
    auto base_end = end.first;
    if (base_end != base.end() && base_end->empty() && std::next(base_end) == base.end())
      base_end = base.end();
    if (base_end != base.end()) return std::nullopt;
    fs::path rest;
    for (auto it = end.second; it != path.end(); ++it) rest /= *it;
    path = rest;
  }
  fs::path clean;
  for (const auto& part : path) {
    if (part == "..") return std::nullopt;
    if (part.empty() || part == "." || part == "/") continue;
    clean /= part;
  }
  if (clean.empty()) return std::nullopt;
  return clean;
}

std::optional<fs::path> resolve_inside(const fs::path& root, const fs::path& candidate) {
  std::error_code ec;
  fs::path canonical_root = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  fs::path resolved = fs::canonical(candidate.is_absolute() ? candidate : canonical_root / candidate, ec);
  if (ec) return std::nullopt;
  auto root_end =
      std::mismatch(canonical_root.begin(), canonical_root.end(), resolved.begin(), resolved.end()).first;
  if (root_end != canonical_root.end()) return std::nullopt;
  if (!fs::is_regular_file(resolved, ec)) return std::nullopt;
  return resolved;
}

std::string redact_paths(std::string_view message) {
  auto opens = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\'' || c == '"' || c == '(' || c == '[' || c == '<' ||
           c == '=' || c == ':' || c == ',';
  };
  auto ends = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\'' || c == '"' || c == ')' || c == ']' || c == '>' ||
           c == ',' || c == ';';
  };
  std::string out;
  out.reserve(message.size());
  size_t i = 0;
  while (i < message.size()) {
    const bool starts = message[i] == '/' && (i == 0 || opens(message[i - 1]));
    if (!starts) {
      out += message[i++];
      continue;
    }
    size_t end = i;
    while (end < message.size() && !ends(message[end])) ++end;
    const std::string_view path = message.substr(i, end - i);
    // A trailing ':' or '.' belongs to the sentence ("cannot open /a/b.wav: no such file").
    size_t cut = path.size();
    while (cut > 1 && (path[cut - 1] == ':' || path[cut - 1] == '.')) --cut;
    const std::string_view name = path.substr(0, cut);
    const size_t last = name.find_last_of('/');
    if (last == 0) {  // "/x": a single component, no folder to hide
      out += name;
    } else {
      out += ".../";
      out += name.substr(last + 1);
    }
    out += path.substr(cut);
    i = end;
  }
  return out;
}

}  // namespace gpufleet
