#include "models/video/video_reader.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

#include <cmath>
#include <mutex>

#include "common/error.hpp"
#include "models/video/ffmpeg_handles.hpp"

namespace gpufleet::video {

namespace {

// What lip sync reads: the containers POST /v1/files accepts, the codecs phones, cameras and browsers write.
constexpr const char* kFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm";
constexpr const char* kCodecs = "h264,hevc,vp8,vp9,av1,mpeg4,libdav1d,libvpx,libvpx-vp9";
// A decoder that keeps failing on packet after packet is reading a corrupt stream, not a damaged frame.
constexpr int kMaxBadPackets = 16;

[[noreturn]] void unreadable(const std::string& what) {
  throw ModelError(ErrorCode::kUnreadableMedia, "video: " + what);
}

struct InputDeleter {
  void operator()(AVFormatContext* context) const { avformat_close_input(&context); }
};
}  // namespace

struct VideoReader::State {
  std::unique_ptr<AVFormatContext, InputDeleter> input;
  ffmpeg::CodecContext decoder;
  ffmpeg::Frame frame{av_frame_alloc()};
  ffmpeg::Packet packet{av_packet_alloc()};
  ffmpeg::Scaler scaler;
  int stream = -1;
  bool draining = false;
  bool done = false;
  int bad_packets = 0;
  std::optional<int64_t> first_pts;
  int64_t last_pts = -1;
  cv::Mat bgr;
};

VideoReader::VideoReader(const std::filesystem::path& path, const VideoReaderLimits& limits)
    : state_(std::make_unique<State>()), limits_(limits) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { av_log_set_level(AV_LOG_ERROR); });
  if (!state_->frame || !state_->packet) throw ModelError(ErrorCode::kOutOfMemory, "video: cannot allocate");
  AVDictionary* options = nullptr;
  av_dict_set(&options, "format_whitelist", kFormats, 0);
  av_dict_set(&options, "codec_whitelist", kCodecs, 0);
  av_dict_set(&options, "protocol_whitelist", "file", 0);
  AVFormatContext* raw = nullptr;
  const int opened = avformat_open_input(&raw, path.c_str(), nullptr, &options);
  av_dict_free(&options);
  if (opened < 0) unreadable("the container cannot be read (" + ffmpeg::error_text(opened) + ")");
  state_->input.reset(raw);
  // The headers of MP4, MOV and WebM describe their streams; avformat_find_stream_info is not called, as it
  // would open and run a decoder on every stream (the sound's too, which is replaced and never decoded).
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    if (raw->streams[i]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) raw->streams[i]->discard = AVDISCARD_ALL;
  }
  const AVCodec* codec = nullptr;
  state_->stream = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (state_->stream < 0 || codec == nullptr) unreadable("the file has no video stream this fleet decodes");
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    if (raw->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) info_.has_audio = true;
  }
  AVStream* stream = raw->streams[state_->stream];
  const AVCodecParameters* parameters = stream->codecpar;
  if (parameters->width <= 1 || parameters->height <= 1) unreadable("the video stream has no picture size");
  if (static_cast<uint64_t>(parameters->width) * static_cast<uint64_t>(parameters->height) >
      limits.max_pixels) {
    throw ModelError(ErrorCode::kInvalidInput, "the video is " + std::to_string(parameters->width) + "x" +
                                                   std::to_string(parameters->height) + "; the limit is " +
                                                   std::to_string(limits.max_pixels) + " pixels a frame");
  }
  double duration = 0;
  if (stream->duration > 0) duration = static_cast<double>(stream->duration) * av_q2d(stream->time_base);
  if (duration <= 0 && raw->duration > 0) duration = static_cast<double>(raw->duration) / AV_TIME_BASE;
  if (duration > limits.max_seconds) {
    throw ModelError(ErrorCode::kMediaTooLong, "the video lasts " + std::to_string(std::lround(duration)) +
                                                   " s; this model lip-syncs at most " +
                                                   std::to_string(std::lround(limits.max_seconds)) + " s");
  }
  state_->decoder.reset(avcodec_alloc_context3(codec));
  if (!state_->decoder) throw ModelError(ErrorCode::kOutOfMemory, "video: cannot allocate a decoder");
  if (avcodec_parameters_to_context(state_->decoder.get(), parameters) < 0) {
    unreadable("the video stream's parameters cannot be used");
  }
  state_->decoder->thread_count = 1;  // a worker's slots are its parallelism
  if (const int open = avcodec_open2(state_->decoder.get(), codec, nullptr); open < 0) {
    unreadable("the " + std::string(codec->name) + " decoder does not start (" + ffmpeg::error_text(open) +
               ")");
  }
  info_.codec = codec->name;
  info_.width = parameters->width & ~1;
  info_.height = parameters->height & ~1;
  info_.time_base_num = stream->time_base.num;
  info_.time_base_den = stream->time_base.den;
  if (info_.time_base_num <= 0 || info_.time_base_den <= 0) unreadable("the video stream has no time base");
  const AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
  if (rate.num > 0 && rate.den > 0) info_.fps = av_q2d(rate);
  if (!(info_.fps >= 1 && info_.fps <= 240)) info_.fps = 25;
  state_->bgr.create(info_.height, info_.width, CV_8UC3);
}

VideoReader::~VideoReader() = default;

std::optional<DecodedFrame> VideoReader::next() {
  State& s = *state_;
  AVCodecContext* decoder = s.decoder.get();
  while (!s.done) {
    const int got = avcodec_receive_frame(decoder, s.frame.get());
    if (got == 0) {
      AVFrame* frame = s.frame.get();
      if (static_cast<uint64_t>(frame->width) * static_cast<uint64_t>(frame->height) > limits_.max_pixels ||
          frame->width < 2 || frame->height < 2) {
        throw ModelError(ErrorCode::kInvalidInput, "a frame of the video is over the pixel limit");
      }
      // A stream may change size midway: every frame is scaled to the first's.
      s.scaler.reset(sws_getCachedContext(
          s.scaler.release(), frame->width, frame->height, static_cast<AVPixelFormat>(frame->format),
          info_.width, info_.height, AV_PIX_FMT_BGR24, SWS_BILINEAR, nullptr, nullptr, nullptr));
      if (!s.scaler) unreadable("a frame's pixel format cannot be converted");
      uint8_t* planes[] = {s.bgr.data};
      const int strides[] = {static_cast<int>(s.bgr.step[0])};
      sws_scale(s.scaler.get(), frame->data, frame->linesize, 0, frame->height, planes, strides);
      int64_t pts =
          frame->best_effort_timestamp != AV_NOPTS_VALUE ? frame->best_effort_timestamp : s.last_pts + 1;
      if (!s.first_pts) s.first_pts = pts;
      pts -= *s.first_pts;
      if (pts <= s.last_pts) pts = s.last_pts + 1;  // the output needs strictly increasing times
      s.last_pts = pts;
      av_frame_unref(frame);
      const double time_s =
          static_cast<double>(pts) * info_.time_base_num / static_cast<double>(info_.time_base_den);
      if (time_s > limits_.max_seconds) {
        throw ModelError(ErrorCode::kMediaTooLong, "the video runs past " +
                                                       std::to_string(std::lround(limits_.max_seconds)) +
                                                       " s, this model's limit");
      }
      return DecodedFrame{s.bgr, pts, time_s};
    }
    if (got == AVERROR_EOF) {
      s.done = true;
      break;
    }
    if (got != AVERROR(EAGAIN)) unreadable("decoding failed (" + ffmpeg::error_text(got) + ")");
    if (s.draining) {
      s.done = true;
      break;
    }
    // The decoder wants input: the next packet of the video stream, or the end.
    const int read = av_read_frame(s.input.get(), s.packet.get());
    if (read == AVERROR_EOF) {
      s.draining = true;
      avcodec_send_packet(decoder, nullptr);
      continue;
    }
    if (read < 0) unreadable("the container is damaged (" + ffmpeg::error_text(read) + ")");
    if (s.packet->stream_index == s.stream) {
      const int sent = avcodec_send_packet(decoder, s.packet.get());
      if (sent < 0 && sent != AVERROR(EAGAIN) && ++s.bad_packets > kMaxBadPackets) {
        av_packet_unref(s.packet.get());
        unreadable("the video stream is corrupt (" + ffmpeg::error_text(sent) + ")");
      }
    }
    av_packet_unref(s.packet.get());
  }
  return std::nullopt;
}

}  // namespace gpufleet::video
