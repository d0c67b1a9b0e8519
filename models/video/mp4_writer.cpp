#include "models/video/mp4_writer.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "models/video/ffmpeg_handles.hpp"

namespace gpufleet::video {

namespace {

[[noreturn]] void fail(const std::string& what, int code) {
  throw ModelError(ErrorCode::kModelError, "video encoding: " + what + ": " + ffmpeg::error_text(code));
}

void check(int code, const char* what) {
  if (code < 0) fail(what, code);
}

struct SwrDeleter {
  void operator()(SwrContext* context) const { swr_free(&context); }
};
// The output context owns its streams; its file is closed before it is freed.
struct OutputDeleter {
  void operator()(AVFormatContext* context) const {
    if (context->pb != nullptr && !(context->oformat->flags & AVFMT_NOFILE)) avio_closep(&context->pb);
    avformat_free_context(context);
  }
};

using ffmpeg::CodecContext;
using ffmpeg::Frame;
using ffmpeg::Packet;

Frame make_frame() {
  Frame frame(av_frame_alloc());
  if (!frame) throw ModelError(ErrorCode::kOutOfMemory, "video encoding: cannot allocate a frame");
  return frame;
}

// The rate AAC will take: the input's when the encoder lists it, else 48 kHz.
int aac_rate(const AVCodec* codec, int wanted) {
  if (codec->supported_samplerates == nullptr) return wanted;
  for (const int* rate = codec->supported_samplerates; *rate != 0; ++rate) {
    if (*rate == wanted) return wanted;
  }
  return 48000;
}

}  // namespace

struct Mp4Writer::State {
  std::unique_ptr<AVFormatContext, OutputDeleter> output;
  CodecContext video;
  CodecContext audio;
  AVStream* video_stream = nullptr;
  AVStream* audio_stream = nullptr;
  ffmpeg::Scaler scaler;
  std::unique_ptr<SwrContext, SwrDeleter> resampler;
  Frame picture = make_frame();
  Packet packet{av_packet_alloc()};
  int64_t audio_pts = 0;
  std::vector<float> pending;  // resampled audio not yet a whole encoder frame
  bool finished = false;

  // Encodes the pending audio in frames of the encoder's size; with `all`, the short rest too.
  void encode_audio(bool all) {
    AVCodecContext* codec = audio.get();
    const size_t frame_size = codec->frame_size > 0 ? static_cast<size_t>(codec->frame_size) : 1024;
    size_t start = 0;
    while (pending.size() - start >= frame_size || (all && pending.size() > start)) {
      const size_t count = std::min(frame_size, pending.size() - start);
      Frame frame = make_frame();
      frame->format = AV_SAMPLE_FMT_FLTP;
      frame->sample_rate = codec->sample_rate;
      frame->nb_samples = static_cast<int>(count);
      check(av_channel_layout_copy(&frame->ch_layout, &codec->ch_layout), "describing an audio frame");
      check(av_frame_get_buffer(frame.get(), 0), "allocating an audio frame");
      std::copy_n(pending.data() + start, count, reinterpret_cast<float*>(frame->data[0]));
      frame->pts = audio_pts;
      audio_pts += static_cast<int64_t>(count);
      encode(codec, audio_stream, frame.get());
      start += count;
    }
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(start));
  }

  // Sends one frame (nullptr: flush) and writes every packet the encoder has ready.
  void encode(AVCodecContext* codec, AVStream* stream, const AVFrame* frame) {
    check(avcodec_send_frame(codec, frame), "sending a frame to the encoder");
    while (true) {
      const int got = avcodec_receive_packet(codec, packet.get());
      if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return;
      check(got, "receiving a packet from the encoder");
      // A video packet lasts one frame. libx264 leaves the duration unset, and the MP4 muxer would then end
      // the track (and its edit list) at the last frame's start, so players would drop that frame.
      if (packet->duration == 0 && codec->codec_type == AVMEDIA_TYPE_VIDEO) packet->duration = 1;
      av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      check(av_interleaved_write_frame(output.get(), packet.get()), "writing a packet");
    }
  }
};

Mp4Writer::Mp4Writer(const std::filesystem::path& path, const Mp4Settings& settings)
    : state_(std::make_unique<State>()) {
  // FFmpeg's encoders log their statistics at info level to stderr; only its errors belong in a worker's log.
  static std::once_flag quiet;
  std::call_once(quiet, [] { av_log_set_level(AV_LOG_ERROR); });
  if (settings.width <= 0 || settings.height <= 0 || settings.width % 2 != 0 || settings.height % 2 != 0) {
    throw ModelError(ErrorCode::kInvalidInput, "video size must be positive and even");
  }
  if (!state_->packet) throw ModelError(ErrorCode::kOutOfMemory, "video encoding: cannot allocate a packet");
  AVFormatContext* raw = nullptr;
  check(avformat_alloc_output_context2(&raw, nullptr, "mp4", path.c_str()), "creating the MP4 container");
  state_->output.reset(raw);

  const AVCodec* h264 = avcodec_find_encoder_by_name("libx264");
  if (h264 == nullptr) h264 = avcodec_find_encoder(AV_CODEC_ID_H264);
  if (h264 == nullptr)
    throw ModelError(ErrorCode::kModelError, "video encoding: this FFmpeg has no H.264 encoder");
  state_->video.reset(avcodec_alloc_context3(h264));
  AVCodecContext* video = state_->video.get();
  video->width = settings.width;
  video->height = settings.height;
  video->time_base = settings.time_base_num > 0 && settings.time_base_den > 0
                         ? AVRational{settings.time_base_num, settings.time_base_den}
                         : AVRational{1, settings.fps};
  video->framerate = AVRational{settings.fps, 1};
  video->pix_fmt = AV_PIX_FMT_YUV420P;
  video->gop_size = settings.fps * 2;
  if (state_->output->oformat->flags & AVFMT_GLOBALHEADER) video->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set(video->priv_data, "preset", settings.preset, 0);
  av_opt_set(video->priv_data, "crf", std::to_string(settings.crf).c_str(), 0);
  check(avcodec_open2(video, h264, nullptr), "opening the H.264 encoder");
  state_->video_stream = avformat_new_stream(state_->output.get(), nullptr);
  if (state_->video_stream == nullptr) throw ModelError(ErrorCode::kOutOfMemory, "video encoding: no stream");
  state_->video_stream->time_base = video->time_base;
  check(avcodec_parameters_from_context(state_->video_stream->codecpar, video),
        "describing the video stream");

  if (settings.audio_sample_rate > 0) {
    const AVCodec* aac = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (aac == nullptr)
      throw ModelError(ErrorCode::kModelError, "video encoding: this FFmpeg has no AAC encoder");
    state_->audio.reset(avcodec_alloc_context3(aac));
    AVCodecContext* audio = state_->audio.get();
    audio->sample_fmt = AV_SAMPLE_FMT_FLTP;
    audio->sample_rate = aac_rate(aac, static_cast<int>(settings.audio_sample_rate));
    av_channel_layout_default(&audio->ch_layout, 1);
    audio->bit_rate = 96000;
    audio->time_base = AVRational{1, audio->sample_rate};
    if (state_->output->oformat->flags & AVFMT_GLOBALHEADER) audio->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    check(avcodec_open2(audio, aac, nullptr), "opening the AAC encoder");
    state_->audio_stream = avformat_new_stream(state_->output.get(), nullptr);
    if (state_->audio_stream == nullptr)
      throw ModelError(ErrorCode::kOutOfMemory, "video encoding: no stream");
    state_->audio_stream->time_base = audio->time_base;
    check(avcodec_parameters_from_context(state_->audio_stream->codecpar, audio),
          "describing the audio stream");
    AVChannelLayout mono;
    av_channel_layout_default(&mono, 1);
    SwrContext* resampler = nullptr;
    check(swr_alloc_set_opts2(&resampler, &mono, AV_SAMPLE_FMT_FLTP, audio->sample_rate, &mono,
                              AV_SAMPLE_FMT_S16, static_cast<int>(settings.audio_sample_rate), 0, nullptr),
          "setting up the resampler");
    state_->resampler.reset(resampler);
    check(swr_init(resampler), "starting the resampler");
  }

  check(avio_open(&state_->output->pb, path.c_str(), AVIO_FLAG_WRITE), "opening the output file");
  AVDictionary* options = nullptr;
  av_dict_set(&options, "movflags", "+faststart", 0);
  const int header = avformat_write_header(state_->output.get(), &options);
  av_dict_free(&options);
  check(header, "writing the MP4 header");

  state_->scaler.reset(sws_getContext(settings.width, settings.height, AV_PIX_FMT_BGR24, settings.width,
                                      settings.height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr,
                                      nullptr));
  if (!state_->scaler) throw ModelError(ErrorCode::kModelError, "video encoding: no BGR to YUV converter");
  AVFrame* picture = state_->picture.get();
  picture->format = AV_PIX_FMT_YUV420P;
  picture->width = settings.width;
  picture->height = settings.height;
  check(av_frame_get_buffer(picture, 0), "allocating a picture");
}

Mp4Writer::~Mp4Writer() = default;

void Mp4Writer::write_frame(const cv::Mat& bgr, std::optional<int64_t> pts) {
  AVCodecContext* video = state_->video.get();
  if (bgr.type() != CV_8UC3 || bgr.cols != video->width || bgr.rows != video->height) {
    throw ModelError(ErrorCode::kModelError, "video encoding: a frame of the wrong size or type");
  }
  AVFrame* picture = state_->picture.get();
  check(av_frame_make_writable(picture), "reusing the picture");
  const uint8_t* source[] = {bgr.data};
  const int stride[] = {static_cast<int>(bgr.step[0])};
  sws_scale(state_->scaler.get(), source, stride, 0, bgr.rows, picture->data, picture->linesize);
  if (pts && *pts <= last_pts_)
    throw ModelError(ErrorCode::kModelError, "video encoding: frame times go back");
  picture->pts = pts ? *pts : last_pts_ + 1;
  last_pts_ = picture->pts;
  ++frames_;
  state_->encode(video, state_->video_stream, picture);
}

void Mp4Writer::write_audio(std::span<const int16_t> samples) {
  if (!state_->audio || samples.empty()) return;
  const int capacity = swr_get_out_samples(state_->resampler.get(), static_cast<int>(samples.size())) + 64;
  const size_t had = state_->pending.size();
  state_->pending.resize(had + static_cast<size_t>(std::max(capacity, 0)));
  uint8_t* out[] = {reinterpret_cast<uint8_t*>(state_->pending.data() + had)};
  const uint8_t* in[] = {reinterpret_cast<const uint8_t*>(samples.data())};
  const int made = swr_convert(state_->resampler.get(), out, capacity, in, static_cast<int>(samples.size()));
  check(made, "resampling the audio");
  state_->pending.resize(had + static_cast<size_t>(made));
  state_->encode_audio(false);
}

void Mp4Writer::finish() {
  if (state_->finished) return;
  state_->encode(state_->video.get(), state_->video_stream, nullptr);
  if (state_->audio) {
    // What the resampler still holds, then the short last frame, then the encoder's own delay.
    const int capacity = swr_get_out_samples(state_->resampler.get(), 0) + 64;
    const size_t had = state_->pending.size();
    state_->pending.resize(had + static_cast<size_t>(std::max(capacity, 0)));
    uint8_t* out[] = {reinterpret_cast<uint8_t*>(state_->pending.data() + had)};
    const int made = swr_convert(state_->resampler.get(), out, capacity, nullptr, 0);
    check(made, "flushing the resampler");
    state_->pending.resize(had + static_cast<size_t>(made));
    state_->encode_audio(true);
    state_->encode(state_->audio.get(), state_->audio_stream, nullptr);
  }
  check(av_write_trailer(state_->output.get()), "writing the MP4 index");
  state_->finished = true;
}

}  // namespace gpufleet::video
