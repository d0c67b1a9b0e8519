#pragma once
// Keeps shared storage from growing without bound: result files (tts/, video/) older than RESULT_TTL_S and
// uploads (inputs/uploads/) not used for UPLOAD_TTL_S are deleted. Age is the file's modification time; the
// gateway renews an upload's when the same bytes are uploaded again or a job references it, so a voice that
// is in use stays. Several gateways may sweep the same storage: deleting a file twice is harmless.
// Blocking filesystem work: run it off the event loop.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace gpufleet::gateway {

struct SweepReport {
  uint64_t files_removed = 0;
  uint64_t bytes_removed = 0;
  uint64_t files_kept = 0;
  uint64_t errors = 0;  // entries that could not be read or removed (logged by the caller as a count)
};

// Deletes the regular files under `folder` (recursively, symlinks neither followed nor deleted) last
// modified before `now - max_age`. A missing folder is an empty one.
SweepReport sweep_older_than(
    const std::filesystem::path& folder, std::chrono::seconds max_age,
    std::filesystem::file_time_type now = std::filesystem::file_time_type::clock::now());

// The bytes held by the regular files under `folder` (recursively); a missing folder holds none.
uint64_t folder_bytes(const std::filesystem::path& folder);

// Sets a file's modification time to now, so that the sweeper counts its age from this use. False if it
// could not (missing, read-only storage): the file then ages from its last write.
bool renew(const std::filesystem::path& file);

}  // namespace gpufleet::gateway
