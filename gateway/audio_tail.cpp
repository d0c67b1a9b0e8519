#include "gateway/audio_tail.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "common/json_text.hpp"
#include "gateway/api.hpp"

namespace gpufleet::gateway {

namespace {
constexpr auto kTick = std::chrono::milliseconds(25);
constexpr int kTicksPerJobPoll = 8;
constexpr uint64_t kWavHeaderBytes = 44;  // as AudioStreamFile writes it
}  // namespace

AudioTail::AudioTail(boost::asio::io_context& io, RedisExecutor& redis, std::filesystem::path storage_root,
                     std::string job_id, std::shared_ptr<AudioOutput> output,
                     std::chrono::milliseconds timeout, Caller caller, std::shared_ptr<void> wait_slot)
    : io_(io),
      redis_(redis),
      keys_(redis.keys()),
      storage_root_(std::move(storage_root)),
      id_(std::move(job_id)),
      caller_(std::move(caller)),
      output_(std::move(output)),
      wait_slot_(std::move(wait_slot)),
      timer_(io),
      deadline_(std::chrono::steady_clock::now() + timeout) {}

void AudioTail::start() {
  // A client that leaves stops the polling at once.
  output_->on_gone([weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->done_) return;
    self->done_ = true;
    self->wait_slot_.reset();
    self->timer_.cancel();
  });
  poll_job();
}

void AudioTail::job_changed() {
  if (!done_) poll_job();
}

void AudioTail::poll_job() {
  if (polling_) {
    repoll_ = true;  // one read at a time; the change is looked at when this one is back
    return;
  }
  polling_ = true;
  redis_.execute({{"HMGET", keys_.job(id_), "state", "attempts", "kind", "result", "error_code",
                   "error_message", "owner"}},
                 [self = shared_from_this()](RedisBatchResult result) {
                   self->polling_ = false;
                   if (self->done_) return;
                   if (!result.ok) return self->fail(redis_down(result.failure));
                   self->on_job(result.replies[0].elements);
                   if (!self->done_ && std::exchange(self->repoll_, false)) self->poll_job();
                 });
}

void AudioTail::on_job(const std::vector<std::string>& fields) {
  if (fields.size() < 7 || fields[0].empty() || !caller_.owns(fields[6])) {
    return fail(api_error(ErrorCode::kNotFound, "no job with id " + id_));
  }
  const std::string& state = fields[0];
  if (fields[2] != "tts") {
    // The stream is a speech job's: a video job has no such resource.
    return fail(api_error(ErrorCode::kNotFound, "job " + id_ + " makes " + fields[2] +
                                                    ", not speech: it has no audio stream; fetch /result"));
  }
  if (attempt_ && *attempt_ != fields[1] && offset_ > 0) {
    return abort();  // a new attempt speaks from the start: what went out cannot be continued
  }
  if (!attempt_ || *attempt_ != fields[1]) {
    attempt_ = fields[1];
    file_ = std::ifstream();
    offset_ = 0;
  }
  pump();
  if (done_) return;
  // The pump above already read all of it: the worker appends before it reports, and the record said
  // succeeded only after that report.
  if (state == "succeeded") {
    if (offset_ == 0) {
      // The model did not stream: its finished result, whole.
      auto result = parse_json_or_discarded(fields[3]);
      const auto audio_path =
          result.is_object() ? result.value("audio_path", nlohmann::json()) : nlohmann::json();
      auto path = audio_path.is_string() ? resolve_inside(storage_root_, audio_path.get<std::string>())
                                         : std::nullopt;
      auto bytes = path ? read_file(*path, 1ULL << 32) : std::nullopt;
      if (!bytes)
        return fail(
            api_error(ErrorCode::kNotFound, "job " + id_ + " produced no audio file in shared storage"));
      send(*bytes);
    }
    return finish();
  }
  if (state == "failed" || state == "cancelled" || state == "expired") {
    if (output_->started()) return abort();
    return fail(api_error(ErrorCode::kJobFailed,
                          "job " + id_ + " " + state + (fields[5].empty() ? "" : ": " + fields[5])));
  }
  schedule();
}

void AudioTail::schedule() {
  if (std::chrono::steady_clock::now() >= deadline_) {
    if (output_->started()) return abort();
    return fail(api_error(ErrorCode::kTimeout, "job " + id_ + " made no audio in time"));
  }
  timer_.expires_after(kTick);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->done_) return;
    if (!self->output_->open()) {
      self->done_ = true;  // the client left
      return;
    }
    self->pump();
    if (self->done_) return;
    if (++self->ticks_ % kTicksPerJobPoll == 0) return self->poll_job();
    self->schedule();
  });
}

void AudioTail::pump() {
  if (!attempt_) return;
  if (!file_.is_open()) {
    file_.open(storage_root_ / "streams" / (id_ + "-" + *attempt_ + ".wav"), std::ios::binary);
    if (!file_.is_open()) return;  // not started yet, or a model that does not stream
  }
  file_.clear();
  file_.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(std::max<std::streamoff>(0, file_.tellg()));
  uint64_t end = size;
  if (end > kWavHeaderBytes) end -= (end - kWavHeaderBytes) % 2;  // whole samples only
  if (end <= offset_ || end < kWavHeaderBytes) return;
  std::string bytes(end - offset_, '\0');
  file_.seekg(static_cast<std::streamoff>(offset_));
  file_.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (file_.gcount() != static_cast<std::streamsize>(bytes.size())) return;
  offset_ = end;
  send(bytes);
}

void AudioTail::send(const std::string& bytes) {
  if (bytes.empty() || done_) return;
  output_->write(bytes);
  if (!output_->open()) done_ = true;
}

void AudioTail::finish() {
  done_ = true;
  output_->finish();
}

void AudioTail::abort() {
  done_ = true;
  output_->abort();
}

void AudioTail::fail(const ApiError& error) {
  if (output_->started()) return abort();
  done_ = true;
  output_->fail(error);
}

bool HttpAudioOutput::open() const {
  return !closed_ && (!body_ || body_->open());
}

void HttpAudioOutput::write(const std::string& bytes) {
  if (closed_) return;
  if (!body_) {
    StringResponse head{http::status::ok, 11};
    head.set(http::field::server, "gpufleet");
    head.set(http::field::content_type, "audio/wav");
    head.set(http::field::transfer_encoding, "chunked");
    head.set(http::field::cache_control, "no-store");
    body_ = responder_->stream(std::move(head));
    if (!body_) {
      closed_ = true;
      return;
    }
  }
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", bytes.size());
  body_->write(size + bytes + "\r\n");
}

void HttpAudioOutput::finish() {
  closed_ = true;
  if (!body_) return;
  body_->write("0\r\n\r\n");
  body_->end();
}

void HttpAudioOutput::abort() {
  closed_ = true;
  if (body_) body_->end();
}

void HttpAudioOutput::fail(const ApiError& error) {
  closed_ = true;
  responder_->send(error_response(error));
}

}  // namespace gpufleet::gateway
