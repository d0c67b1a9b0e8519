#pragma once
// WebRTC delivery of jobs over WHEP (draft-ietf-wish-whep, the egress twin of WHIP, RFC 9725): POST
// /v1/jobs/{id}/whep takes a browser's SDP offer and answers 201 with the SDP answer and the session's
// Location. A speech job's audio then goes out as Opus, as the worker makes it (an AudioTail feeds the
// session), paced in real time; a video job's picture (VP8) and sound (Opus) go out in step, in real time,
// once the job has finished (its MP4 is decoded as it is sent). DELETE /v1/whep/{session} ends a session
// early; PATCH takes the client's trickled ICE candidates (the answer carries every one of ours). The HTTP
// side runs here on the gateway's event loop (the offer's checks, the job and its owner, per-key limits, the
// session table, metrics); the WebRTC side is media::WebrtcEgress's, on its own threads.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>

#include "common/metrics.hpp"
#include "gateway/api.hpp"
#include "gateway/event_hub.hpp"
#include "gateway/file_store.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/live_speaker.hpp"
#include "gateway/redis_executor.hpp"
#include "gateway/wait_quota.hpp"
#include "media/webrtc_egress.hpp"

namespace gpufleet::gateway {

struct WhepConfig {
  media::WebrtcConfig webrtc;
  size_t max_sessions_per_key = 4;  // WEBRTC_MAX_SESSIONS_PER_KEY; past it 429 too_many_sessions
  // A job that makes no audio this long, or a video job that has not finished, ends its session.
  std::chrono::milliseconds audio_timeout{600000};

  static WhepConfig from_env();
};

// The file a succeeded job's result names (FileStore::result_file).
using ResultFiles = std::function<std::variant<ResultFile, ApiError>(
    const std::string& job_id, const nlohmann::json& result, std::string_view kind)>;

class WhepService {
 public:
  WhepService(boost::asio::io_context& io, RedisExecutor& redis, std::filesystem::path storage_root,
              WhepConfig config, MetricsRegistry& metrics, EventHub& event_hub, LiveJobs jobs,
              ResultFiles result_files);
  ~WhepService();

  // POST /v1/jobs/{id}/whep.
  void open(const std::string& job_id, const Request& request, const Caller& caller,
            std::shared_ptr<Responder> responder);
  // POST /v1/sessions/whep: a live session (live_speaker.hpp); the offer must carry a data channel.
  void open_live(const Request& request, const Caller& caller, std::shared_ptr<Responder> responder);
  // PATCH /v1/whep/{session}: the client's trickled candidates (application/trickle-ice-sdpfrag) for the
  // session's ICE agent: 204; 404 for an unknown or another key's session, 400 for a fragment that is not
  // well formed, 422 for other ICE credentials (an ICE restart, which sessions do not do).
  void trickle(const std::string& session_id, const Request& request, const Caller& caller,
               std::shared_ptr<Responder> responder);
  // DELETE /v1/whep/{session}: 200 once the session is ending; 404 for an unknown or another key's.
  void close(const std::string& session_id, const Caller& caller, std::shared_ptr<Responder> responder);
  size_t open_sessions() const;

 private:
  struct Session {
    std::string owner;  // the API key's name
    std::shared_ptr<WaitQuota::Lease> lease;
    std::shared_ptr<LiveSpeaker> speaker;  // a live session's
    // A video session's wait for its job (EventHub::await_final), ended with the session so that opening
    // and ending sessions on a job that has not finished leaves nothing behind.
    std::function<void()> stop_waiting;
  };
  // Forwards a live session's callbacks (on the egress's threads) to its speaker on the event loop; the
  // speaker exists only once the answer is back.
  struct LiveRelay {
    std::weak_ptr<LiveSpeaker> speaker;  // event loop only
  };
  // What the media thread's callbacks reach, through a weak pointer: they may outlive the service.
  struct Table {
    std::unordered_map<std::string, Session> sessions;
  };

  // The checks both routes share: the egress, the Content-Type, the offer, the key's limit. Answers the
  // refusal itself and returns nothing then.
  struct Admitted {
    media::WhepOffer offer;
    std::shared_ptr<WaitQuota::Lease> lease;
  };
  std::optional<Admitted> admit(const Request& request, const Caller& caller,
                                const std::shared_ptr<Responder>& responder);
  // The answer with its Location, or the refusal; the session's entry in the table. False when refused.
  bool answer(media::OpenResult& result, const Caller& caller, std::shared_ptr<WaitQuota::Lease> lease,
              const std::shared_ptr<Responder>& responder, std::shared_ptr<LiveSpeaker> speaker = nullptr,
              bool video = false);
  void refuse(const std::shared_ptr<Responder>& responder, ErrorCode code, const std::string& reason,
              std::string message);
  // A video job's session: plays the job's MP4 once the job has succeeded; ends the session when it fails,
  // is cancelled or has not finished within audio_timeout. The wait ends with the session.
  void play_when_done(const std::string& job_id, std::shared_ptr<media::MediaSession> session);

  boost::asio::io_context& io_;
  RedisExecutor& redis_;
  RedisKeys keys_;
  std::filesystem::path storage_root_;
  WhepConfig config_;
  MetricsRegistry& metrics_;
  EventHub& event_hub_;
  LiveJobs jobs_;
  ResultFiles result_files_;
  WaitQuota quota_;
  std::shared_ptr<Table> table_ = std::make_shared<Table>();
  std::unique_ptr<media::WebrtcEgress> egress_;  // last: its media thread stops first
};

}  // namespace gpufleet::gateway
