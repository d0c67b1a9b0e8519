#pragma once
// Reads the frames of an input video (MP4, MOV, WebM) for lip sync: FFmpeg's demuxers and decoders, limited
// to those containers and the usual camera and web codecs (H.264, HEVC, VP8, VP9, AV1, MPEG-4 Part 2), local
// files only, frames converted to BGR at the stream's own size (trimmed to even sides for the encoder).
// Every limit is checked on what the decoder actually yields, not only on what the container claims: a
// frame larger than max_pixels or later than max_seconds ends the job with a clear code. Every FFmpeg handle
// has an RAII owner.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>

namespace gpufleet::video {

struct VideoReaderLimits {
  uint64_t max_pixels = 16777216;  // a frame's width x height
  double max_seconds = 600;
};

struct VideoStreamInfo {
  int width = 0;   // of the frames next() gives: even
  int height = 0;  // even
  // The stream's time base (seconds per tick = num / den), in which DecodedFrame::pts counts.
  int time_base_num = 1;
  int time_base_den = 25;
  double fps = 25;  // average frame rate, as the container states it (25 when it does not)
  std::string codec;
  bool has_audio = false;
};

struct DecodedFrame {
  cv::Mat bgr;      // width x height, 8-bit BGR; valid until the next call
  int64_t pts = 0;  // presentation time from the first frame, in the stream's time base; strictly increasing
  double time_s = 0;
};

class VideoReader {
 public:
  // Opens the file and its best video stream. Throws ModelError: kUnreadableMedia (not a readable container
  // of those kinds, no video stream, a codec outside the list), kMediaTooLong (the container says it is
  // longer than max_seconds), kInvalidInput (frames over max_pixels).
  VideoReader(const std::filesystem::path& path, const VideoReaderLimits& limits);
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoStreamInfo& info() const { return info_; }

  // The next frame in presentation order; nullopt at the end. Throws ModelError kUnreadableMedia when the
  // stream is corrupt past what the decoder conceals, kMediaTooLong past max_seconds.
  std::optional<DecodedFrame> next();

 private:
  struct State;
  std::unique_ptr<State> state_;
  VideoStreamInfo info_;
  VideoReaderLimits limits_;
};

}  // namespace gpufleet::video
