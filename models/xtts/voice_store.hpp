#pragma once
// Voices computed once for the whole fleet: a folder on shared storage (NFS, Filestore, a GCS mount) where
// a worker that conditioned a reference leaves the result, so that any worker given the same reference
// later loads it instead of running the encoders again. Files are safetensors, named by what they depend
// on, so nothing needs invalidating:
//   <root>/<model fingerprint>/<voice_key: the reference's SHA-256 within its tenant's folder>.safetensors
// Writes are atomic (temporary file, then rename): a reader sees a whole voice or none, and two workers
// storing the same voice at once both write the same bytes. A file that cannot be read or does not fit the
// model is treated as absent (and replaced), never as an error of the job.

#include <filesystem>
#include <optional>
#include <string>

#include "models/xtts/torch_checkpoint.hpp"

namespace gpufleet::xtts {

// The name a voice is cached and stored under: the reference recording's SHA-256, scoped to the folder the
// reference was sent from (its client-facing name, e.g. "uploads/key-1a2b.../<sha256>.wav"). The gateway
// keeps each API key's uploads in a folder of its own, so one key's voice is never another key's cache hit:
// a hit, in the result's voice_cache field or in its speed, would tell a key that someone else sent the same
// recording. Jobs of one key, or of a fleet without keys (one folder), share their voices. 64 hex digits.
std::string voice_key(const std::string& reference_sha256, const std::filesystem::path& reference);

class VoiceStore {
 public:
  explicit VoiceStore(std::filesystem::path root) : root_(std::move(root)) {}

  // The stored voice, or nullopt when there is none (or it is unreadable: logged). Both names must be
  // 64 lowercase hex digits (SHA-256); anything else throws std::invalid_argument, so that no caller
  // can make the store read outside its folder.
  std::optional<TensorMap> load(const std::string& fingerprint, const std::string& reference) const;
  // Stores a voice; false (logged) when the folder cannot be written, which costs later jobs time only.
  bool save(const std::string& fingerprint, const std::string& reference, const TensorMap& voice) const;

  std::filesystem::path path(const std::string& fingerprint, const std::string& reference) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

}  // namespace gpufleet::xtts
