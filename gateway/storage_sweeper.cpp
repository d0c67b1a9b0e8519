#include "gateway/storage_sweeper.hpp"

namespace gpufleet::gateway {

namespace fs = std::filesystem;

SweepReport sweep_older_than(const fs::path& folder, std::chrono::seconds max_age, fs::file_time_type now) {
  SweepReport report;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return report;
  const auto cutoff = now - max_age;
  fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    ++report.errors;
    return report;
  }
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      ++report.errors;
      break;  // the iterator cannot go on after an error
    }
    const auto status = it->symlink_status(ec);
    if (ec || !fs::is_regular_file(status)) continue;
    const auto modified = it->last_write_time(ec);
    if (ec) {
      ++report.errors;
      continue;
    }
    if (modified >= cutoff) {
      ++report.files_kept;
      continue;
    }
    auto bytes = it->file_size(ec);
    if (ec) {
      bytes = 0;
      ec.clear();
    }
    if (fs::remove(it->path(), ec) && !ec) {
      ++report.files_removed;
      report.bytes_removed += bytes;
    } else if (ec) {
      ++report.errors;
    }
  }
  return report;
}

uint64_t folder_bytes(const fs::path& folder) {
  uint64_t total = 0;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return 0;
  fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec);
  for (const fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;
    if (!fs::is_regular_file(it->symlink_status(entry_ec))) continue;
    const auto bytes = it->file_size(entry_ec);
    if (!entry_ec) total += bytes;
  }
  return total;
}

bool renew(const fs::path& file) {
  std::error_code ec;
  fs::last_write_time(file, fs::file_time_type::clock::now(), ec);
  return !ec;
}

}  // namespace gpufleet::gateway
