#include "models/audio_stream.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/error.hpp"
#include "common/wav.hpp"

namespace gpufleet::models {

AudioStreamFile::AudioStreamFile(std::filesystem::path path, uint32_t sample_rate)
    : path_(std::move(path)), sample_rate_(sample_rate) {}

AudioStreamFile::~AudioStreamFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AudioStreamFile::write_all(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw ModelError(ErrorCode::kInternal, "cannot write the audio stream " + path_.string() + ": " +
                                                 std::generic_category().message(errno));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void AudioStreamFile::append(const int16_t* samples, size_t count) {
  if (count == 0) return;
  std::string bytes;
  if (fd_ < 0) {
    std::error_code ignored;
    std::filesystem::create_directories(path_.parent_path(), ignored);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw ModelError(ErrorCode::kInternal, "cannot create the audio stream " + path_.string() + ": " +
                                                 std::generic_category().message(errno));
    bytes = wav_header_pcm16(sample_rate_, 1, std::nullopt);
  }
  // Little-endian 16-bit, as the header says (every host this runs on is little-endian).
  bytes.append(reinterpret_cast<const char*>(samples), count * sizeof(int16_t));
  write_all(bytes.data(), bytes.size());
  samples_ += count;
  ++appends_;
}

void AudioStreamFile::sweep(const std::filesystem::path& folder, std::chrono::seconds age) {
  std::error_code error;
  const auto cutoff = std::filesystem::file_time_type::clock::now() - age;
  for (auto it = std::filesystem::directory_iterator(folder, error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    std::error_code ignored;
    if (it->is_regular_file(ignored) && it->last_write_time(ignored) < cutoff)
      std::filesystem::remove(it->path(), ignored);
  }
}

}  // namespace gpufleet::models
