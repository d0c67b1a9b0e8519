#pragma once
// An MP4 file with H.264 video (libx264 through libavcodec, yuv420p) and AAC audio (FFmpeg's encoder,
// resampled by libswresample where the input rate is not one AAC takes), written with the index at the
// front (faststart) so that players can start before the whole file has arrived. Every FFmpeg handle has
// an RAII owner; every FFmpeg failure is a ModelError(kModelError) with FFmpeg's own words.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <span>

namespace gpufleet::video {

struct Mp4Settings {
  int width = 0;   // even
  int height = 0;  // even
  int fps = 25;
  // The frames' clock: write_frame's pts counts ticks of time_base_num / time_base_den seconds, so that a
  // lip-synced video keeps its input's frame times (variable rates included). 0: ticks of 1 / fps, frames
  // numbered 0, 1, 2, ...
  int time_base_num = 0;
  int time_base_den = 0;
  uint32_t audio_sample_rate = 0;  // of the samples given to write_audio; 0: no audio stream
  int crf = 23;                    // x264 quality (lower: better, bigger)
  const char* preset = "veryfast";
};

class Mp4Writer {
 public:
  Mp4Writer(const std::filesystem::path& path, const Mp4Settings& settings);
  ~Mp4Writer();
  Mp4Writer(const Mp4Writer&) = delete;
  Mp4Writer& operator=(const Mp4Writer&) = delete;

  // One BGR 8-bit frame of the settings' size, in order; `pts` (strictly increasing, in the settings' time
  // base) is the frame's time, else the frame after the last.
  void write_frame(const cv::Mat& bgr, std::optional<int64_t> pts = std::nullopt);
  // The soundtrack, mono 16-bit at the settings' rate, in pieces of any size (in order), before finish().
  void write_audio(std::span<const int16_t> samples);
  // Flushes the encoders and writes the index. Without it the file is incomplete (and the destructor
  // leaves it so: a failed job's file is removed by its owner).
  void finish();

  int64_t frames_written() const { return frames_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  int64_t frames_ = 0;
  int64_t last_pts_ = -1;
};

}  // namespace gpufleet::video
