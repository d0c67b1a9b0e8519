// WebrtcEgress on GStreamer's webrtcbin. One pipeline per session:
//   appsrc (16-bit PCM, timestamped here) ! audioconvert ! audioresample ! clocksync (real-time pacing)
//   ! opusenc ! rtpopuspay (the offer's payload type) ! webrtcbin (sendonly audio, bundled)
// and for a video session also
//   appsrc (I420 pictures, timestamped here) ! videoconvert ! clocksync ! vp8enc (real time)
//   ! rtpvp8pay (the offer's payload type) ! webrtcbin (sendonly video)
// whose two appsrcs a GstVideoFile feeds: each picture and sound buffer is stamped with one base plus its
// time in the file, so clocksync lets them out together and the browser plays them in sync.
// Audio pushed before ICE and DTLS are up waits in the session (packets sent earlier would be dropped), so
// the first word is heard; after that, buffers are stamped on a schedule that clocksync holds to, re-based
// when the source falls behind real time (the gap is silence, not a burst).

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "media/gst_video_file.hpp"
#include "media/webrtc_egress.hpp"

namespace gpufleet::media {

namespace {

using Clock = std::chrono::steady_clock;

constexpr GstClockTime kLead = 40 * GST_MSECOND;       // a re-based schedule starts this far ahead of now
constexpr GstClockTime kLookahead = 40 * GST_MSECOND;  // audio handed to GStreamer ahead of real time
constexpr int kChunksPerSecond = 50;                   // 20 ms buffers: clocksync paces at this grain
constexpr auto kPumpInterval = std::chrono::milliseconds(10);
constexpr size_t kMaxEndedUtterances = 1024;
constexpr int kSilenceChunksAfterCut = 5;  // 100 ms
constexpr uint64_t kSilence = UINT64_MAX;  // the utterance number of that silence
constexpr size_t kMaxTextBytes = 64 << 10;

std::string random_id() {
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  char text[33];
  std::snprintf(text, sizeof(text), "%016llx%016llx", static_cast<unsigned long long>(engine()),
                static_cast<unsigned long long>(engine()));
  return text;
}

// Whether an answer takes up its first `kind` section (audio, video, application): there, port not 0, not
// inactive. Per section: a speech session declines an offer's video section (inactive) and still answers.
bool answer_accepts(std::string_view sdp, std::string_view kind) {
  const std::string head = "m=" + std::string(kind) + " ";
  size_t at = sdp.rfind(head, 0) == 0 ? 0 : sdp.find("\n" + head);
  if (at == std::string_view::npos) return false;
  if (sdp[at] == '\n') ++at;
  const size_t next = sdp.find("\nm=", at);
  const std::string_view section =
      sdp.substr(at, next == std::string_view::npos ? sdp.size() - at : next - at);
  return section.rfind(head + "0 ", 0) != 0 && section.find("a=inactive") == std::string_view::npos;
}

// Waits for a GstPromise's reply with a timeout (gst_promise_wait has none).
class PromiseWaiter {
 public:
  PromiseWaiter() : promise_(gst_promise_new_with_change_func(&PromiseWaiter::changed, this, nullptr)) {}
  ~PromiseWaiter() {
    gst_promise_interrupt(promise_);  // a late reply must not reach a destroyed waiter
    gst_promise_unref(promise_);
  }
  GstPromise* get() { return promise_; }
  // The reply's structure (owned by the promise), or nullptr on timeout or error.
  const GstStructure* wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return done_; })) return nullptr;
    if (gst_promise_wait(promise_) != GST_PROMISE_RESULT_REPLIED) return nullptr;
    return gst_promise_get_reply(promise_);
  }
  bool replied(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return done_; }) &&
           gst_promise_wait(promise_) == GST_PROMISE_RESULT_REPLIED;
  }

 private:
  static void changed(GstPromise*, gpointer self) {
    auto* waiter = static_cast<PromiseWaiter*>(self);
    std::lock_guard lock(waiter->mutex_);
    waiter->done_ = true;
    waiter->cv_.notify_all();
  }
  GstPromise* promise_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
};

class GstMediaSession final : public MediaSession {
 public:
  GstMediaSession(std::string id, const WebrtcConfig& config, SessionOptions options)
      : id_(std::move(id)), config_(config), options_(std::move(options)) {}
  ~GstMediaSession() override {
    teardown();
    if (picture_caps_) gst_caps_unref(picture_caps_);
    if (sound_caps_) gst_caps_unref(sound_caps_);
  }

  const std::string& id() const override { return id_; }

  // Builds the pipeline and answers the offer; an error message on failure. Media thread.
  std::optional<std::string> negotiate(const WhepOffer& offer, std::string& answer_sdp);

  void start_audio(int sample_rate, int channels) override {
    std::lock_guard lock(mutex_);
    if (ending_ || sample_rate <= 0 || sample_rate > 384000 || channels <= 0 || channels > 8) return;
    rate_ = sample_rate;
    channels_ = channels;
    carry_.clear();  // a split frame of another format is not continued
  }

  void push(std::string_view pcm, uint64_t utterance) override {
    std::lock_guard lock(mutex_);
    if (ending_ || audio_ended_ || !rate_) return;
    if (utterance != carry_utterance_) carry_.clear();
    carry_utterance_ = utterance;
    carry_.append(pcm);
    // 20 ms chunks of whole frames; a split frame waits in carry_ for the next push.
    const size_t frame = 2 * static_cast<size_t>(channels_);
    const size_t chunk = frame * static_cast<size_t>(std::max(1, rate_ / kChunksPerSecond));
    size_t at = 0;
    while (carry_.size() - at >= frame) {
      const size_t bytes = std::min(chunk, (carry_.size() - at) / frame * frame);
      outbox_.push_back(Chunk{carry_.substr(at, bytes), rate_, channels_, utterance});
      outbox_bytes_ += bytes;
      at += bytes;
    }
    carry_.erase(0, at);
    if (outbox_bytes_ > config_.max_pending_bytes) end_locked(SessionEnd::kOverflow);
  }

  void end_utterance(uint64_t utterance) override {
    std::lock_guard lock(mutex_);
    if (ended_utterances_.size() < kMaxEndedUtterances) ended_utterances_.insert(utterance);
  }

  void flush(uint64_t utterance) override {
    std::lock_guard lock(mutex_);
    for (auto it = outbox_.begin(); it != outbox_.end();) {
      if (it->utterance != utterance) {
        ++it;
        continue;
      }
      outbox_bytes_ -= it->pcm.size();
      it = outbox_.erase(it);
    }
    if (carry_utterance_ == utterance) carry_.clear();
    ended_utterances_.erase(utterance);
    if (speaking_ != utterance) return;
    speaking_.reset();
    // A cut, not a fade: without packets the receiver conceals the loss by stretching the last sound for
    // 100 ms or more, so real silence goes next.
    if (sent_rate_ > 0) {
      const size_t frame = 2 * static_cast<size_t>(sent_channels_);
      const size_t bytes = frame * static_cast<size_t>(std::max(1, sent_rate_ / kChunksPerSecond));
      for (int i = 0; i < kSilenceChunksAfterCut; ++i) {
        outbox_.push_front(Chunk{std::string(bytes, '\0'), sent_rate_, sent_channels_, kSilence});
        outbox_bytes_ += bytes;
      }
    }
  }

  void end_audio() override {
    std::lock_guard lock(mutex_);
    audio_ended_ = true;
  }

  void play_file(const std::string& path) override {
    {
      std::lock_guard lock(mutex_);
      if (!options_.video || ending_ || file_requested_) return;
      file_requested_ = true;
    }
    // Without the lock: starting the decoder waits for GStreamer, whose threads never take it.
    auto opened = GstVideoFile::open(path);
    std::lock_guard lock(mutex_);
    if (auto* failure = std::get_if<std::string>(&opened)) {
      failure_ = *failure;
      end_locked(SessionEnd::kSourceFailed);
      return;
    }
    file_ = std::get<std::unique_ptr<GstVideoFile>>(std::move(opened));
  }

  void send_text(const std::string& text) override {
    GstWebRTCDataChannel* channel = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (ending_ || !channel_) return;
      channel = GST_WEBRTC_DATA_CHANNEL(g_object_ref(channel_));
    }
    // Without the session's lock: the channel takes webrtcbin's, under which webrtcbin calls back into us.
    g_signal_emit_by_name(channel, "send-string", text.c_str());
    g_object_unref(channel);
  }

  // Hands appsrc what is due: chunks up to kLookahead ahead of the pipeline's clock, stamped on a schedule
  // that clocksync holds to, re-based when the source fell behind real time (the gap is silence, not a
  // burst). Reports utterances starting and played. Pacing thread.
  void pump() {
    std::vector<std::pair<uint64_t, UtteranceEvent>> events;
    {
      std::lock_guard lock(mutex_);
      if (!connected_ || ending_) return;
      const GstClockTime now = running_time();
      if (options_.video) return pump_file(now);
      while (!outbox_.empty() && next_pts_ <= now + kLookahead) {
        if (next_pts_ < now + kLead / 3) next_pts_ = now + kLead;
        Chunk& chunk = outbox_.front();
        if (chunk.rate != sent_rate_ || chunk.channels != sent_channels_) {
          GstCaps* caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "S16LE", "layout",
                                              G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, chunk.rate,
                                              "channels", G_TYPE_INT, chunk.channels, nullptr);
          gst_app_src_set_caps(GST_APP_SRC(appsrc_), caps);
          gst_caps_unref(caps);
          sent_rate_ = chunk.rate;
          sent_channels_ = chunk.channels;
        }
        if (chunk.utterance != kSilence && speaking_ != chunk.utterance) {
          if (speaking_ && ended_utterances_.erase(*speaking_))
            events.emplace_back(*speaking_, UtteranceEvent::kPlayed);
          speaking_ = chunk.utterance;
          events.emplace_back(chunk.utterance, UtteranceEvent::kStarted);
        }
        const size_t frame = 2 * static_cast<size_t>(chunk.channels);
        GstBuffer* buffer = gst_buffer_new_memdup(chunk.pcm.data(), chunk.pcm.size());
        const GstClockTime duration =
            gst_util_uint64_scale(chunk.pcm.size() / frame, GST_SECOND, static_cast<guint64>(chunk.rate));
        GST_BUFFER_PTS(buffer) = next_pts_;
        GST_BUFFER_DURATION(buffer) = duration;
        next_pts_ += duration;
        gst_app_src_push_buffer(GST_APP_SRC(appsrc_), buffer);
        outbox_bytes_ -= chunk.pcm.size();
        outbox_.pop_front();
      }
      // The utterance going out is played once its end is known and none of it waits.
      if (speaking_ && ended_utterances_.count(*speaking_) != 0 &&
          (outbox_.empty() || outbox_.front().utterance != *speaking_)) {
        ended_utterances_.erase(*speaking_);
        events.emplace_back(*speaking_, UtteranceEvent::kPlayed);
        speaking_.reset();
      }
      if (audio_ended_ && outbox_.empty() && !eos_sent_) {
        eos_sent_ = true;
        gst_app_src_end_of_stream(GST_APP_SRC(appsrc_));
      }
    }
    if (options_.on_utterance) {
      for (const auto& [utterance, event] : events) options_.on_utterance(utterance, event);
    }
  }

  void fail() override {
    std::lock_guard lock(mutex_);
    end_locked(SessionEnd::kSourceFailed);
  }

  bool ended() const override {
    std::lock_guard lock(mutex_);
    return ending_.has_value();
  }

  // Whether a trickled fragment's credentials are the offer's (none stated counts as the offer's).
  bool same_ice_credentials(const IceFragment& fragment) const {
    return !fragment.ufrag || *fragment.ufrag == offer_ufrag_;
  }

  // Hands trickled candidates to webrtcbin, each to the m= line its mid names (the first without one). Media
  // thread, so that it never races the teardown.
  void add_candidates(const std::vector<RemoteCandidate>& candidates) {
    if (!pipeline_ || ended()) return;
    for (const auto& candidate : candidates) {
      guint mline = 0;
      for (size_t i = 0; i < offer_mids_.size(); ++i) {
        if (!candidate.mid.empty() && offer_mids_[i] == candidate.mid) mline = static_cast<guint>(i);
      }
      g_signal_emit_by_name(webrtc_, "add-ice-candidate", mline, candidate.candidate.c_str());
    }
  }

  // Why the source failed, when the session knows more than kSourceFailed says (for the log).
  std::optional<std::string> failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }

  SessionStats stats() const override {
    std::lock_guard lock(mutex_);
    SessionStats stats;
    stats.opened = opened_;
    if (connected_at_) stats.connected_after = *connected_at_ - opened_;
    if (first_packet_at_) stats.first_packet_after = *first_packet_at_ - opened_;
    stats.bytes_sent = bytes_sent_;
    stats.pictures_sent = pictures_sent_;
    return stats;
  }

  void request_end(SessionEnd end) {
    std::lock_guard lock(mutex_);
    end_locked(end);
  }

  // Whether the session is due to end now, and why. Media thread.
  std::optional<SessionEnd> due(Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (ending_) return ending_;
    if (ice_failed_) return SessionEnd::kIceFailed;
    if (!connected_ && now - opened_ > config_.connect_timeout) return SessionEnd::kConnectTimeout;
    if (peer_closed_) return SessionEnd::kPeerGone;
    if (connected_ && now - last_received_ > config_.peer_silence) return SessionEnd::kPeerGone;
    if (disconnected_since_ && now - *disconnected_since_ > config_.peer_gone_after)
      return SessionEnd::kPeerGone;
    if (drained_at_ && now - *drained_at_ > config_.linger) return SessionEnd::kPlayed;
    if (now - opened_ > config_.max_duration) return SessionEnd::kTooLong;
    return std::nullopt;
  }

  // Stops the pipeline; idempotent. Media thread (never a GStreamer streaming thread).
  void teardown() {
    if (!pipeline_) return;
    {
      std::lock_guard lock(mutex_);
      end_locked(SessionEnd::kShutdown);  // nothing more reaches appsrc_
    }
    // Without the lock: stopping waits for the streaming threads, whose callbacks take it.
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
    std::unique_ptr<GstVideoFile> file;
    {
      std::lock_guard lock(mutex_);
      pending_picture_.reset();
      pending_sound_.reset();
      file = std::move(file_);
    }
    file.reset();  // stops its decoder, without the lock
    GstWebRTCDataChannel* channel = nullptr;
    {
      std::lock_guard lock(mutex_);
      channel = std::exchange(channel_, nullptr);
    }
    if (channel) {
      g_signal_handlers_disconnect_by_data(channel, this);  // the channel may outlive this session
      g_object_unref(channel);
    }
  }

 private:
  void end_locked(SessionEnd end) {
    if (!ending_) ending_ = end;
  }

  // A video session's pump: hands the two appsrcs what of the file falls due by now + kLookahead, each
  // buffer at the one base plus its time in the file; ends both streams once the file has given all. Runs
  // under the lock.
  void pump_file(GstClockTime now) {
    if (!file_) return;
    if (auto why = file_->failed()) {
      failure_ = *why;
      end_locked(SessionEnd::kSourceFailed);
      return;
    }
    if (!file_base_) file_base_ = now + kLead;
    const GstClockTime horizon = now + kLookahead;
    feed(
        *file_base_, horizon, pending_sound_, [&] { return file_->next_sound(); }, appsrc_, sound_caps_,
        next_sound_at_);
    pictures_sent_ += feed(
        *file_base_, horizon, pending_picture_, [&] { return file_->next_picture(); }, video_src_,
        picture_caps_, next_picture_at_);
    if (!eos_sent_ && !pending_sound_ && !pending_picture_ && file_->sound_done() && file_->picture_done()) {
      eos_sent_ = true;
      gst_app_src_end_of_stream(GST_APP_SRC(appsrc_));
      gst_app_src_end_of_stream(GST_APP_SRC(video_src_));
    }
  }

  // Pushes `source`'s samples into `appsrc` while they fall due before `horizon`; the one not yet due waits
  // in `pending`. Answers how many went in.
  template <typename Next>
  static uint64_t feed(GstClockTime base, GstClockTime horizon, SamplePtr& pending, Next next,
                       GstElement* appsrc, GstCaps*& caps, GstClockTime& next_at) {
    uint64_t pushed = 0;
    while (true) {
      if (!pending) pending = next();
      if (!pending) return pushed;
      GstBuffer* buffer = gst_sample_get_buffer(pending.get());
      if (!buffer) {
        pending.reset();
        continue;
      }
      // A buffer without a time follows the one before it.
      const GstClockTime at = GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer) : next_at;
      if (base + at > horizon) return pushed;
      GstCaps* sample_caps = gst_sample_get_caps(pending.get());
      if (sample_caps && (!caps || !gst_caps_is_equal(caps, sample_caps))) {
        gst_caps_replace(&caps, sample_caps);
        gst_app_src_set_caps(GST_APP_SRC(appsrc), caps);
      }
      GstBuffer* out = gst_buffer_copy(buffer);  // shares the memory; only the times differ
      GST_BUFFER_PTS(out) = base + at;
      GST_BUFFER_DTS(out) = GST_CLOCK_TIME_NONE;
      next_at = at + (GST_BUFFER_DURATION_IS_VALID(buffer) ? GST_BUFFER_DURATION(buffer) : 0);
      gst_app_src_push_buffer(GST_APP_SRC(appsrc), out);
      pending.reset();
      ++pushed;
    }
  }

  GstClockTime running_time() const {
    GstClock* clock = gst_element_get_clock(pipeline_);
    if (!clock) return 0;
    const GstClockTime now = gst_clock_get_time(clock);
    gst_object_unref(clock);
    const GstClockTime base = gst_element_get_base_time(pipeline_);
    return now > base ? now - base : 0;
  }

  static void on_connection_state(GObject* webrtc, GParamSpec*, gpointer self) {
    GstWebRTCPeerConnectionState state;
    g_object_get(webrtc, "connection-state", &state, nullptr);
    static_cast<GstMediaSession*>(self)->connection_changed(state);
  }

  void connection_changed(GstWebRTCPeerConnectionState state) {
    std::lock_guard lock(mutex_);
    switch (state) {
      case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
        disconnected_since_.reset();
        if (connected_ || ending_) return;
        connected_ = true;  // the pacing thread starts handing audio out
        connected_at_ = Clock::now();
        return;
      case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
        if (!disconnected_since_) disconnected_since_ = Clock::now();
        return;
      case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
        ice_failed_ = true;
        return;
      case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
        if (!disconnected_since_) disconnected_since_ = Clock::now();
        return;
      default:
        return;
    }
  }

  // The DTLS transport closes when the peer sends close_notify (a page that closes its peer connection or
  // its tab); webrtcbin's connection state does not show it in GStreamer 1.22, so it is watched here.
  static void on_dtls_state(GObject* transport, GParamSpec*, gpointer self) {
    GstWebRTCDTLSTransportState state;
    g_object_get(transport, "state", &state, nullptr);
    auto* session = static_cast<GstMediaSession*>(self);
    std::lock_guard lock(session->mutex_);
    if (state == GST_WEBRTC_DTLS_TRANSPORT_STATE_CLOSED) session->peer_closed_ = true;
    if (state == GST_WEBRTC_DTLS_TRANSPORT_STATE_FAILED) session->ice_failed_ = true;
  }

  // Everything the peer sends (DTLS, SRTCP; STUN stays inside libnice) passes here. A browser receiving audio
  // sends RTCP every few seconds, so silence means it is gone without a goodbye (a lost network).
  static GstPadProbeReturn on_received(GstPad*, GstPadProbeInfo*, gpointer self) {
    auto* session = static_cast<GstMediaSession*>(self);
    std::lock_guard lock(session->mutex_);
    session->last_received_ = Clock::now();
    return GST_PAD_PROBE_OK;
  }

  // A server's ICE agent: UDP candidates only (a browser reaches a server over UDP, and TCP candidates add
  // gathering time), no UPnP port mapping (a home router's feature, which delays every answer by its
  // timeout), and the configured port range for firewalls.
  void configure_ice() {
    GObject* ice = nullptr;
    g_object_get(webrtc_, "ice-agent", &ice, nullptr);
    if (!ice) return;
    GObjectClass* ice_class = G_OBJECT_GET_CLASS(ice);
    if (g_object_class_find_property(ice_class, "ice-tcp")) g_object_set(ice, "ice-tcp", FALSE, nullptr);
    if (config_.port_min > 0 && g_object_class_find_property(ice_class, "min-rtp-port")) {
      g_object_set(ice, "max-rtp-port", static_cast<guint>(config_.port_max), "min-rtp-port",
                   static_cast<guint>(config_.port_min), nullptr);
    }
    if (g_object_class_find_property(ice_class, "agent")) {
      GObject* agent = nullptr;
      g_object_get(ice, "agent", &agent, nullptr);
      if (agent && g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "upnp"))
        g_object_set(agent, "upnp", FALSE, nullptr);
      if (agent) g_object_unref(agent);
    }
    g_object_unref(ice);
  }

  // Watches the transports the answer settled on. Media thread, after set-local-description.
  void watch_transports() {
    GstIterator* elements = gst_bin_iterate_recurse(GST_BIN(webrtc_));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(elements, &item) == GST_ITERATOR_OK) {
      auto* element = GST_ELEMENT(g_value_get_object(&item));
      GstElementFactory* factory = gst_element_get_factory(element);
      if (factory && std::string_view(GST_OBJECT_NAME(factory)) == "nicesrc") {
        GstPad* pad = gst_element_get_static_pad(element, "src");
        gst_pad_add_probe(
            pad, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
            &GstMediaSession::on_received, this, nullptr);
        gst_object_unref(pad);
      }
      g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(elements);
    GstWebRTCRTPTransceiver* transceiver = nullptr;
    g_signal_emit_by_name(webrtc_, "get-transceiver", 0, &transceiver);
    if (!transceiver) return;
    GstWebRTCRTPSender* sender = nullptr;
    g_object_get(transceiver, "sender", &sender, nullptr);
    gst_object_unref(transceiver);
    if (!sender) return;
    GstWebRTCDTLSTransport* dtls = nullptr;
    g_object_get(sender, "transport", &dtls, nullptr);
    gst_object_unref(sender);
    if (!dtls) return;
    g_signal_connect(dtls, "notify::state", G_CALLBACK(&GstMediaSession::on_dtls_state), this);
    gst_object_unref(dtls);
  }

  // A live session's data channel, opened by the peer: its text messages go to on_text.
  static void on_data_channel(GstElement*, GstWebRTCDataChannel* channel, gpointer self) {
    auto* session = static_cast<GstMediaSession*>(self);
    {
      std::lock_guard lock(session->mutex_);
      if (session->channel_ || session->ending_) return;  // one channel per session; later ones are ignored
      session->channel_ = GST_WEBRTC_DATA_CHANNEL(g_object_ref(channel));
    }
    g_signal_connect(channel, "on-message-string", G_CALLBACK(&GstMediaSession::on_message), self);
  }

  static void on_message(GstWebRTCDataChannel*, gchar* text, gpointer self) {
    auto* session = static_cast<GstMediaSession*>(self);
    if (!text || !session->options_.on_text) return;
    std::string message(text);
    if (message.size() > kMaxTextBytes) return;
    if (session->ended()) return;
    session->options_.on_text(std::move(message));
  }

  static void on_gathering_state(GObject* webrtc, GParamSpec*, gpointer self) {
    GstWebRTCICEGatheringState state;
    g_object_get(webrtc, "ice-gathering-state", &state, nullptr);
    auto* session = static_cast<GstMediaSession*>(self);
    std::lock_guard lock(session->mutex_);
    if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) {
      session->gathered_ = true;
      session->gathered_cv_.notify_all();
    }
  }

  // On the payloader's output: counts what goes out, notes the first packet and the end of the audio.
  static GstPadProbeReturn on_packet(GstPad*, GstPadProbeInfo* info, gpointer self) {
    auto* session = static_cast<GstMediaSession*>(self);
    std::lock_guard lock(session->mutex_);
    if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
      GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
      session->bytes_sent_ += gst_buffer_get_size(buffer);
      if (!session->first_packet_at_) session->first_packet_at_ = Clock::now();
    } else if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
      // Drained once every payloader (audio, and a video session's video) has passed its end on.
      if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS &&
          ++session->payloaders_ended_ == session->payloaders_)
        session->drained_at_ = Clock::now();
    }
    return GST_PAD_PROBE_OK;
  }

  std::string id_;
  const WebrtcConfig& config_;
  GstElement* pipeline_ = nullptr;
  GstElement* webrtc_ = nullptr;     // owned by pipeline_
  GstElement* appsrc_ = nullptr;     // owned by pipeline_
  GstElement* video_src_ = nullptr;  // a video session's; owned by pipeline_
  int payloaders_ = 1, payloaders_ended_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable gathered_cv_;
  bool gathered_ = false;
  Clock::time_point opened_ = Clock::now();
  int rate_ = 0, channels_ = 1;  // the format of what push() takes
  bool connected_ = false, audio_ended_ = false, ice_failed_ = false, peer_closed_ = false;
  // Audio not yet handed to appsrc, in 20 ms chunks.
  struct Chunk {
    std::string pcm;
    int rate;
    int channels;
    uint64_t utterance;
  };
  std::deque<Chunk> outbox_;
  uint64_t outbox_bytes_ = 0;
  std::string carry_;  // a split frame of the last push
  uint64_t carry_utterance_ = 0;
  int sent_rate_ = 0, sent_channels_ = 0;  // the caps appsrc has
  std::optional<uint64_t> speaking_;       // the utterance whose audio is going out
  std::set<uint64_t> ended_utterances_;
  bool eos_sent_ = false;
  GstClockTime next_pts_ = 0;
  SessionOptions options_;
  GstWebRTCDataChannel* channel_ = nullptr;  // a live session's, once the peer opened it (a reference)
  std::optional<Clock::time_point> connected_at_, first_packet_at_, drained_at_, disconnected_since_;
  Clock::time_point last_received_ = Clock::now();  // the last packet from the peer
  uint64_t bytes_sent_ = 0;
  std::optional<SessionEnd> ending_;
  std::optional<std::string> failure_;
  std::string offer_ufrag_;              // the peer's ICE credentials, as its offer stated them
  std::vector<std::string> offer_mids_;  // the offer's m= sections' mids, in order
  // A video session's file, what of it waits to fall due, and the stream time its start plays at.
  bool file_requested_ = false;
  std::unique_ptr<GstVideoFile> file_;
  SamplePtr pending_picture_, pending_sound_;
  std::optional<GstClockTime> file_base_;
  GstClockTime next_picture_at_ = 0, next_sound_at_ = 0;
  GstCaps* picture_caps_ = nullptr;  // what the appsrcs were last told (references)
  GstCaps* sound_caps_ = nullptr;
  uint64_t pictures_sent_ = 0;
};

std::optional<std::string> GstMediaSession::negotiate(const WhepOffer& offer, std::string& answer_sdp) {
  offer_ufrag_ = offer.ice_ufrag;
  offer_mids_ = offer.mids;
  std::string description =
      "appsrc name=src is-live=true format=time do-timestamp=false ! audioconvert ! audioresample"
      " ! audio/x-raw,rate=48000 ! clocksync sync=true ! opusenc perfect-timestamp=false"
      " ! rtpopuspay name=pay pt=" +
      std::to_string(offer.opus_payload_type) +
      " ! application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=" +
      std::to_string(offer.opus_payload_type) + " ! webrtcbin name=webrtc bundle-policy=max-bundle";
  if (options_.video) {
    if (!offer.vp8_payload_type) return "the offer receives no VP8 video";
    // Real-time VP8 (deadline 1 µs: the fastest preset), a key frame at least every 2 s for a receiver that
    // lost one, and ~1 Mbit/s, plenty for a 512-pixel talking head.
    const std::string pt = std::to_string(*offer.vp8_payload_type);
    description +=
        " appsrc name=video_src is-live=true format=time do-timestamp=false ! videoconvert"
        " ! clocksync sync=true ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=50 target-bitrate=1000000"
        " ! rtpvp8pay name=video_pay picture-id-mode=15-bit pt=" +
        pt + " ! application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=" + pt +
        " ! webrtc.";
  }
  GError* error = nullptr;
  pipeline_ = gst_parse_launch(description.c_str(), &error);
  if (error) {
    std::string message = error->message;
    g_error_free(error);
    if (pipeline_) gst_object_unref(pipeline_);
    pipeline_ = nullptr;
    return "the media pipeline could not be built: " + message;
  }
  webrtc_ = gst_bin_get_by_name(GST_BIN(pipeline_), "webrtc");
  appsrc_ = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  gst_object_unref(webrtc_);  // the pipeline keeps them alive; these stay borrowed
  gst_object_unref(appsrc_);
  if (options_.video) {
    video_src_ = gst_bin_get_by_name(GST_BIN(pipeline_), "video_src");
    gst_object_unref(video_src_);
  }
  configure_ice();
  if (!config_.stun_server.empty())
    g_object_set(webrtc_, "stun-server", config_.stun_server.c_str(), nullptr);
  for (const auto& turn : config_.turn_servers) {
    gboolean added = FALSE;
    g_signal_emit_by_name(webrtc_, "add-turn-server", turn.c_str(), &added);
  }
  g_signal_connect(webrtc_, "notify::connection-state", G_CALLBACK(&GstMediaSession::on_connection_state),
                   this);
  g_signal_connect(webrtc_, "notify::ice-gathering-state", G_CALLBACK(&GstMediaSession::on_gathering_state),
                   this);
  if (options_.data_channel)
    g_signal_connect(webrtc_, "on-data-channel", G_CALLBACK(&GstMediaSession::on_data_channel), this);
  payloaders_ = options_.video ? 2 : 1;
  for (const char* name : {"pay", "video_pay"}) {
    GstElement* pay = gst_bin_get_by_name(GST_BIN(pipeline_), name);
    if (!pay) continue;
    GstPad* pay_src = gst_element_get_static_pad(pay, "src");
    gst_pad_add_probe(
        pay_src,
        static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
        &GstMediaSession::on_packet, this, nullptr);
    gst_object_unref(pay_src);
    gst_object_unref(pay);
  }

  // The transceivers webrtcbin made for the linked pads only send.
  GArray* transceivers = nullptr;
  g_signal_emit_by_name(webrtc_, "get-transceivers", &transceivers);
  if (transceivers) {
    for (guint i = 0; i < transceivers->len; ++i) {
      g_object_set(g_array_index(transceivers, GstWebRTCRTPTransceiver*, i), "direction",
                   GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, nullptr);
    }
    g_array_unref(transceivers);
  }

  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return "the media pipeline did not start";

  GstSDPMessage* sdp = nullptr;
  if (gst_sdp_message_new_from_text(offer.sdp.c_str(), &sdp) != GST_SDP_OK || !sdp)
    return "the offer is not SDP GStreamer can read";
  GstWebRTCSessionDescription* remote = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  {
    PromiseWaiter waiter;
    g_signal_emit_by_name(webrtc_, "set-remote-description", remote, waiter.get());
    gst_webrtc_session_description_free(remote);
    const GstStructure* reply = waiter.wait(config_.answer_timeout);
    GError* remote_error = nullptr;
    if (reply && gst_structure_get(reply, "error", G_TYPE_ERROR, &remote_error, nullptr)) {
      std::string message = remote_error->message;
      g_error_free(remote_error);
      return "the offer was not accepted: " + message;
    }
  }
  GstWebRTCSessionDescription* answer = nullptr;
  {
    PromiseWaiter waiter;
    g_signal_emit_by_name(webrtc_, "create-answer", nullptr, waiter.get());
    const GstStructure* reply = waiter.wait(config_.answer_timeout);
    if (!reply) return "no answer could be made in time";
    GError* answer_error = nullptr;
    if (gst_structure_get(reply, "error", G_TYPE_ERROR, &answer_error, nullptr)) {
      std::string message = answer_error->message;
      g_error_free(answer_error);
      return "no answer could be made: " + message;
    }
    gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
    if (!answer) return "no answer could be made";
  }
  {
    PromiseWaiter waiter;
    g_signal_emit_by_name(webrtc_, "set-local-description", answer, waiter.get());
    gst_webrtc_session_description_free(answer);
    if (!waiter.replied(config_.answer_timeout)) return "the answer could not be applied in time";
  }
  watch_transports();
  {
    // The answer goes out whole, candidates included: WHEP clients need no trickle.
    std::unique_lock lock(mutex_);
    if (!gathered_cv_.wait_for(lock, config_.answer_timeout, [&] { return gathered_; }))
      return "ICE candidates were not gathered in time";
  }
  GstWebRTCSessionDescription* local = nullptr;
  g_object_get(webrtc_, "local-description", &local, nullptr);
  if (!local) return "no local description";
  gchar* text = gst_sdp_message_as_text(local->sdp);
  answer_sdp = text;
  g_free(text);
  gst_webrtc_session_description_free(local);
  if (!answer_accepts(answer_sdp, "audio"))
    return "the offer's audio section could not be matched to the audio this session sends";
  if (options_.video && !answer_accepts(answer_sdp, "video"))
    return "the offer's video section could not be matched to the VP8 video this session sends";
  if (options_.data_channel && !answer_accepts(answer_sdp, "application"))
    return "the offer's data channel could not be answered";
  return std::nullopt;
}

}  // namespace

struct WebrtcEgress::Impl {
  WebrtcConfig config;
  EndCallback on_end;
  std::optional<std::string> unavailable;
  std::optional<std::string> video_unavailable;  // audio sessions work without these elements

  mutable std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable wake_pacer;
  bool stopping = false;
  struct OpenRequest {
    WhepOffer offer;
    SessionOptions options;
    std::function<void(OpenResult)> done;
  };
  std::deque<OpenRequest> opens;
  struct Trickle {
    std::shared_ptr<GstMediaSession> session;
    std::vector<RemoteCandidate> candidates;
  };
  std::deque<Trickle> trickles;
  std::unordered_map<std::string, std::shared_ptr<GstMediaSession>> sessions;
  std::thread thread;
  std::thread pacer;  // hands each connected session's audio out, every kPumpInterval

  void pace() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      wake_pacer.wait_for(lock, kPumpInterval, [&] { return stopping; });
      if (stopping) break;
      std::vector<std::shared_ptr<GstMediaSession>> open;
      open.reserve(sessions.size());
      for (const auto& [id, session] : sessions) open.push_back(session);
      lock.unlock();
      for (const auto& session : open) session->pump();
      lock.lock();
    }
  }

  void run() {
    // GStreamer makes its DTLS certificate (RSA) for the process when the first DTLS element is made, which
    // held the first session's answer for ~0.3 s here: made now, before any offer waits for it.
    if (!unavailable) {
      if (GstElement* dtls = gst_element_factory_make("dtlssrtpdec", nullptr)) gst_object_unref(dtls);
    }
    std::unique_lock lock(mutex);
    while (true) {
      wake.wait_for(lock, std::chrono::milliseconds(100),
                    [&] { return stopping || !opens.empty() || !trickles.empty(); });
      if (stopping) break;
      while (!opens.empty()) {
        auto request = std::move(opens.front());
        opens.pop_front();
        lock.unlock();
        negotiate(request);
        lock.lock();
      }
      while (!trickles.empty()) {
        auto trickle = std::move(trickles.front());
        trickles.pop_front();
        lock.unlock();
        trickle.session->add_candidates(trickle.candidates);
        lock.lock();
      }
      reap(lock, false);
    }
    reap(lock, true);
  }

  size_t open_sessions() const {
    std::lock_guard lock(mutex);
    return sessions.size();
  }

  void negotiate(const OpenRequest& request) {
    if (open_sessions() >= config.max_sessions) {
      return request.done(EgressRefusal{
          EgressRefusal::Reason::kFull,
          "this gateway holds its limit of " + std::to_string(config.max_sessions) + " WebRTC sessions"});
    }
    if (request.options.video && !request.offer.vp8_payload_type) {
      return request.done(EgressRefusal{
          EgressRefusal::Reason::kNegotiation,
          "a video session needs an offer that receives VP8 video (addTransceiver('video', {direction: "
          "'recvonly'}) in a browser that offers VP8)"});
    }
    if (request.options.video && video_unavailable) {
      return request.done(EgressRefusal{EgressRefusal::Reason::kUnavailable, *video_unavailable});
    }
    if (request.options.data_channel && !request.offer.has_data_channel) {
      return request.done(EgressRefusal{
          EgressRefusal::Reason::kNegotiation,
          "a live session needs a data channel in the offer (createDataChannel before createOffer)"});
    }
    auto session = std::make_shared<GstMediaSession>(random_id(), config, request.options);
    std::string answer;
    if (auto error = session->negotiate(request.offer, answer)) {
      session->teardown();
      return request.done(EgressRefusal{EgressRefusal::Reason::kNegotiation, *error});
    }
    {
      std::lock_guard lock(mutex);
      sessions.emplace(session->id(), session);
    }
    request.done(SessionAnswer{session, std::move(answer)});
  }

  // Tears down the sessions that are due (all of them when stopping) and reports each. Holds `lock` on entry
  // and exit; releases it for the teardowns, which may block on GStreamer's threads.
  void reap(std::unique_lock<std::mutex>& lock, bool all) {
    std::vector<std::pair<std::shared_ptr<GstMediaSession>, SessionEnd>> due;
    const auto now = Clock::now();
    for (auto it = sessions.begin(); it != sessions.end();) {
      auto end = all ? std::optional<SessionEnd>(SessionEnd::kShutdown) : it->second->due(now);
      if (!end) {
        ++it;
        continue;
      }
      it->second->request_end(*end);
      due.emplace_back(it->second, *end);
      it = sessions.erase(it);
    }
    if (due.empty()) return;
    lock.unlock();
    for (auto& [session, end] : due) {
      session->teardown();
      if (auto why = session->failure()) spdlog::warn("webrtc: session {} ended: {}", session->id(), *why);
      if (on_end) on_end(session->id(), end, session->stats());
    }
    lock.lock();
  }
};

WebrtcEgress::WebrtcEgress(WebrtcConfig config, EndCallback on_end) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->on_end = std::move(on_end);
  GError* error = nullptr;
  if (!gst_init_check(nullptr, nullptr, &error)) {
    impl_->unavailable =
        std::string("GStreamer did not start: ") + (error ? error->message : "unknown error");
    if (error) g_error_free(error);
  } else {
    std::string missing;
    for (const char* element : {"appsrc", "audioconvert", "audioresample", "clocksync", "opusenc",
                                "rtpopuspay", "webrtcbin", "nicesink", "dtlssrtpenc", "sctpenc"}) {
      GstElementFactory* factory = gst_element_factory_find(element);
      if (!factory) {
        missing += (missing.empty() ? "" : ", ") + std::string(element);
      } else {
        gst_object_unref(factory);
      }
    }
    if (!missing.empty()) impl_->unavailable = "GStreamer lacks the elements " + missing;
    std::string missing_video;
    for (const char* element : {"videoconvert", "vp8enc", "rtpvp8pay", "decodebin", "appsink", "filesrc"}) {
      GstElementFactory* factory = gst_element_factory_find(element);
      if (!factory) {
        missing_video += (missing_video.empty() ? "" : ", ") + std::string(element);
      } else {
        gst_object_unref(factory);
      }
    }
    if (!missing_video.empty())
      impl_->video_unavailable = "video sessions need the GStreamer elements " + missing_video;
  }
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  impl_->pacer = std::thread([impl = impl_.get()] { impl->pace(); });
}

WebrtcEgress::~WebrtcEgress() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->wake_pacer.notify_all();
  impl_->pacer.join();
  impl_->thread.join();
  for (auto& request : impl_->opens)
    request.done(EgressRefusal{EgressRefusal::Reason::kUnavailable, "the gateway is stopping"});
}

std::optional<std::string> WebrtcEgress::unavailable() const {
  return impl_->unavailable;
}

void WebrtcEgress::open(WhepOffer offer, SessionOptions options, std::function<void(OpenResult)> done) {
  if (impl_->unavailable)
    return done(EgressRefusal{EgressRefusal::Reason::kUnavailable, *impl_->unavailable});
  {
    std::lock_guard lock(impl_->mutex);
    impl_->opens.push_back({std::move(offer), std::move(options), std::move(done)});
  }
  impl_->wake.notify_all();
}

bool WebrtcEgress::close(const std::string& id) {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->sessions.find(id);
  if (it == impl_->sessions.end()) return false;
  it->second->request_end(SessionEnd::kDeleted);
  impl_->wake.notify_all();
  return true;
}

size_t WebrtcEgress::open_sessions() const {
  return impl_->open_sessions();
}

TrickleVerdict WebrtcEgress::add_candidates(const std::string& id, const IceFragment& fragment) {
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->sessions.find(id);
    if (it == impl_->sessions.end()) return TrickleVerdict::kNoSession;
    if (!it->second->same_ice_credentials(fragment)) return TrickleVerdict::kIceRestart;
    if (fragment.candidates.empty()) return TrickleVerdict::kAdded;  // end-of-candidates alone
    impl_->trickles.push_back({it->second, fragment.candidates});
  }
  impl_->wake.notify_all();
  return TrickleVerdict::kAdded;
}

}  // namespace gpufleet::media
