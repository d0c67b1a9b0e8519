#pragma once
// A live WebRTC session's speech (POST /v1/sessions/whep): each text message on the session's data channel
// becomes a speech job, made at once and spoken on the session's one audio track in the order the messages
// came; {"cancel": true} cuts the utterance being heard (barge-in) and cancels its job, and the ones queued
// behind it go on. The peer hears what happens as events on the channel (docs/webrtc.md, "Live sessions").
// Event loop only.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/api.hpp"
#include "gateway/event_hub.hpp"
#include "gateway/job_submitter.hpp"
#include "gateway/redis_executor.hpp"
#include "media/webrtc_egress.hpp"

namespace gpufleet::gateway {

class SessionAudioOutput;

// What a live session needs from the gateway: a job made as POST /v1/jobs makes it from a JSON body (the
// caller's limits, the job store's refusals), and a job cancelled as DELETE /v1/jobs/{id} does.
struct LiveJobs {
  std::function<void(const std::string& body, const Caller& caller, std::function<void(SubmitOutcome)> done)>
      submit;
  std::function<void(const std::string& id, const Caller& caller)> cancel;
};

class LiveSpeaker : public std::enable_shared_from_this<LiveSpeaker> {
 public:
  struct Settings {
    std::filesystem::path storage_root;
    std::chrono::milliseconds audio_timeout{600000};  // an utterance whose job makes no audio this long fails
    size_t max_queued = 16;                           // utterances waiting or speaking; past it, refused
    size_t max_message_bytes = 16 << 10;
  };
  LiveSpeaker(boost::asio::io_context& io, RedisExecutor& redis, EventHub& event_hub, LiveJobs jobs,
              Settings settings, Caller caller, std::shared_ptr<media::MediaSession> session);

  // A text message from the peer.
  void on_text(const std::string& text);
  // The session's pacing reports an utterance starting or played.
  void on_utterance(uint64_t utterance, media::UtteranceEvent event);
  // The session ended: queued and unfinished jobs are cancelled, tails stopped.
  void close();

 private:
  struct Utterance {
    uint64_t number = 0;
    std::string client_id;                       // the message's "id", echoed in its events
    std::string job_id;                          // empty while the job is being made
    std::shared_ptr<SessionAudioOutput> output;  // while or once it is fed: closed to stop its tail
    bool fed = false;                            // all its audio was handed to the session
  };

  void speak(nlohmann::json message);
  void cancel_current();
  // Starts feeding the first utterance whose job exists, if none is being fed.
  void feed_next();
  void fed(uint64_t number, std::optional<ApiError> error);
  void send(const nlohmann::json& event);
  void send_error(const std::optional<std::string>& client_id, const ApiError& error);
  Utterance* find(uint64_t number);
  void forget(uint64_t number);

  boost::asio::io_context& io_;
  RedisExecutor& redis_;
  EventHub& event_hub_;
  LiveJobs jobs_;
  Settings settings_;
  Caller caller_;
  std::shared_ptr<media::MediaSession> session_;
  std::deque<Utterance> utterances_;  // in the order they are spoken
  uint64_t next_number_ = 1;
  bool feeding_ = false;
  bool closed_ = false;
};

}  // namespace gpufleet::gateway
