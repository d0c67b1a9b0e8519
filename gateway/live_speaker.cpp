#include "gateway/live_speaker.hpp"

#include "common/json_text.hpp"
#include "common/utf8.hpp"
#include "gateway/audio_tail.hpp"
#include "gateway/session_audio.hpp"

namespace gpufleet::gateway {

namespace {
constexpr size_t kMaxClientIdBytes = 128;
}  // namespace

LiveSpeaker::LiveSpeaker(boost::asio::io_context& io, RedisExecutor& redis, EventHub& event_hub,
                         LiveJobs jobs, Settings settings, Caller caller,
                         std::shared_ptr<media::MediaSession> session)
    : io_(io),
      redis_(redis),
      event_hub_(event_hub),
      jobs_(std::move(jobs)),
      settings_(std::move(settings)),
      caller_(std::move(caller)),
      session_(std::move(session)) {}

void LiveSpeaker::on_text(const std::string& text) {
  if (closed_) return;
  if (text.size() > settings_.max_message_bytes || !utf8_valid(text)) {
    return send_error(std::nullopt, api_error(ErrorCode::kInvalidRequest,
                                              "a message is UTF-8 JSON of at most " +
                                                  std::to_string(settings_.max_message_bytes) + " bytes"));
  }
  auto message = parse_json_or_discarded(text);
  if (!message.is_object()) {
    return send_error(std::nullopt,
                      api_error(ErrorCode::kInvalidJson,
                                "a message is a JSON object: {\"text\": ...} or {\"cancel\": true}"));
  }
  if (message.contains("cancel")) {
    if (message["cancel"] != true)
      return send_error(std::nullopt, api_error(ErrorCode::kInvalidRequest, "\"cancel\" takes true"));
    return cancel_current();
  }
  speak(std::move(message));
}

void LiveSpeaker::speak(nlohmann::json message) {
  std::optional<std::string> client_id;
  if (message.contains("id")) {
    if (!message["id"].is_string() || message["id"].get_ref<const std::string&>().size() > kMaxClientIdBytes)
      return send_error(std::nullopt,
                        api_error(ErrorCode::kInvalidRequest, "\"id\" is a string of at most 128 bytes"));
    client_id = message["id"].get<std::string>();
    message.erase("id");
  }
  if (utterances_.size() >= settings_.max_queued) {
    return send_error(client_id, api_error(ErrorCode::kQueueFull,
                                           "this session has " + std::to_string(settings_.max_queued) +
                                               " utterances waiting or speaking: wait for one to be spoken"));
  }
  // The message is a job's input, and may name the model; the job streams, so that audio goes out as made.
  nlohmann::json body = nlohmann::json::object();
  if (message.contains("model")) {
    body["model"] = message["model"];
    message.erase("model");
  }
  message["stream"] = true;
  body["input"] = std::move(message);
  const uint64_t number = next_number_++;
  utterances_.push_back(Utterance{number, client_id.value_or(""), "", nullptr, false});
  jobs_.submit(dump_json(body), caller_, [weak = weak_from_this(), number, client_id](SubmitOutcome outcome) {
    auto self = weak.lock();
    auto* created = std::get_if<Created>(&outcome);
    if (!self || self->closed_) {
      if (self && created) self->jobs_.cancel(created->id, self->caller_);
      return;
    }
    Utterance* utterance = self->find(number);
    if (!created) {
      self->forget(number);
      return self->send_error(client_id, std::get<ApiError>(outcome));
    }
    if (!utterance) return self->jobs_.cancel(created->id, self->caller_);  // cancelled meanwhile
    utterance->job_id = created->id;
    nlohmann::json event{{"event", "queued"}, {"utterance", number}, {"job", created->id}};
    if (client_id) event["id"] = *client_id;
    self->send(event);
    self->feed_next();
  });
}

void LiveSpeaker::feed_next() {
  if (feeding_ || closed_) return;
  for (auto& utterance : utterances_) {
    if (utterance.fed) continue;
    if (utterance.job_id.empty()) return;  // the next in order is not made yet: it keeps its turn
    const uint64_t number = utterance.number;
    utterance.output = std::make_shared<SessionAudioOutput>(
        session_, number, [weak = weak_from_this(), number](std::optional<ApiError> error) {
          if (auto self = weak.lock()) self->fed(number, std::move(error));
        });
    auto tail = std::make_shared<AudioTail>(io_, redis_, settings_.storage_root, utterance.job_id,
                                            utterance.output, settings_.audio_timeout, caller_);
    feeding_ = true;
    event_hub_.watch_tail(utterance.job_id, tail);
    tail->start();
    return;
  }
}

void LiveSpeaker::fed(uint64_t number, std::optional<ApiError> error) {
  feeding_ = false;
  if (Utterance* utterance = find(number)) {
    utterance->fed = true;
    if (error) {
      const std::string client_id = utterance->client_id;
      forget(number);
      nlohmann::json event{{"event", "error"},
                           {"utterance", number},
                           {"code", std::string(to_string(error->code))},
                           {"message", error->message}};
      if (!client_id.empty()) event["id"] = client_id;
      send(event);
    }
  }
  feed_next();
}

void LiveSpeaker::on_utterance(uint64_t number, media::UtteranceEvent event) {
  Utterance* utterance = find(number);
  if (!utterance || closed_) return;
  const bool played = event == media::UtteranceEvent::kPlayed;
  nlohmann::json message{
      {"event", played ? "spoken" : "speaking"}, {"utterance", number}, {"job", utterance->job_id}};
  if (!utterance->client_id.empty()) message["id"] = utterance->client_id;
  if (played) forget(number);
  send(message);
}

void LiveSpeaker::cancel_current() {
  if (utterances_.empty())
    return send_error(std::nullopt, api_error(ErrorCode::kInvalidRequest, "nothing is being spoken"));
  Utterance& current = utterances_.front();
  const uint64_t number = current.number;
  const bool being_fed = current.output && !current.fed;
  if (current.output) current.output->close();  // its tail stops at its next tick
  session_->flush(number);
  if (!current.job_id.empty()) jobs_.cancel(current.job_id, caller_);
  nlohmann::json event{{"event", "cancelled"}, {"utterance", number}, {"job", current.job_id}};
  if (!current.client_id.empty()) event["id"] = current.client_id;
  forget(number);
  send(event);
  if (being_fed) feeding_ = false;
  feed_next();
}

void LiveSpeaker::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& utterance : utterances_) {
    if (utterance.output) utterance.output->close();
    if (!utterance.job_id.empty() && !utterance.fed) jobs_.cancel(utterance.job_id, caller_);
  }
  utterances_.clear();
}

void LiveSpeaker::send(const nlohmann::json& event) {
  session_->send_text(dump_json(event));
}

void LiveSpeaker::send_error(const std::optional<std::string>& client_id, const ApiError& error) {
  nlohmann::json event{
      {"event", "error"}, {"code", std::string(to_string(error.code))}, {"message", error.message}};
  if (client_id) event["id"] = *client_id;
  send(event);
}

LiveSpeaker::Utterance* LiveSpeaker::find(uint64_t number) {
  for (auto& utterance : utterances_)
    if (utterance.number == number) return &utterance;
  return nullptr;
}

void LiveSpeaker::forget(uint64_t number) {
  for (auto it = utterances_.begin(); it != utterances_.end(); ++it) {
    if (it->number == number) {
      utterances_.erase(it);
      return;
    }
  }
}

}  // namespace gpufleet::gateway
