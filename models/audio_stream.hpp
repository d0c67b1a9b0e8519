#pragma once
// Audio a model streams while it still works (input "stream": true): a WAV file that grows on the results'
// storage, <storage>/streams/<job>-<attempt>.wav, read by the gateway's GET /v1/jobs/{id}/stream as it grows.
// Its header says "length unknown" (0xFFFFFFFF, as streaming WAV writers do); readers forward whole samples
// only. The finished result is still written as usual.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace gpufleet::models {

class AudioStreamFile {
 public:
  AudioStreamFile(std::filesystem::path path, uint32_t sample_rate);
  ~AudioStreamFile();
  AudioStreamFile(const AudioStreamFile&) = delete;
  AudioStreamFile& operator=(const AudioStreamFile&) = delete;

  // Appends mono 16-bit samples (the header goes first, with the first samples). Throws ModelError when the
  // file cannot be written.
  void append(const int16_t* samples, size_t count);
  uint64_t samples_written() const { return samples_; }
  size_t appends() const { return appends_; }

  // Removes stream files in `folder` older than `age` (what clients no longer read), best effort.
  static void sweep(const std::filesystem::path& folder, std::chrono::seconds age);

 private:
  void write_all(const char* data, size_t size);

  std::filesystem::path path_;
  uint32_t sample_rate_;
  int fd_ = -1;
  uint64_t samples_ = 0;
  size_t appends_ = 0;
};

}  // namespace gpufleet::models
