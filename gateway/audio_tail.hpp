#pragma once
// A speech job's audio as it is made, for GET /v1/jobs/{id}/stream (chunked HTTP) and WHEP sessions
// (whep_service.hpp). Follows the WAV file the worker appends to on shared storage (models/audio_stream.hpp)
// every 25 ms and the job's record every 200 ms, and at once when the gateway sees one of the job's events
// (job_changed); ends when the job succeeds. A model that does not stream still answers, with its finished
// result. Nothing is sent before there is audio, so a job that fails first gets an error; a stream that
// breaks later (the job failed, or was requeued after some audio went out, which cannot be spliced) is
// aborted: HTTP clients see a body without its terminating chunk, a WebRTC session ends.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/api.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/redis_executor.hpp"

namespace gpufleet::gateway {

// Where AudioTail's bytes go: the WAV file's bytes in order, header first.
class AudioOutput {
 public:
  virtual ~AudioOutput() = default;
  // Calls `gone` once if the receiver leaves before the audio ends (the tail stops polling).
  virtual void on_gone(std::function<void()> gone) = 0;
  // False once the receiver left.
  virtual bool open() const = 0;
  virtual void write(const std::string& wav_bytes) = 0;
  virtual void finish() = 0;                     // all of it went out
  virtual void abort() = 0;                      // it broke after some audio went out
  virtual void fail(const ApiError& error) = 0;  // it broke before any audio went out
  virtual bool started() const = 0;              // some audio went out
};

// The /stream route's output: chunked HTTP of audio/wav; an error before the first chunk is a JSON answer.
class HttpAudioOutput final : public AudioOutput {
 public:
  explicit HttpAudioOutput(std::shared_ptr<Responder> responder) : responder_(std::move(responder)) {}
  void on_gone(std::function<void()> gone) override { responder_->on_client_gone(std::move(gone)); }
  bool open() const override;
  void write(const std::string& wav_bytes) override;
  void finish() override;
  void abort() override;
  void fail(const ApiError& error) override;
  bool started() const override { return body_ != nullptr; }

 private:
  std::shared_ptr<Responder> responder_;
  std::shared_ptr<BodyStream> body_;
  bool closed_ = false;
};

class AudioTail : public std::enable_shared_from_this<AudioTail> {
 public:
  AudioTail(boost::asio::io_context& io, RedisExecutor& redis, std::filesystem::path storage_root,
            std::string job_id, std::shared_ptr<AudioOutput> output, std::chrono::milliseconds timeout,
            Caller caller = {}, std::shared_ptr<void> wait_slot = nullptr);
  void start();
  // The job's record changed (the gateway saw its event): read it now rather than at the next poll, so that
  // a finished result or a new attempt's stream goes out without waiting up to 200 ms.
  void job_changed();
  bool done() const { return done_; }

 private:
  void poll_job();
  void on_job(const std::vector<std::string>& fields);
  void schedule();
  // Forwards what the stream file of `attempt_` holds beyond what was sent (whole samples only).
  void pump();
  void send(const std::string& bytes);
  void finish();
  void abort();
  void fail(const struct ApiError& error);

  boost::asio::io_context& io_;
  RedisExecutor& redis_;
  RedisKeys keys_;
  std::filesystem::path storage_root_;
  std::string id_;
  Caller caller_;  // another key's job answers 404, as an unknown one
  std::shared_ptr<AudioOutput> output_;
  std::shared_ptr<void> wait_slot_;  // the caller's WaitQuota lease, held while the tail runs
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
  std::optional<std::string> attempt_;
  std::ifstream file_;
  uint64_t offset_ = 0;  // bytes of the stream file sent
  int ticks_ = 0;
  bool done_ = false;
  bool polling_ = false;  // a read of the record is on its way
  bool repoll_ = false;   // and the record changed again since it was sent
};

}  // namespace gpufleet::gateway
