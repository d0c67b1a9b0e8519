#include "gateway/whep_service.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "common/config.hpp"
#include "common/job.hpp"
#include "common/json_text.hpp"
#include "common/pipeline.hpp"
#include "gateway/audio_tail.hpp"
#include "gateway/session_audio.hpp"
#include "media/ice_servers.hpp"
#include "store/redis_schema.hpp"

namespace gpufleet::gateway {

namespace asio = boost::asio;

namespace {

bool is_session_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

WhepConfig WhepConfig::from_env() {
  WhepConfig config;
  config.webrtc.stun_server = env_string("WEBRTC_STUN_SERVER", "");
  config.webrtc.turn_servers = split_list(env_string("WEBRTC_TURN_SERVERS", ""));
  config.webrtc.max_sessions = static_cast<size_t>(env_int("WEBRTC_MAX_SESSIONS", 64, 0, 100000));
  config.webrtc.connect_timeout =
      std::chrono::milliseconds(env_int("WEBRTC_CONNECT_TIMEOUT_MS", 15000, 100, 600000));
  config.webrtc.port_min = static_cast<uint16_t>(env_int("WEBRTC_PORT_MIN", 0, 0, 65535));
  config.webrtc.port_max = static_cast<uint16_t>(env_int("WEBRTC_PORT_MAX", 0, 0, 65535));
  if ((config.webrtc.port_min == 0) != (config.webrtc.port_max == 0) ||
      config.webrtc.port_min > config.webrtc.port_max)
    throw ConfigError("WEBRTC_PORT_MIN and WEBRTC_PORT_MAX go together, the first not above the second");
  config.max_sessions_per_key = static_cast<size_t>(env_int("WEBRTC_MAX_SESSIONS_PER_KEY", 4, 1, 100000));
  return config;
}

WhepService::WhepService(asio::io_context& io, RedisExecutor& redis, std::filesystem::path storage_root,
                         WhepConfig config, MetricsRegistry& metrics, EventHub& event_hub, LiveJobs jobs,
                         ResultFiles result_files)
    : io_(io),
      redis_(redis),
      keys_(redis.keys()),
      storage_root_(std::move(storage_root)),
      config_(std::move(config)),
      metrics_(metrics),
      event_hub_(event_hub),
      jobs_(std::move(jobs)),
      result_files_(std::move(result_files)),
      quota_(config_.max_sessions_per_key) {
  metrics_.gauge("gpufleet_webrtc_sessions", "WebRTC (WHEP) sessions open");
  metrics_.counter("gpufleet_webrtc_sessions_opened_total",
                   "WebRTC sessions answered, by kind (job, video, live)");
  metrics_.counter("gpufleet_webrtc_sessions_ended_total",
                   "WebRTC sessions ended, by reason (played, deleted, ice_failed, connect_timeout, ...)");
  metrics_.counter("gpufleet_webrtc_sessions_refused_total",
                   "WHEP offers refused, by reason (invalid_sdp, too_many_sessions, unavailable, ...)");
  metrics_.counter("gpufleet_webrtc_ice_failures_total",
                   "WebRTC sessions that never connected or whose ICE failed");
  metrics_.counter("gpufleet_webrtc_sent_bytes_total", "RTP payload bytes sent to WebRTC peers");
  metrics_.histogram("gpufleet_webrtc_first_packet_seconds",
                     "From a session's answer to its first audio packet",
                     {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  metrics_.set("gpufleet_webrtc_sessions", {}, 0);
  egress_ = std::make_unique<media::WebrtcEgress>(
      config_.webrtc, [this, table = std::weak_ptr<Table>(table_)](
                          const std::string& id, media::SessionEnd end, const media::SessionStats& stats) {
        // Media thread: metrics are thread-safe; the table is the event loop's.
        metrics_.increment("gpufleet_webrtc_sessions_ended_total", {{"reason", std::string(to_string(end))}});
        if (end == media::SessionEnd::kIceFailed || end == media::SessionEnd::kConnectTimeout)
          metrics_.increment("gpufleet_webrtc_ice_failures_total");
        metrics_.increment("gpufleet_webrtc_sent_bytes_total", {}, static_cast<double>(stats.bytes_sent));
        if (stats.first_packet_after)
          metrics_.observe("gpufleet_webrtc_first_packet_seconds", {},
                           std::chrono::duration<double>(*stats.first_packet_after).count());
        asio::post(io_, [this, table, id] {
          auto alive = table.lock();
          if (!alive) return;
          auto it = alive->sessions.find(id);
          if (it == alive->sessions.end()) return;
          if (it->second.speaker) it->second.speaker->close();
          if (it->second.stop_waiting) it->second.stop_waiting();
          alive->sessions.erase(it);
          metrics_.set("gpufleet_webrtc_sessions", {}, static_cast<double>(alive->sessions.size()));
        });
      });
  if (auto why = egress_->unavailable()) spdlog::info("gateway: WebRTC (WHEP) unavailable: {}", *why);
}

WhepService::~WhepService() {
  egress_.reset();  // ends every session while the table and metrics are still here
}

size_t WhepService::open_sessions() const {
  return table_->sessions.size();
}

void WhepService::refuse(const std::shared_ptr<Responder>& responder, ErrorCode code,
                         const std::string& reason, std::string message) {
  metrics_.increment("gpufleet_webrtc_sessions_refused_total", {{"reason", reason}});
  responder->send(error_response(api_error(code, std::move(message))));
}

std::optional<WhepService::Admitted> WhepService::admit(const Request& request, const Caller& caller,
                                                        const std::shared_ptr<Responder>& responder) {
  if (auto why = egress_->unavailable()) {
    refuse(responder, ErrorCode::kUnavailable, "unavailable", "WebRTC is unavailable: " + *why);
    return std::nullopt;
  }
  if (request[http::field::content_type].substr(0, 15) != "application/sdp") {
    refuse(responder, ErrorCode::kUnsupportedMediaType, "invalid_sdp",
           "Content-Type must be application/sdp (a WHEP offer)");
    return std::nullopt;
  }
  auto checked = media::check_whep_offer(request.body());
  if (auto* refusal = std::get_if<media::OfferRefusal>(&checked)) {
    refuse(responder, ErrorCode::kInvalidSdp, "invalid_sdp", refusal->message);
    return std::nullopt;
  }
  auto lease = quota_.acquire(caller.key);
  if (!lease) {
    refuse(responder, ErrorCode::kTooManySessions, "too_many_sessions",
           "this API key holds its limit of " + std::to_string(quota_.per_key()) +
               " WebRTC sessions (WEBRTC_MAX_SESSIONS_PER_KEY): end one with DELETE first");
    return std::nullopt;
  }
  return Admitted{std::get<media::WhepOffer>(std::move(checked)), std::move(lease)};
}

void WhepService::open(const std::string& job_id, const Request& request, const Caller& caller,
                       std::shared_ptr<Responder> responder) {
  auto admitted = admit(request, caller, responder);
  if (!admitted) return;
  redis_.execute(
      {{"HMGET", keys_.job(job_id), "state", "kind", "owner", std::string(job_field::kStages)}},
      [this, table = std::weak_ptr<Table>(table_), job_id, admitted = std::move(*admitted), caller,
       responder](RedisBatchResult result) mutable {
        if (!table.lock()) return;
        if (!result.ok) return responder->send(error_response(redis_down(result.failure)));
        const auto& fields = result.replies[0].elements;
        if (fields.size() < 4 || fields[0].empty() || !caller.owns(fields[2]))
          return refuse(responder, ErrorCode::kNotFound, "not_found", "no job with id " + job_id);
        // What the job delivers: a pipeline's last stage's kind (its record holds the current stage's, and
        // text-to-video speaks first).
        std::string kind = fields[1];
        if (!fields[3].empty()) {
          if (auto stages = parse_pipeline(fields[3])) kind = stages->back().kind;
        }
        const bool video = kind == "video";
        if (kind != "tts" && !video) {
          return refuse(responder, ErrorCode::kInvalidRequest, "not_media",
                        "job " + job_id + " makes " + kind +
                            ": WebRTC delivers speech jobs' audio and video jobs' picture and sound");
        }
        if (video && !admitted.offer.vp8_payload_type) {
          return refuse(responder, ErrorCode::kInvalidSdp, "invalid_sdp",
                        "job " + job_id +
                            " makes a video: the offer must also receive VP8 video (a recvonly video "
                            "transceiver)");
        }
        const std::string& state = fields[0];
        if (state == "failed" || state == "cancelled" || state == "expired") {
          return refuse(responder, ErrorCode::kJobFailed, "job_failed",
                        "job " + job_id + " " + state + ": it has nothing to send");
        }
        media::SessionOptions options;
        options.video = video;
        egress_->open(
            std::move(admitted.offer), std::move(options),
            [this, table, job_id, caller, video, lease = std::move(admitted.lease),
             responder](media::OpenResult opened) mutable {
              // Media thread: the answer goes back to the event loop.
              asio::post(io_, [this, table, job_id, caller, video, lease = std::move(lease), responder,
                               opened = std::move(opened)]() mutable {
                if (!table.lock() || !answer(opened, caller, std::move(lease), responder, nullptr, video))
                  return;
                auto& session = std::get<media::SessionAnswer>(opened).session;
                if (video) return play_when_done(job_id, session);
                auto tail = std::make_shared<AudioTail>(io_, redis_, storage_root_, job_id,
                                                        std::make_shared<SessionAudioOutput>(session),
                                                        config_.audio_timeout, caller);
                event_hub_.watch_tail(job_id, tail);
                tail->start();
              });
            });
      });
}

void WhepService::open_live(const Request& request, const Caller& caller,
                            std::shared_ptr<Responder> responder) {
  auto admitted = admit(request, caller, responder);
  if (!admitted) return;
  auto relay = std::make_shared<LiveRelay>();
  media::SessionOptions options;
  options.data_channel = true;
  options.on_text = [this, relay, table = std::weak_ptr<Table>(table_)](std::string text) {
    asio::post(io_, [relay, table, text = std::move(text)] {
      if (!table.lock()) return;
      if (auto speaker = relay->speaker.lock()) speaker->on_text(text);
    });
  };
  options.on_utterance = [this, relay, table = std::weak_ptr<Table>(table_)](uint64_t utterance,
                                                                             media::UtteranceEvent event) {
    asio::post(io_, [relay, table, utterance, event] {
      if (!table.lock()) return;
      if (auto speaker = relay->speaker.lock()) speaker->on_utterance(utterance, event);
    });
  };
  egress_->open(std::move(admitted->offer), std::move(options),
                [this, table = std::weak_ptr<Table>(table_), caller, relay,
                 lease = std::move(admitted->lease), responder](media::OpenResult opened) mutable {
                  asio::post(io_, [this, table, caller, relay, lease = std::move(lease), responder,
                                   opened = std::move(opened)]() mutable {
                    if (!table.lock()) return;
                    std::shared_ptr<LiveSpeaker> speaker;
                    if (auto* answered = std::get_if<media::SessionAnswer>(&opened)) {
                      speaker = std::make_shared<LiveSpeaker>(
                          io_, redis_, event_hub_, jobs_,
                          LiveSpeaker::Settings{storage_root_, config_.audio_timeout}, caller,
                          answered->session);
                      relay->speaker = speaker;
                    }
                    answer(opened, caller, std::move(lease), responder, std::move(speaker));
                  });
                });
}

void WhepService::play_when_done(const std::string& job_id, std::shared_ptr<media::MediaSession> session) {
  // No client to watch: the HTTP exchange is over; the session's end (its table entry's stop_waiting), the
  // job's final state or the timeout ends the wait.
  auto stop_waiting = event_hub_.await_final(
      job_id, config_.audio_timeout, nullptr,
      [this, table = std::weak_ptr<Table>(table_), job_id, session](const FinalOutcome* outcome) {
        if (!table.lock() || session->ended()) return;
        if (!outcome || outcome->state != to_string(JobState::kSucceeded)) {
          spdlog::info("webrtc: session {} ends: video job {} {}", session->id(), job_id,
                       outcome ? outcome->state : "did not finish in time");
          return session->fail();
        }
        auto file = result_files_(job_id, outcome->result, "video");
        if (auto* error = std::get_if<ApiError>(&file)) {
          spdlog::warn("webrtc: session {} ends: {}", session->id(), error->message);
          return session->fail();
        }
        session->play_file(std::get<ResultFile>(file).path.string());
      });
  if (auto it = table_->sessions.find(session->id()); it != table_->sessions.end())
    it->second.stop_waiting = std::move(stop_waiting);
  else
    stop_waiting();
}

bool WhepService::answer(media::OpenResult& result, const Caller& caller,
                         std::shared_ptr<WaitQuota::Lease> lease, const std::shared_ptr<Responder>& responder,
                         std::shared_ptr<LiveSpeaker> speaker, bool video) {
  if (auto* refusal = std::get_if<media::EgressRefusal>(&result)) {
    using Reason = media::EgressRefusal::Reason;
    const ErrorCode code = refusal->reason == Reason::kFull          ? ErrorCode::kTooManySessions
                           : refusal->reason == Reason::kNegotiation ? ErrorCode::kInvalidSdp
                                                                     : ErrorCode::kUnavailable;
    refuse(responder, code, std::string(to_string(code)), refusal->message);
    return false;
  }
  auto& answered = std::get<media::SessionAnswer>(result);
  if (!responder->connection_open()) {
    egress_->close(answered.session->id());  // the client left while the answer was made
    return false;
  }
  metrics_.increment("gpufleet_webrtc_sessions_opened_total", {{"kind", speaker ? "live"
                                                                        : video ? "video"
                                                                                : "job"}});
  table_->sessions[answered.session->id()] = Session{caller.key, std::move(lease), std::move(speaker)};
  metrics_.set("gpufleet_webrtc_sessions", {}, static_cast<double>(table_->sessions.size()));

  StringResponse response{http::status::created, 11};
  response.set(http::field::server, "gpufleet");
  response.set(http::field::content_type, "application/sdp");
  response.set(http::field::location, "/v1/whep/" + answered.session->id());
  response.set(http::field::cache_control, "no-store");
  // The gateway's STUN and TURN servers, for a client that has none configured (as WHIP, RFC 9725,
  // section 4.6, has them, which WHEP adopts).
  for (const auto& link : media::ice_server_links(config_.webrtc.stun_server, config_.webrtc.turn_servers))
    response.insert(http::field::link, link);
  response.body() = answered.sdp;
  response.prepare_payload();
  responder->send(std::move(response));
  return true;
}

void WhepService::trickle(const std::string& session_id, const Request& request, const Caller& caller,
                          std::shared_ptr<Responder> responder) {
  auto it = is_session_id(session_id) ? table_->sessions.find(session_id) : table_->sessions.end();
  if (it == table_->sessions.end() || !caller.owns(it->second.owner))
    return responder->send(error_response(api_error(ErrorCode::kNotFound, "no WebRTC session with that id")));
  if (request[http::field::content_type].substr(0, 31) != "application/trickle-ice-sdpfrag") {
    return responder->send(
        error_response(api_error(ErrorCode::kUnsupportedMediaType,
                                 "Content-Type must be application/trickle-ice-sdpfrag (RFC 8840)")));
  }
  auto parsed = media::parse_ice_fragment(request.body());
  if (auto* refusal = std::get_if<media::FragmentRefusal>(&parsed))
    return responder->send(error_response(api_error(ErrorCode::kInvalidSdp, refusal->message)));
  switch (egress_->add_candidates(session_id, std::get<media::IceFragment>(parsed))) {
    case media::TrickleVerdict::kAdded: {
      StringResponse response{http::status::no_content, 11};
      response.set(http::field::server, "gpufleet");
      response.prepare_payload();
      return responder->send(std::move(response));
    }
    case media::TrickleVerdict::kIceRestart:
      return responder->send(error_response(
          api_error(ErrorCode::kIceRestartUnsupported,
                    "the fragment's ICE credentials are not the offer's: sessions do not restart ICE; open a "
                    "new session instead")));
    case media::TrickleVerdict::kNoSession:
      break;
  }
  responder->send(error_response(api_error(ErrorCode::kNotFound, "no WebRTC session with that id")));
}

void WhepService::close(const std::string& session_id, const Caller& caller,
                        std::shared_ptr<Responder> responder) {
  auto it = is_session_id(session_id) ? table_->sessions.find(session_id) : table_->sessions.end();
  if (it == table_->sessions.end() || !caller.owns(it->second.owner) || !egress_->close(session_id))
    return responder->send(error_response(api_error(ErrorCode::kNotFound, "no WebRTC session with that id")));
  responder->send(
      json_response(200, dump_json(nlohmann::json{{"id", session_id}, {"state", "ending"}}), 11, true));
}

}  // namespace gpufleet::gateway
