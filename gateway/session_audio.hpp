#pragma once
// An AudioTail's WAV bytes into a WebRTC session (media::MediaSession): the header read for the format, the
// samples pushed as they come. For a WHEP session of one job the job's end is the session's (end_audio, or
// fail); for a live session it is one utterance's (end_utterance, or flush), and the session goes on.
// Event loop only; the session is safe to call from it.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/audio_tail.hpp"
#include "media/webrtc_egress.hpp"

namespace gpufleet::gateway {

class SessionAudioOutput final : public AudioOutput {
 public:
  // How the utterance ended: nothing when all its audio went out, else why not.
  using Ended = std::function<void(std::optional<ApiError> error)>;
  // A WHEP session of one job: its end ends the session.
  explicit SessionAudioOutput(std::shared_ptr<media::MediaSession> session);
  // One utterance of a live session: `ended` is told, the session goes on.
  SessionAudioOutput(std::shared_ptr<media::MediaSession> session, uint64_t utterance, Ended ended);

  void on_gone(std::function<void()>) override {}  // the tail sees open() turn false at its next tick
  bool open() const override { return !closed_ && !session_->ended(); }
  void write(const std::string& bytes) override;
  void finish() override;
  void abort() override;
  void fail(const ApiError& error) override;
  bool started() const override { return pushed_; }
  // Stops taking audio (a cancelled utterance): the tail ends at its next tick; `ended` is not told.
  void close() { closed_ = true; }

 private:
  void push(std::string_view pcm);
  void end_with(std::optional<ApiError> error);

  std::shared_ptr<media::MediaSession> session_;
  uint64_t utterance_ = 0;
  Ended ended_;  // empty: a session of one job
  std::string header_;
  bool format_known_ = false;
  bool pushed_ = false;
  bool closed_ = false;
  uint64_t remaining_ = UINT64_MAX;  // bytes of the data chunk still to come (a stream's: unbounded)
};

}  // namespace gpufleet::gateway
