#include "gateway/session_audio.hpp"

#include <spdlog/spdlog.h>

#include "common/wav.hpp"

namespace gpufleet::gateway {

namespace {
constexpr size_t kMaxWavHeaderBytes = 64 << 10;
}  // namespace

SessionAudioOutput::SessionAudioOutput(std::shared_ptr<media::MediaSession> session)
    : session_(std::move(session)) {}

SessionAudioOutput::SessionAudioOutput(std::shared_ptr<media::MediaSession> session, uint64_t utterance,
                                       Ended ended)
    : session_(std::move(session)), utterance_(utterance), ended_(std::move(ended)) {}

void SessionAudioOutput::write(const std::string& bytes) {
  if (closed_) return;
  if (format_known_) return push(bytes);
  header_ += bytes;
  auto info = parse_wav(header_);
  if (!info) {
    if (header_.size() > kMaxWavHeaderBytes)
      end_with(api_error(ErrorCode::kModelError, "the job's audio is not a WAV file"));
    return;
  }
  if (info->format != 1 || info->bits_per_sample != 16)
    return end_with(api_error(ErrorCode::kModelError, "the job's audio is not 16-bit PCM"));
  // A finished file's data chunk has its size (trailing chunks are not audio); a stream's has none.
  const auto* size_at = reinterpret_cast<const unsigned char*>(header_.data() + info->data_offset - 4);
  const uint32_t declared =
      size_at[0] | (size_at[1] << 8) | (size_at[2] << 16) | (uint32_t{size_at[3]} << 24);
  remaining_ = (declared == 0 || declared == 0xFFFFFFFFu) ? UINT64_MAX : declared;
  session_->start_audio(static_cast<int>(info->sample_rate), info->channels);
  format_known_ = true;
  const std::string samples = header_.substr(info->data_offset);
  header_.clear();
  push(samples);
}

void SessionAudioOutput::push(std::string_view pcm) {
  if (pcm.size() > remaining_) pcm = pcm.substr(0, remaining_);
  remaining_ -= pcm.size();
  if (pcm.empty()) return;
  pushed_ = true;
  session_->push(pcm, utterance_);
}

void SessionAudioOutput::finish() {
  if (closed_) return;
  closed_ = true;
  if (!ended_) return session_->end_audio();
  session_->end_utterance(utterance_);
  ended_(std::nullopt);
}

void SessionAudioOutput::abort() {
  end_with(api_error(ErrorCode::kJobFailed, "the job broke off after some of its audio was sent"));
}

void SessionAudioOutput::fail(const ApiError& error) {
  end_with(error);
}

void SessionAudioOutput::end_with(std::optional<ApiError> error) {
  if (closed_) return;
  closed_ = true;
  if (!ended_) {
    if (error) spdlog::info("whep: session {} ends: {}", session_->id(), error->message);
    return session_->fail();
  }
  session_->flush(utterance_);
  ended_(std::move(error));
}

}  // namespace gpufleet::gateway
