// WebRTC egress against a real browser: headless Chromium offers to receive audio, the egress answers, sends
// a tone, a silence and a tone, and the page hears them in that order, paced in real time; a video session
// shows a file's pictures at its rate and plays its sound. Guards against: an
// answer the browser refuses, audio sent before DTLS is up (the first word lost), audio sent as a burst
// instead of in real time, sessions that never end or are never reaped.

#include "media/webrtc_egress.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

#include "tests/media/webrtc_browser.hpp"
#include "tests/support/chromium.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::media {
namespace {

using namespace std::chrono_literals;

// 16-bit mono PCM: `seconds` of a sine at `hz` (silence when hz is 0), amplitude one half of full scale.
std::string tone(int rate, double seconds, double hz) {
  std::string pcm;
  const int samples = static_cast<int>(rate * seconds);
  for (int i = 0; i < samples; ++i) {
    const auto value = static_cast<int16_t>(hz > 0 ? 16000 * std::sin(2 * M_PI * hz * i / rate) : 0);
    pcm.push_back(static_cast<char>(value & 0xFF));
    pcm.push_back(static_cast<char>((value >> 8) & 0xFF));
  }
  return pcm;
}

struct Ends {
  std::mutex mutex;
  std::vector<std::pair<std::string, SessionEnd>> ends;
  SessionStats last;
  void add(const std::string& id, SessionEnd end, const SessionStats& stats) {
    std::lock_guard lock(mutex);
    ends.emplace_back(id, end);
    last = stats;
  }
  std::optional<SessionEnd> of(const std::string& id) {
    std::lock_guard lock(mutex);
    for (auto& [session, end] : ends)
      if (session == id) return end;
    return std::nullopt;
  }
};

OpenResult open_sync(WebrtcEgress& egress, WhepOffer offer, SessionOptions options = {}) {
  std::promise<OpenResult> promise;
  auto future = promise.get_future();
  egress.open(std::move(offer), std::move(options),
              [&](OpenResult result) { promise.set_value(std::move(result)); });
  return future.get();
}

class WebrtcEgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WebrtcConfig config;
    config.connect_timeout = 4000ms;
    egress_ = std::make_unique<WebrtcEgress>(
        config, [this](const std::string& id, SessionEnd end, const SessionStats& stats) {
          ends_.add(id, end, stats);
        });
    if (auto why = egress_->unavailable()) GTEST_SKIP() << *why;
  }
  bool wait_end(const std::string& id, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ends_.of(id)) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // Starts the browser, takes its offer and has `egress` answer it (the answer is not yet given to the page).
  OpenResult open_from_browser(WebrtcEgress& egress, SessionOptions options = {}) {
    browser_.reset();  // one browser at a time, each with a profile of its own
    const auto profile = dir_.path() / ("browser-" + std::to_string(++browsers_));
    std::filesystem::create_directories(profile);
    browser_ =
        std::make_unique<testing::HeadlessChromium>("about:blank", profile, testing::webrtc_browser_flags());
    browser_->evaluate(testing::kWhepClientScript);
    const std::string call = std::string("whep.offer(") + (options.data_channel ? "true" : "false") + ", " +
                             (options.video ? "true" : "false") + ")";
    auto offer = check_whep_offer(browser_->evaluate_async(call).get<std::string>());
    if (auto* refused = std::get_if<OfferRefusal>(&offer)) {
      ADD_FAILURE() << "the browser's offer was refused: " << refused->message;
      return EgressRefusal{EgressRefusal::Reason::kNegotiation, refused->message};
    }
    return open_sync(egress, std::get<WhepOffer>(offer), std::move(options));
  }
  // Opens a video session from a fresh browser, plays `file` in it and gives the browser the answer; how the
  // session ended, or nothing when it did not open or end within `timeout`.
  std::optional<SessionEnd> play_video(const std::filesystem::path& file, std::chrono::milliseconds timeout) {
    SessionOptions options;
    options.video = true;
    auto answer = answered(open_from_browser(*egress_, options));
    if (!answer.session) return std::nullopt;
    answer.session->play_file(file.string());
    browser_->evaluate_async("whep.answer(" + nlohmann::json(answer.sdp).dump() + ")");
    if (!wait_end(answer.session->id(), timeout)) return std::nullopt;
    return ends_.of(answer.session->id());
  }
  SessionAnswer answered(OpenResult result) {
    if (auto* refused = std::get_if<EgressRefusal>(&result)) ADD_FAILURE() << "refused: " << refused->message;
    return std::holds_alternative<SessionAnswer>(result) ? std::get<SessionAnswer>(std::move(result))
                                                         : SessionAnswer{};
  }
  Ends ends_;
  std::unique_ptr<WebrtcEgress> egress_;
  testing::TempDir dir_;
  std::unique_ptr<testing::HeadlessChromium> browser_;
  int browsers_ = 0;
};

TEST_F(WebrtcEgressTest, BrowserHearsToneSilenceToneInRealTime) {
  auto answer = answered(open_from_browser(*egress_));
  ASSERT_TRUE(answer.session);
  auto& browser = *browser_;
  EXPECT_NE(answer.sdp.find("a=sendonly"), std::string::npos) << answer.sdp;
  EXPECT_NE(answer.sdp.find("a=candidate"), std::string::npos) << answer.sdp;
  EXPECT_EQ(egress_->open_sessions(), 1u);

  // All the audio arrives before the browser has even applied the answer: the session holds it until DTLS is
  // up, then paces it.
  constexpr int kRate = 24000;
  answer.session->start_audio(kRate, 1);
  answer.session->push(tone(kRate, 1.0, 440) + tone(kRate, 0.8, 0) + tone(kRate, 1.0, 660));
  answer.session->end_audio();
  const auto pushed = std::chrono::steady_clock::now();
  browser.evaluate_async("whep.answer(" + nlohmann::json(answer.sdp).dump() + ")");

  ASSERT_TRUE(wait_end(answer.session->id(), 20s)) << "the session did not end";
  const auto played_for = std::chrono::steady_clock::now() - pushed;
  EXPECT_EQ(ends_.of(answer.session->id()), SessionEnd::kPlayed);
  EXPECT_EQ(egress_->open_sessions(), 0u);
  {
    std::lock_guard lock(ends_.mutex);
    EXPECT_TRUE(ends_.last.connected_after.has_value());
    EXPECT_TRUE(ends_.last.first_packet_after.has_value());
    EXPECT_GT(ends_.last.bytes_sent, 2000u);
    auto ms = [](auto duration) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
    };
    std::cout << "answer to connected " << ms(*ends_.last.connected_after) << " ms, to first packet "
              << ms(*ends_.last.first_packet_after)
              << " ms (the page applied the answer after the audio was pushed)\n";
  }
  // 2.8 s of audio takes 2.8 s to go out, not a burst.
  EXPECT_GE(played_for, 2600ms);

  std::this_thread::sleep_for(500ms);  // the browser's jitter buffer plays out the tail
  auto levels = browser.evaluate("whep.levels");
  ASSERT_TRUE(levels.is_array());
  // Loud, then quiet for most of the 0.8 s gap, then loud again.
  std::vector<std::pair<double, double>> series;
  for (const auto& sample : levels) series.emplace_back(sample[0].get<double>(), sample[1].get<double>());
  auto first_loud = std::find_if(series.begin(), series.end(), [](auto& s) { return s.second > 0.1; });
  ASSERT_NE(first_loud, series.end()) << "the browser heard nothing; levels: " << levels.dump();
  auto gap = std::find_if(first_loud, series.end(), [](auto& s) { return s.second < 0.01; });
  ASSERT_NE(gap, series.end()) << "no silence after the first tone";
  auto second_loud = std::find_if(gap, series.end(), [](auto& s) { return s.second > 0.1; });
  ASSERT_NE(second_loud, series.end()) << "no second tone after the silence";
  const double first_tone_ms = gap->first - first_loud->first;
  const double silence_ms = second_loud->first - gap->first;
  std::cout << "heard: first tone " << first_tone_ms << " ms, silence " << silence_ms
            << " ms, first audible at " << browser.evaluate("whep.firstAudible").dump()
            << " ms (page clock); " << series.size() << " level samples\n";
  EXPECT_GT(first_tone_ms, 700) << "the first tone was cut";
  EXPECT_LT(first_tone_ms, 1400);
  EXPECT_GT(silence_ms, 500);
  EXPECT_LT(silence_ms, 1100);
}

// A peer that closes its connection mid-stream (a tab closed): the session ends within seconds, not when its
// audio would have played out.
TEST_F(WebrtcEgressTest, PeerThatLeavesMidStreamEndsTheSession) {
  auto answer = answered(open_from_browser(*egress_));
  ASSERT_TRUE(answer.session);
  answer.session->start_audio(24000, 1);
  answer.session->push(tone(24000, 30, 440));
  answer.session->end_audio();
  browser_->evaluate_async("whep.answer(" + nlohmann::json(answer.sdp).dump() + ")");
  ASSERT_TRUE(browser_->wait_for("whep.firstAudible !== null", 10s));
  std::this_thread::sleep_for(1s);
  const auto left = std::chrono::steady_clock::now();
  browser_->evaluate("whep.pc.close(), true");
  ASSERT_TRUE(wait_end(answer.session->id(), 20s)) << "the session outlived its peer";
  const auto took = std::chrono::steady_clock::now() - left;
  std::cout << "ended " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the peer left, as " << to_string(*ends_.of(answer.session->id())) << "\n";
  EXPECT_EQ(ends_.of(answer.session->id()), SessionEnd::kPeerGone);
  EXPECT_LT(took, 3s) << "the peer's goodbye was missed";
}

// A live session: the peer's data channel carries text both ways; utterances play in order with their
// events, and a flushed utterance (barge-in) falls silent in the browser within 200 ms while the next one
// still plays. Guards the pacing that makes barge-in possible (audio handed out at most 60 ms ahead).
TEST_F(WebrtcEgressTest, LiveSessionTextUtterancesAndBargeIn) {
  std::mutex mutex;
  std::vector<std::string> texts;
  std::vector<std::pair<uint64_t, UtteranceEvent>> events;
  SessionOptions options;
  options.data_channel = true;
  options.on_text = [&](std::string text) {
    std::lock_guard lock(mutex);
    texts.push_back(std::move(text));
  };
  options.on_utterance = [&](uint64_t utterance, UtteranceEvent event) {
    std::lock_guard lock(mutex);
    events.emplace_back(utterance, event);
  };
  auto answer = answered(open_from_browser(*egress_, options));
  ASSERT_TRUE(answer.session);
  EXPECT_NE(answer.sdp.find("m=application "), std::string::npos);
  auto& browser = *browser_;
  browser.evaluate_async("whep.answer(" + nlohmann::json(answer.sdp).dump() + ")");
  browser.evaluate_async("whep.send('hello from the page')");
  auto has_events = [&](size_t count) {
    std::lock_guard lock(mutex);
    return events.size() >= count;
  };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mutex);
      if (!texts.empty()) break;
    }
    std::this_thread::sleep_for(20ms);
  }
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(texts, std::vector<std::string>{"hello from the page"});
  }
  answer.session->send_text("{\"event\":\"hello\"}");
  ASSERT_TRUE(browser.wait_for("whep.messages.length === 1", 5s));
  EXPECT_EQ(browser.evaluate("whep.messages[0][1]"), "{\"event\":\"hello\"}");

  // Utterance 1 (0.6 s), then utterance 2 (4 s), cut 1 s into it, then utterance 3 (0.6 s).
  answer.session->start_audio(24000, 1);
  answer.session->push(tone(24000, 0.6, 440), 1);
  answer.session->end_utterance(1);
  answer.session->start_audio(16000, 1);  // another model's rate
  answer.session->push(tone(16000, 4.0, 660), 2);
  answer.session->end_utterance(2);
  const auto waited = std::chrono::steady_clock::now() + 10s;
  while (!has_events(3) && std::chrono::steady_clock::now() < waited) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(has_events(3)) << "utterance 2 did not start";
  std::this_thread::sleep_for(1s);
  answer.session->flush(2);
  const double cut_at = browser.evaluate("whep.now()").get<double>();
  answer.session->start_audio(24000, 1);
  std::this_thread::sleep_for(600ms);  // a gap before utterance 3, to see the cut
  answer.session->push(tone(24000, 0.6, 880), 3);
  answer.session->end_utterance(3);
  const auto played = std::chrono::steady_clock::now() + 10s;
  while (!has_events(5) && std::chrono::steady_clock::now() < played) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(500ms);
  {
    std::lock_guard lock(mutex);
    const std::vector<std::pair<uint64_t, UtteranceEvent>> expected{{1, UtteranceEvent::kStarted},
                                                                    {1, UtteranceEvent::kPlayed},
                                                                    {2, UtteranceEvent::kStarted},
                                                                    {3, UtteranceEvent::kStarted},
                                                                    {3, UtteranceEvent::kPlayed}};
    EXPECT_EQ(events, expected);
  }
  std::vector<std::pair<double, double>> series;
  for (const auto& sample : browser.evaluate("whep.levels"))
    series.emplace_back(sample[0].get<double>(), sample[1].get<double>());
  auto silent = std::find_if(series.begin(), series.end(),
                             [&](auto& s) { return s.first > cut_at && s.second < 0.01; });
  ASSERT_NE(silent, series.end()) << "utterance 2 was not cut";
  const double cut_ms = silent->first - cut_at;
  auto resumed = std::find_if(silent, series.end(), [](auto& s) { return s.second > 0.1; });
  std::cout << "barge-in: silent " << cut_ms << " ms after the flush; utterance 3 heard "
            << (resumed == series.end() ? -1.0 : resumed->first - cut_at) << " ms after it\n";
  EXPECT_LT(cut_ms, 200);
  EXPECT_NE(resumed, series.end()) << "utterance 3 was not heard";
  EXPECT_FALSE(answer.session->ended()) << "a live session outlives its utterances";
}

TEST_F(WebrtcEgressTest, SessionThatNeverConnectsIsReaped) {
  auto session = answered(open_from_browser(*egress_)).session;
  ASSERT_TRUE(session);
  // The browser never gets the answer: ICE never starts.
  ASSERT_TRUE(wait_end(session->id(), 10s));
  EXPECT_EQ(ends_.of(session->id()), SessionEnd::kConnectTimeout);
  EXPECT_TRUE(session->ended());
  session->push(tone(24000, 0.1, 440));  // a late source does nothing
  EXPECT_EQ(egress_->open_sessions(), 0u);
}

// Threads of this process (the egress's and GStreamer's), from /proc.
long thread_count() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}

// The thread count once it stops falling: GStreamer's streaming threads end shortly after a pipeline stops.
long settled_thread_count() {
  long lowest = thread_count();
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(100ms);
    lowest = std::min(lowest, thread_count());
  }
  return lowest;
}

// The thread count once it is back to `target`, given up to 10 s on a loaded machine (or where it stayed).
long thread_count_down_to(long target) {
  long count = thread_count();
  for (int i = 0; i < 100 && count > target; ++i) {
    std::this_thread::sleep_for(100ms);
    count = thread_count();
  }
  return count;
}

TEST_F(WebrtcEgressTest, DeleteEndsSessionAndUnknownIdIsRefused) {
  auto session = answered(open_from_browser(*egress_)).session;
  ASSERT_TRUE(session);
  EXPECT_FALSE(egress_->close("not-a-session"));
  EXPECT_TRUE(egress_->close(session->id()));
  ASSERT_TRUE(wait_end(session->id(), 5s));
  EXPECT_EQ(ends_.of(session->id()), SessionEnd::kDeleted);
  EXPECT_FALSE(egress_->close(session->id()));
}

// Sessions that end leave no threads behind: after the first (GStreamer starts a few process-wide threads
// once), more sessions opened and ended bring the count back to where it was.
TEST_F(WebrtcEgressTest, EndedSessionsLeaveNoThreadsBehind) {
  auto open_and_end = [&] {
    auto answer = answered(open_from_browser(*egress_));
    ASSERT_TRUE(answer.session);
    answer.session->start_audio(24000, 1);
    answer.session->push(tone(24000, 0.5, 440));
    answer.session->end_audio();
    browser_->evaluate_async("whep.answer(" + nlohmann::json(answer.sdp).dump() + ")");
    ASSERT_TRUE(wait_end(answer.session->id(), 10s));
    EXPECT_EQ(ends_.of(answer.session->id()), SessionEnd::kPlayed);
  };
  open_and_end();
  const long after_first = settled_thread_count();
  for (int i = 0; i < 3; ++i) open_and_end();
  const long after_more = thread_count_down_to(after_first);
  std::cout << "threads: " << after_first << " after one session, " << after_more << " after four\n";
  EXPECT_LE(after_more, after_first);
  EXPECT_EQ(egress_->open_sessions(), 0u);
}

// A 3 s clip made by Debian's ffmpeg as a video job's result would be: H.264 (moving test pattern) and AAC
// (a 440 Hz tone) in MP4, 25 pictures a second. Whether ffmpeg succeeded.
bool make_clip(const std::filesystem::path& out, const std::string& size) {
  const std::string command = "ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=" + size +
                              ":rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 3 -c:v libx264"
                              " -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest '" +
                              out.string() + "'";
  return std::system(command.c_str()) == 0;
}

// A video session: the browser receives the file's pictures as VP8 at the file's rate, moving as the file
// does, and hears its sound; the session goes out in real time, not as a burst, and ends as played once
// both streams are out. Guards the video branch of the pipeline, the offer's VP8 payload type, the decoder's
// pacing and the end of a session with two streams.
TEST_F(WebrtcEgressTest, VideoSessionShowsTheFilesPicturesAndPlaysItsSound) {
  const auto clip = dir_.path() / "clip.mp4";
  ASSERT_TRUE(make_clip(clip, "320x240"));
  SessionOptions options;
  options.video = true;
  auto answer = answered(open_from_browser(*egress_, options));
  ASSERT_TRUE(answer.session);
  EXPECT_NE(answer.sdp.find("VP8/90000"), std::string::npos) << answer.sdp;
  EXPECT_EQ(answer.sdp.find("m=video 0 "), std::string::npos) << answer.sdp;
  answer.session->play_file(clip.string());
  const auto started = std::chrono::steady_clock::now();
  browser_->evaluate_async("whep.answer(" + nlohmann::json(answer.sdp).dump() + ")");

  ASSERT_TRUE(wait_end(answer.session->id(), 20s)) << "the session did not end";
  const auto played_for = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(ends_.of(answer.session->id()), SessionEnd::kPlayed);
  uint64_t pictures = 0;
  {
    std::lock_guard lock(ends_.mutex);
    pictures = ends_.last.pictures_sent;
  }
  EXPECT_EQ(pictures, 75u) << "3 s at 25 pictures a second";
  EXPECT_GE(played_for, 2800ms) << "the file went out faster than real time";
  std::this_thread::sleep_for(500ms);

  const auto frames = browser_->evaluate("whep.frames");
  ASSERT_TRUE(frames.is_array() && frames.size() > 10) << "the browser showed no video: " << frames.dump();
  const double span_ms = frames.back()[0].get<double>() - frames.front()[0].get<double>();
  const double rate = 1000.0 * static_cast<double>(frames.size() - 1) / span_ms;
  EXPECT_EQ(frames.back()[1], 320);
  EXPECT_EQ(frames.back()[2], 240);
  double moving = 0;
  const auto motion = browser_->evaluate("whep.motion");
  for (const auto& sample : motion)
    for (const auto& cell : sample[1]) moving = std::max(moving, cell.get<double>());
  std::cout << "video: " << frames.size() << " frames shown over " << span_ms << " ms (" << rate
            << " a second), largest change of a cell between samples " << moving << "; first audible at "
            << browser_->evaluate("whep.firstAudible").dump() << " ms (page clock)\n";
  EXPECT_GE(frames.size(), 60u) << "pictures were lost";
  EXPECT_GT(rate, 20);
  EXPECT_LT(rate, 30);
  EXPECT_GT(moving, 5) << "the picture does not move";
  EXPECT_TRUE(browser_->evaluate("whep.firstAudible").is_number()) << "the sound was not heard";
}

// Video sessions that end leave no threads behind either: their decoders' and encoders' threads go with them.
TEST_F(WebrtcEgressTest, EndedVideoSessionsLeaveNoThreadsBehind) {
  const auto clip = dir_.path() / "short.mp4";
  ASSERT_TRUE(make_clip(clip, "160x120"));
  EXPECT_EQ(play_video(clip, 15s), SessionEnd::kPlayed);
  const long after_first = settled_thread_count();
  EXPECT_EQ(play_video(clip, 15s), SessionEnd::kPlayed);
  const long after_second = thread_count_down_to(after_first);
  std::cout << "threads: " << after_first << " after one video session, " << after_second << " after two\n";
  EXPECT_LE(after_second, after_first);
  EXPECT_EQ(egress_->open_sessions(), 0u);
}

// What a video session refuses or ends on: an offer that receives no video, and a file that is no video
// (the session ends as the source failing, after the peer connected).
TEST_F(WebrtcEgressTest, VideoSessionRefusesAudioOnlyOffersAndEndsOnFilesThatDoNotDecode) {
  SessionOptions options;
  options.video = true;
  browser_.reset();
  const auto profile = dir_.path() / "audio-only";
  std::filesystem::create_directories(profile);
  browser_ =
      std::make_unique<testing::HeadlessChromium>("about:blank", profile, testing::webrtc_browser_flags());
  browser_->evaluate(testing::kWhepClientScript);
  auto offer =
      std::get<WhepOffer>(check_whep_offer(browser_->evaluate_async("whep.offer()").get<std::string>()));
  auto refused = open_sync(*egress_, offer, options);
  ASSERT_TRUE(std::holds_alternative<EgressRefusal>(refused));
  EXPECT_EQ(std::get<EgressRefusal>(refused).reason, EgressRefusal::Reason::kNegotiation);
  EXPECT_NE(std::get<EgressRefusal>(refused).message.find("VP8"), std::string::npos);

  const auto garbage = dir_.path() / "garbage.mp4";
  std::ofstream(garbage) << std::string(4096, 'x');
  EXPECT_EQ(play_video(garbage, 15s), SessionEnd::kSourceFailed);
  EXPECT_EQ(egress_->open_sessions(), 0u);
}

TEST_F(WebrtcEgressTest, FullEgressRefusesNewSessions) {
  WebrtcConfig config;
  config.max_sessions = 0;
  WebrtcEgress full(config, nullptr);
  auto result = open_from_browser(full);
  ASSERT_TRUE(std::holds_alternative<EgressRefusal>(result));
  EXPECT_EQ(std::get<EgressRefusal>(result).reason, EgressRefusal::Reason::kFull);
}

}  // namespace
}  // namespace gpufleet::media
