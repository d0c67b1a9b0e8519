#pragma once
// WebRTC egress: sessions that each send one Opus audio track, and for a video session a VP8 video track
// too, to a peer that offered to receive them (WHEP, draft-ietf-wish-whep). The gateway answers the HTTP side
// (auth, the job, limits); this unit owns the WebRTC side: negotiation, ICE and DTLS, pacing the audio in
// real time, and ending each session (played out, deleted, ICE failed or never connected, peer gone, too
// long). Built on GStreamer's webrtcbin (libnice, libsrtp, Opus); without it (GPUFLEET_WEBRTC=OFF) every open
// is refused as unavailable. No GStreamer type appears here, so the gateway compiles the same either way.
//
// Threads: one media thread negotiates new sessions and reaps ended ones; one pacing thread hands each
// session's audio to GStreamer 20 ms at a time (and a video session's pictures as they fall due), at most
// 40 ms ahead of real time (so that a barge-in is heard about 150 ms later); GStreamer's own threads decode,
// encode and send. Every public method is safe from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "media/ice_fragment.hpp"
#include "media/sdp_offer.hpp"

namespace gpufleet::media {

struct WebrtcConfig {
  // ICE servers the gateway's side uses (WEBRTC_STUN_SERVER: stun://host:port; WEBRTC_TURN_SERVERS:
  // comma-separated turn(s)://user:password@host:port). None: host candidates only (same network or a
  // public address).
  std::string stun_server;
  std::vector<std::string> turn_servers;
  // UDP ports the gateway's candidates use (WEBRTC_PORT_MIN, WEBRTC_PORT_MAX), for a firewall to open; 0:
  // any.
  uint16_t port_min = 0;
  uint16_t port_max = 0;
  size_t max_sessions = 64;                          // WEBRTC_MAX_SESSIONS: past it, opens are refused
  std::chrono::milliseconds answer_timeout{5000};    // negotiation and candidate gathering, at most
  std::chrono::milliseconds connect_timeout{15000};  // WEBRTC_CONNECT_TIMEOUT_MS: ICE + DTLS, else reaped
  std::chrono::milliseconds max_duration{std::chrono::minutes(30)};  // a session's life, at most
  std::chrono::milliseconds peer_gone_after{5000};  // ICE disconnected this long: the peer left
  // Nothing from a connected peer this long (browsers send RTCP every few seconds): the peer left.
  std::chrono::milliseconds peer_silence{12000};
  std::chrono::milliseconds linger{300};  // after the last packet, before teardown
  uint64_t max_pending_bytes = 64 << 20;  // audio a session holds that has not gone out yet
};

// How a session ended (the label of its metrics).
enum class SessionEnd {
  kPlayed,          // all its audio went out
  kDeleted,         // the client sent DELETE
  kIceFailed,       // ICE or DTLS failed after the answer
  kConnectTimeout,  // never connected within connect_timeout
  kPeerGone,        // connected, then said goodbye (DTLS close_notify), fell silent or was disconnected
  kTooLong,         // reached max_duration
  kSourceFailed,    // the source broke (the job failed, was requeued, or timed out; its video did not decode)
  kOverflow,        // more audio waited than max_pending_bytes
  kShutdown,        // the process is stopping
};
std::string_view to_string(SessionEnd end);

struct SessionStats {
  std::chrono::steady_clock::time_point opened;
  std::optional<std::chrono::steady_clock::duration> connected_after;     // since opened
  std::optional<std::chrono::steady_clock::duration> first_packet_after;  // first RTP packet, since opened
  uint64_t bytes_sent = 0;                                                // RTP payload bytes
  uint64_t pictures_sent = 0;                                             // a video session's
};

// One session's audio track, for a live session its data channel, and for a video session its video track.
// Audio comes in utterances (a WHEP session of one job has one, number 0): 16-bit little-endian PCM pushed in
// order, faster than real time if it is there (the session paces it), each push in the format start_audio
// last set. A video session's picture and sound both come from one file instead (play_file). Safe from any
// thread.
class MediaSession {
 public:
  virtual ~MediaSession() = default;
  virtual const std::string& id() const = 0;
  virtual void start_audio(int sample_rate, int channels) = 0;
  virtual void push(std::string_view pcm, uint64_t utterance = 0) = 0;
  // The utterance's audio is complete: kPlayed follows once its last packet went out.
  virtual void end_utterance(uint64_t utterance) = 0;
  // Drops what the utterance has not sent yet (barge-in): what is already in flight (under 100 ms) still
  // plays; no kPlayed follows for it.
  virtual void flush(uint64_t utterance) = 0;
  // No audio follows: the session ends once the last has played (a WHEP session of one job).
  virtual void end_audio() = 0;
  // A text message to the peer over the session's data channel; dropped without one (or before it opens).
  virtual void send_text(const std::string& text) = 0;
  // A video session's source: the finished video file at `path`, its pictures and sound sent in real time in
  // step with each other (the file's timestamps), from when the peer is connected; the session ends
  // (kPlayed) once both have gone out, or (kSourceFailed) when the file does not decode. Ignored by a session
  // without video, and after the first call.
  virtual void play_file(const std::string& path) = 0;
  // The source broke: the session ends now (kSourceFailed).
  virtual void fail() = 0;
  virtual bool ended() const = 0;
  virtual SessionStats stats() const = 0;
};

enum class UtteranceEvent {
  kStarted,  // its first packet went out
  kPlayed,   // its last packet went out (after end_utterance)
};

// How a session is opened. The callbacks run on the egress's threads; they must not block.
struct SessionOptions {
  // A video session: the offer must receive VP8 video (WhepOffer::vp8_payload_type), which the answer
  // sends; its picture and sound come from play_file.
  bool video = false;
  // A live session: the offer must carry a data channel (m=application), which the answer accepts.
  bool data_channel = false;
  // Each text message the peer sends on its data channel (at most 64 KiB; longer ones are dropped).
  std::function<void(std::string text)> on_text;
  std::function<void(uint64_t utterance, UtteranceEvent event)> on_utterance;
};

struct SessionAnswer {
  std::shared_ptr<MediaSession> session;
  std::string sdp;  // the answer, with the gateway's ICE candidates (no trickle needed)
};

struct EgressRefusal {
  enum class Reason {
    kUnavailable,  // built without WebRTC, or GStreamer's elements are missing
    kFull,         // max_sessions open
    kNegotiation,  // the offer could not be answered (for a video session: it receives no VP8 video)
  };
  Reason reason;
  std::string message;
};
using OpenResult = std::variant<SessionAnswer, EgressRefusal>;

// What became of a peer's trickled candidates (add_candidates).
enum class TrickleVerdict {
  kAdded,       // handed to the session's ICE agent
  kNoSession,   // no such session is open
  kIceRestart,  // the fragment's ICE credentials are not the offer's: an ICE restart, which sessions refuse
};

class WebrtcEgress {
 public:
  // `on_end` runs on the media thread once per session, after its teardown.
  using EndCallback = std::function<void(const std::string& id, SessionEnd end, const SessionStats& stats)>;
  WebrtcEgress(WebrtcConfig config, EndCallback on_end);
  ~WebrtcEgress();  // ends every session (kShutdown)
  WebrtcEgress(const WebrtcEgress&) = delete;
  WebrtcEgress& operator=(const WebrtcEgress&) = delete;

  // Empty when sessions can be opened; else why not (no WebRTC in this build, a GStreamer element missing).
  std::optional<std::string> unavailable() const;
  // Answers `offer` on the media thread; `done` gets the answer (the session is open) or the refusal.
  void open(WhepOffer offer, SessionOptions options, std::function<void(OpenResult)> done);
  void open(WhepOffer offer, std::function<void(OpenResult)> done) {
    open(std::move(offer), SessionOptions{}, std::move(done));
  }
  // Ends a session (kDeleted); false when no such session is open.
  bool close(const std::string& id);
  // The candidates a peer gathered after its offer (trickle ICE), for session `id`'s ICE agent; they reach
  // it on the media thread, in the order given.
  TrickleVerdict add_candidates(const std::string& id, const IceFragment& fragment);
  size_t open_sessions() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpufleet::media
