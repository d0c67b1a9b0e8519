// WHEP (draft-ietf-wish-whep) through the real gateway, against a real fleet and a real browser: headless
// Chromium loads a page from the gateway, submits a speech job, offers to receive its audio before the job
// has finished and hears it over WebRTC; the time from submit to first audible audio is printed. A video
// job's talking head is watched and heard the same way. And the hostile side: offers that are not SDP or have
// no audio, the wrong Content-Type, unknown and other keys' jobs and sessions, more sessions than a key may
// hold, a session whose ICE never connects (reaped, counted), and PATCH (trickle ICE) from its owner and
// others, with bad candidates and an ICE restart; a page that trickles its candidates is heard; a page that
// may only use a TURN relay (coturn) is heard through it.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>

#include "cli/process.hpp"
#include "common/api_keys.hpp"
#include "tests/media/webrtc_browser.hpp"
#include "tests/support/chromium.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xtts_golden.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The value of one sample line of the gateway's /metrics ("name{labels} value"); 0 when absent.
double metric(Fleet& fleet, const std::string& series) {
  const auto body = fleet.get("/metrics").body;
  const auto at = body.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(body.substr(at + series.size() + 2));
}

bool wait_metric(Fleet& fleet, const std::string& series, double value, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (metric(fleet, series) == value) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

std::string page_url(Fleet& fleet) {
  return "http://127.0.0.1:" + std::to_string(fleet.stack().config().http_port) + "/health";
}

// A page of the gateway's origin with the WHEP client loaded (the browser lists the page before it has left
// about:blank).
void load_client(HeadlessChromium& page) {
  ASSERT_TRUE(page.wait_for("location.protocol === 'http:' && document.readyState === 'complete'", 15s));
  page.evaluate(kWhepClientScript);
}

// A TURN relay, Debian's coturn (scripts/install-deps.sh), on loopback for the NAT test: long-term
// credentials, relays on 127.0.0.1. coturn refuses to relay to loopback peers unless told
// (--allow-loopback-peers), and here every peer is on this host.
class TurnServer {
 public:
  static constexpr const char* kUser = "gpufleet";
  static constexpr const char* kPassword = "relay-s3cret";

  explicit TurnServer(const std::filesystem::path& dir)
      : port_(cli::free_port()), log_(dir / "turnserver.log") {
    const std::string binary = "/usr/bin/turnserver";
    if (!std::filesystem::exists(binary))
      throw std::runtime_error(binary + " is missing: scripts/install-deps.sh installs coturn");
    process_ = cli::Process::spawn(
        {binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
         "--listening-port=" + std::to_string(port_), "--lt-cred-mech",
         std::string("--user=") + kUser + ":" + kPassword, "--realm=gpufleet.test", "--allow-loopback-peers",
         "--no-tls", "--no-dtls", "--no-tcp-relay", "--no-cli", "--log-file=stdout", "--simple-log",
         "--pidfile=" + (dir / "turnserver.pid").string(), "--db=" + (dir / "turndb").string()},
        {}, log_.string());
    // Its TCP listener opens with the UDP one on the same port: a connect says it is serving.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline && !accepts_tcp()) std::this_thread::sleep_for(50ms);
    if (!accepts_tcp()) throw std::runtime_error("coturn did not start: " + log());
  }
  ~TurnServer() { process_.stop(2s); }
  TurnServer(const TurnServer&) = delete;
  TurnServer& operator=(const TurnServer&) = delete;

  uint16_t port() const { return port_; }
  std::string log() const {
    std::ifstream in(log_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  bool accepts_tcp() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return ok;
  }

  uint16_t port_;
  std::filesystem::path log_;
  cli::Process process_;
};

TEST(Whep, BrowserHearsASpeechJobWhileItIsMadeAndTheSessionEnds) {
  const auto [alice, alice_line] = ApiKeys::generate("alice");
  Fleet fleet(FleetOptions{1, "espeak", 1, {{"API_KEYS", alice_line}}});
  TempDir dir;
  HeadlessChromium page(page_url(fleet), dir.path(), webrtc_browser_flags());
  load_client(page);
  // The page submits the job and, without waiting for it, asks for its audio over WebRTC.
  const auto opened = page.evaluate_async(R"JS((async () => {
    const auth = {'Authorization': 'Bearer )JS" +
                                          alice + R"JS('};
    const submitted = await fetch('/v1/jobs', {method: 'POST', headers: Object.assign({'Content-Type': 'application/json'}, auth),
      body: JSON.stringify({input: {text: 'The first sentence is spoken here. After a pause, a second sentence follows it.'}})});
    const job = await submitted.json();
    whep.submittedAt = performance.now() - whep.t0;
    const answer = await whep.post('/v1/jobs/' + job.id + '/whep', auth);
    return Object.assign(answer, {job: job.id});
  })())JS");
  ASSERT_EQ(opened["status"], 201) << opened.dump();
  const std::string location = opened["location"].get<std::string>();
  EXPECT_TRUE(std::regex_match(location, std::regex("/v1/whep/[0-9a-f]{32}"))) << location;
  EXPECT_NE(opened["body"].get<std::string>().find("a=sendonly"), std::string::npos);

  ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"played\"}", 1, 30s))
      << "the session did not play out; page state: " << page.evaluate("whep.state");
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions"), 0);
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions_opened_total{kind=\"job\"}"), 1);
  EXPECT_GT(metric(fleet, "gpufleet_webrtc_sent_bytes_total"), 2000);
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_first_packet_seconds_count"), 1);
  std::this_thread::sleep_for(400ms);  // the jitter buffer's tail

  // Speech is heard, with a pause between the two sentences.
  const auto levels = page.evaluate("whep.levels");
  const double submitted_at = page.evaluate("whep.submittedAt").get<double>();
  const auto first_audible = page.evaluate("whep.firstAudible");
  ASSERT_TRUE(first_audible.is_number()) << "nothing audible; levels: " << levels.dump();
  std::vector<std::pair<double, double>> series;
  for (const auto& sample : levels) series.emplace_back(sample[0].get<double>(), sample[1].get<double>());
  size_t loud = 0;
  double longest_pause_ms = 0, pause_start = -1, last_loud = -1;
  for (const auto& [t, rms] : series) {
    if (rms > 0.02) {
      ++loud;
      if (pause_start >= 0 && last_loud >= 0) longest_pause_ms = std::max(longest_pause_ms, t - pause_start);
      pause_start = -1;
      last_loud = t;
    } else if (rms < 0.003 && last_loud >= 0 && pause_start < 0) {
      pause_start = t;
    }
  }
  std::cout << "submit to first audible audio: " << first_audible.get<double>() - submitted_at
            << " ms (answer to first packet sent: "
            << 1000 * metric(fleet, "gpufleet_webrtc_first_packet_seconds_sum") << " ms); " << loud * 20
            << " ms of speech heard; longest pause inside it " << longest_pause_ms << " ms\n";
  EXPECT_GT(loud * 20, 2000u) << "too little speech heard";
  EXPECT_GT(longest_pause_ms, 150) << "no pause between the sentences";
  EXPECT_LT(first_audible.get<double>() - submitted_at, 5000);
}

// A streamed XTTS job (its audio appended to the stream file while it decodes, which the session follows) is
// heard over WebRTC. The golden set's random-weight checkpoint on the CPU, skipped without it; it is so small
// that its jobs end in under half a second, before the session has connected, so this checks the streamed
// path end to end, not that audio goes out before the job ends.
TEST(Whep, AStreamedXttsJobIsHeard) {
  const std::string golden = xtts_golden_dir();
  if (!std::filesystem::exists(golden + "/config.json")) GTEST_SKIP() << "no XTTS golden set at " << golden;
  TempDir dir;
  const json xtts = xtts_golden_entry(golden);
  Fleet fleet(FleetOptions{
      1, "noop", 1, {{"WORKER_CONFIG", write_model_registry(dir.path(), json{{"models", {xtts}}}.dump())}}});
  std::ifstream in(golden + "/inputs/ref.wav", std::ios::binary);
  const std::string reference((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string speaker_wav =
      json::parse(fleet.post("/v1/files", reference, "audio/wav").body)["speaker_wav"];
  auto input = [&](const std::string& text) {
    return json{
        {"text", text}, {"language", "en"}, {"speaker_wav", speaker_wav}, {"greedy", true}, {"stream", true}};
  };
  // The voice is computed once, before the measured job.
  ASSERT_EQ(fleet.wait_job(fleet.submit({{"model", "xtts"}, {"input", input("Warm up.")}}), 120)["state"],
            "succeeded");

  HeadlessChromium page(page_url(fleet), dir.path(), webrtc_browser_flags());
  load_client(page);
  const json job{{"model", "xtts"},
                 {"input", input("The streamed voice starts speaking before the whole sentence is made.")}};
  const auto opened = page.evaluate_async(R"JS((async () => {
    const submitted = await fetch('/v1/jobs', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify()JS" + job.dump() +
                                          R"JS()});
    const job = await submitted.json();
    whep.submittedAt = performance.now() - whep.t0;
    const answer = await whep.post('/v1/jobs/' + job.id + '/whep');
    return Object.assign(answer, {job: job.id});
  })())JS");
  ASSERT_EQ(opened["status"], 201) << opened.dump();
  ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"played\"}", 1, 120s))
      << "the session did not play out";
  EXPECT_GT(metric(fleet, "gpufleet_webrtc_sent_bytes_total"), 1000);
  const json finished = fleet.wait_job(opened["job"], 30);
  EXPECT_EQ(finished["state"], "succeeded");
  const auto first_audible = page.evaluate("whep.firstAudible");
  const double submitted_at = page.evaluate("whep.submittedAt").get<double>();
  std::cout << "xtts (golden, CPU): submit to first audible audio "
            << (first_audible.is_number() ? std::to_string(first_audible.get<double>() - submitted_at) + " ms"
                                          : std::string("(nothing above the threshold)"))
            << "; the job ran "
            << finished.value("finished_at_ms", 0.0) - finished.value("started_at_ms", 0.0) << " ms\n";
  EXPECT_TRUE(first_audible.is_number()) << "nothing audible";
}

// The client vanishes mid-stream (its peer connection closed, as when a tab closes): the session ends and
// its slot and table entry go, without waiting for the rest of the audio.
TEST(Whep, AClientThatVanishesMidStreamEndsItsSession) {
  const auto [alice, alice_line] = ApiKeys::generate("alice");
  Fleet fleet(FleetOptions{1, "espeak", 1, {{"API_KEYS", alice_line}}});
  TempDir dir;
  HeadlessChromium page(page_url(fleet), dir.path(), webrtc_browser_flags());
  load_client(page);
  std::string text;
  for (int i = 0; i < 12; ++i) text += "This long sentence keeps the session busy for a while. ";
  const auto opened = page.evaluate_async(R"JS((async () => {
    const auth = {'Authorization': 'Bearer )JS" +
                                          alice + R"JS('};
    const submitted = await fetch('/v1/jobs', {method: 'POST', headers: Object.assign({'Content-Type': 'application/json'}, auth),
      body: JSON.stringify({input: {text: ')JS" +
                                          text + R"JS('}})});
    const job = await submitted.json();
    return await whep.post('/v1/jobs/' + job.id + '/whep', auth);
  })())JS");
  ASSERT_EQ(opened["status"], 201) << opened.dump();
  ASSERT_TRUE(page.wait_for("whep.firstAudible !== null", 15s));
  const auto closed_at = std::chrono::steady_clock::now();
  page.evaluate("whep.pc.close(), true");
  ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions", 0, 60s));
  const auto took = std::chrono::steady_clock::now() - closed_at;
  std::cout << "session ended " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the client left\n";
  EXPECT_LT(took, 5s) << "the session outlived its client";
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"peer_gone\"}"), 1);
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"played\"}"), 0);
}

// A live session (POST /v1/sessions/whep): three utterances sent over the data channel are spoken in order on
// one track, each reported (queued, speaking, spoken) and heard while it is reported speaking; a cancel cuts
// the second mid-speech (silence in the browser within 200 ms, its job cancelled) and the third is still
// spoken; a message that is not JSON and a job the fleet refuses are answered as errors on the channel.
TEST(Whep, ALiveSessionSpeaksMessagesInOrderAndCancelCutsTheCurrentOne) {
  const auto [alice, alice_line] = ApiKeys::generate("alice");
  Fleet fleet(FleetOptions{1, "espeak", 1, {{"API_KEYS", alice_line}}});
  TempDir dir;
  HeadlessChromium page(page_url(fleet), dir.path(), webrtc_browser_flags());
  load_client(page);
  const auto opened =
      page.evaluate_async("whep.post('/v1/sessions/whep', {'Authorization': 'Bearer " + alice + "'}, true)");
  ASSERT_EQ(opened["status"], 201) << opened.dump();
  EXPECT_NE(opened["body"].get<std::string>().find("m=application "), std::string::npos);

  // Events received so far, as [ms, parsed JSON].
  auto events = [&page] {
    std::vector<std::pair<double, json>> out;
    for (const auto& message : page.evaluate("whep.messages"))
      out.emplace_back(message[0].get<double>(), json::parse(message[1].get<std::string>()));
    return out;
  };
  auto find_event = [&](const std::string& kind, const std::string& id) -> std::optional<double> {
    for (const auto& [t, event] : events())
      if (event.value("event", "") == kind && event.value("id", "") == id) return t;
    return std::nullopt;
  };
  auto wait_event = [&](const std::string& kind, const std::string& id, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto t = find_event(kind, id)) return t;
      std::this_thread::sleep_for(50ms);
    }
    return std::optional<double>();
  };
  auto say = [&](const json& message) {
    return page.evaluate_async("whep.send(" + json(message.dump()).dump() + ")");
  };
  auto loudest = [&](double from, double to) {
    double peak = 0;
    for (const auto& sample : page.evaluate("whep.levels")) {
      const double t = sample[0].get<double>();
      if (t >= from && t <= to) peak = std::max(peak, sample[1].get<double>());
    }
    return peak;
  };

  say({{"text", "Good morning, this is the first utterance."}, {"id", "first"}});
  std::string long_text;
  for (int i = 0; i < 8; ++i)
    long_text += "The second utterance goes on and on, so that it can be cut in the middle. ";
  say({{"text", long_text}, {"id", "second"}});
  say("not json");
  say({{"text", "x"}, {"model", "no-such-model"}, {"id", "refused"}});

  const auto first_speaking = wait_event("speaking", "first", 20s);
  const auto first_spoken = wait_event("spoken", "first", 20s);
  ASSERT_TRUE(first_speaking && first_spoken) << json(events()).dump();
  EXPECT_GT(loudest(*first_speaking, *first_spoken + 300), 0.05) << "the first utterance was not heard";
  const auto second_speaking = wait_event("speaking", "second", 20s);
  ASSERT_TRUE(second_speaking);
  EXPECT_GT(*second_speaking, *first_spoken);
  std::this_thread::sleep_for(1500ms);  // well into the second utterance
  const double cancel_at = say({{"cancel", true}}).get<double>();
  ASSERT_TRUE(wait_event("cancelled", "second", 5s)) << json(events()).dump();
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(find_event("spoken", "second").has_value()) << "a cancelled utterance is not reported spoken";
  say({{"text", "And the third one still follows."}, {"id", "third"}});
  const auto third_spoken = wait_event("spoken", "third", 20s);
  ASSERT_TRUE(third_spoken) << json(events()).dump();
  const auto third_speaking = find_event("speaking", "third");
  ASSERT_TRUE(third_speaking);
  EXPECT_GT(loudest(*third_speaking, *third_spoken + 300), 0.05) << "the third utterance was not heard";

  // The cut: the second utterance was loud before the cancel and fell silent for good (longer than any
  // pause espeak makes between sentences, about 320 ms) within 200 ms of it. A level is the RMS of the
  // analyser's window ending at its time, so the first silent one says the sound stopped by the window's
  // start.
  EXPECT_GT(loudest(cancel_at - 1000, cancel_at), 0.05);
  const double window_ms = page.evaluate("whep.levelWindowMs").get<double>();
  ASSERT_GT(window_ms, 0);
  ASSERT_LT(window_ms, 100);
  std::vector<std::pair<double, double>> series;
  for (const auto& sample : page.evaluate("whep.levels"))
    series.emplace_back(sample[0].get<double>(), sample[1].get<double>());
  std::optional<double> cut;
  for (size_t i = 0; i < series.size() && !cut; ++i) {
    if (series[i].first < cancel_at || series[i].second >= 0.01) continue;
    bool sustained = true;
    for (size_t j = i; j < series.size() && series[j].first < series[i].first + 600; ++j)
      sustained = sustained && series[j].second < 0.01;
    if (sustained) cut = series[i].first - window_ms;
  }
  ASSERT_TRUE(cut.has_value()) << "the second utterance was not cut";
  std::cout << "live session: cancel sent to silence " << *cut - cancel_at << " ms (first silent level "
            << *cut + window_ms - cancel_at << " ms, its window " << window_ms << " ms)\n";
  EXPECT_LT(*cut - cancel_at, 200);

  // The errors, on the channel.
  size_t errors = 0;
  for (const auto& [t, event] : events()) {
    if (event.value("event", "") != "error") continue;
    ++errors;
    EXPECT_TRUE(event.contains("code") && event.contains("message")) << event.dump();
  }
  EXPECT_EQ(errors, 2u) << json(events()).dump();
  EXPECT_EQ(find_event("error", "refused").has_value(), true);
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions_opened_total{kind=\"live\"}"), 1);

  // A live session ends with its peer.
  page.evaluate("whep.pc.close(), true");
  EXPECT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions", 0, 10s));
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Trickle ICE: the page POSTs its offer before it has gathered a candidate, then PATCHes each candidate to
// the session as it comes and a=end-of-candidates last (each answered 204), and hears the speech. Guards the
// PATCH route end to end: the fragment reaches the session's ICE agent without breaking the session.
TEST(Whep, AClientThatTricklesItsCandidatesIsHeard) {
  Fleet fleet(FleetOptions{1, "espeak", 1, {}});
  TempDir dir;
  HeadlessChromium page(page_url(fleet), dir.path(), webrtc_browser_flags());
  load_client(page);
  const auto opened = page.evaluate_async(R"JS((async () => {
    const submitted = await fetch('/v1/jobs', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({input: {text: 'Candidates came one by one, and the speech still arrived.'}})});
    const job = await submitted.json();
    return await whep.postTrickle('/v1/jobs/' + job.id + '/whep', {});
  })())JS");
  ASSERT_EQ(opened["status"], 201) << opened.dump();
  EXPECT_EQ(opened["candidatesInOffer"], 0) << "the offer was meant to go before any candidate";
  const auto& patches = opened["patches"];
  ASSERT_GE(patches.size(), 2u) << "no candidate was gathered: " << opened.dump();
  for (const auto& status : patches) EXPECT_EQ(status, 204) << opened.dump();
  ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"played\"}", 1, 30s))
      << "the session did not play out; page state: " << page.evaluate("whep.state");
  std::this_thread::sleep_for(400ms);
  EXPECT_TRUE(page.evaluate("whep.firstAudible").is_number()) << "nothing heard";
  std::cout << "trickle ICE: " << patches.size() - 1 << " candidates PATCHed after the offer\n";
}

// Both sides behind NAT, as docs/webrtc.md's coturn section sets it up: the browser may only use relayed
// candidates (iceTransportPolicy "relay", as a client whose UDP reaches nothing but the TURN server), and the
// gateway has the same TURN server in WEBRTC_TURN_SERVERS. The gateway's answer carries a relayed candidate
// of its own, the Link header names the relay with its credentials, ICE selects a pair whose browser side is
// relayed, and the speech is heard through coturn. Guards the TURN settings from the environment to libnice
// and the relay path end to end.
TEST(Whep, ABrowserThatOnlyReachesATurnRelayHearsTheJob) {
  TempDir dir;
  TurnServer turn(dir.path());
  const std::string relay = "127.0.0.1:" + std::to_string(turn.port());
  Fleet fleet(FleetOptions{1,
                           "espeak",
                           1,
                           {{"WEBRTC_TURN_SERVERS", std::string("turn://") + TurnServer::kUser + ":" +
                                                        TurnServer::kPassword + "@" + relay}}});
  HeadlessChromium page(page_url(fleet), dir.path(), webrtc_browser_flags());
  load_client(page);
  page.evaluate("whep.config = {iceTransportPolicy: 'relay', iceServers: [{urls: 'turn:" + relay +
                "', username: '" + TurnServer::kUser + "', credential: '" + TurnServer::kPassword +
                "'}]}, true");
  const auto opened = page.evaluate_async(R"JS((async () => {
    const submitted = await fetch('/v1/jobs', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({input: {text: 'Every packet of this sentence went through the relay.'}})});
    const job = await submitted.json();
    return await whep.post('/v1/jobs/' + job.id + '/whep', {});
  })())JS");
  ASSERT_EQ(opened["status"], 201) << opened.dump() << "\n" << turn.log();
  const std::string offer = opened["offer"], answer = opened["body"];
  EXPECT_NE(offer.find("typ relay"), std::string::npos) << "the browser got no relayed candidate:\n" << offer;
  EXPECT_EQ(offer.find("typ host"), std::string::npos) << "relay-only, yet a host candidate:\n" << offer;
  EXPECT_NE(answer.find("typ relay"), std::string::npos)
      << "the gateway's answer has no relayed candidate of its own:\n"
      << answer << "\n"
      << turn.log();
  EXPECT_NE(opened["link"].get<std::string>().find("<turn:" + relay + ">; rel=\"ice-server\"; username=\"" +
                                                   std::string(TurnServer::kUser) + "\""),
            std::string::npos)
      << opened["link"];

  ASSERT_TRUE(page.wait_for("whep.firstAudible !== null", 20s))
      << "nothing heard through the relay; state " << page.evaluate("whep.state") << "\n"
      << turn.log();
  const auto pair = page.evaluate_async("whep.selectedPair()");
  ASSERT_TRUE(pair.is_object()) << pair.dump();
  EXPECT_EQ(pair["local"], "relay") << pair.dump();
  ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"played\"}", 1, 30s))
      << "the session did not play out; page state: " << page.evaluate("whep.state");
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions"), 0);
  std::cout << "through TURN: selected pair " << pair.dump() << "\n";
}

// A video job (text to a talking head: espeak, then the portrait model) watched in the browser over WHEP:
// the page submits the job and at once offers to receive audio and video; once the job has finished its MP4
// goes out as VP8 and Opus in real time. The page sees the job's frames at its frame rate, the mouth region
// of the face (the box the job's result states) changing more than the picture's corners, and hears the
// speech. Also: a video job refuses an offer that receives no video. Guards the video path end to end: the
// kind check, the wait for the job, the result file's resolution and the session's video track.
TEST(Whep, ABrowserWatchesAVideoJobsTalkingHead) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {}});
  if (json::parse(fleet.get("/health").body)["models"]["video"] != true)
    GTEST_SKIP() << "this build has no video models (GPUFLEET_VIDEO=OFF)";
  auto image = fleet.post(
      "/v1/files", read_bytes(std::string(std::getenv("GPUFLEET_SOURCE_DIR")) + "/tests/data/astronaut.png"),
      "image/png");
  ASSERT_EQ(image.status, 201) << image.body;
  const std::string portrait = json::parse(image.body)["reference_image"];
  TempDir dir;
  HeadlessChromium page(page_url(fleet), dir.path(), webrtc_browser_flags());
  load_client(page);
  const json job_body = {{"kind", "video"},
                         {"input",
                          {{"text", "Mama made my mom a map. We walked home along the water."},
                           {"reference_image", portrait},
                           {"size", 256}}}};
  const auto opened = page.evaluate_async(R"JS((async () => {
    const submitted = await fetch('/v1/jobs', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify()JS" + job_body.dump() +
                                          R"JS()});
    const job = await submitted.json();
    whep.submittedAt = whep.now();
    const answer = await whep.post('/v1/jobs/' + job.id + '/whep', {}, false, true);
    return Object.assign(answer, {job: job.id});
  })())JS");
  ASSERT_EQ(opened["status"], 201) << opened.dump();
  EXPECT_NE(opened["body"].get<std::string>().find("VP8/90000"), std::string::npos);
  const std::string id = opened["job"];

  ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"played\"}", 1, 90s))
      << "the session did not play out; page state: " << page.evaluate("whep.state");
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions_opened_total{kind=\"video\"}"), 1);
  std::this_thread::sleep_for(500ms);
  auto job = fleet.wait_job(id, 10);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  const auto& result = job["result"];
  const double width = result["width"], height = result["height"];
  const size_t job_frames = result["frames"];

  const auto frames = page.evaluate("whep.frames");
  ASSERT_TRUE(frames.is_array() && frames.size() > 10) << "no video shown: " << frames.dump();
  const double span_ms = frames.back()[0].get<double>() - frames.front()[0].get<double>();
  const double rate = 1000.0 * static_cast<double>(frames.size() - 1) / span_ms;
  EXPECT_EQ(frames.back()[1].get<double>(), width);
  EXPECT_EQ(frames.back()[2].get<double>(), height);
  EXPECT_GE(frames.size(), job_frames * 8 / 10) << "of the job's " << job_frames << " frames";
  EXPECT_GT(rate, 20);
  EXPECT_LT(rate, 30);

  // The mouth: the lower part of the face box, its middle half; the corners: 3x3 cells at each.
  const auto& face = result["face"];
  const double fx = face[0], fy = face[1], fw = face[2], fh = face[3];
  auto cell_of = [&](double x, double y) {
    return static_cast<int>(y / height * 16) * 16 + static_cast<int>(x / width * 16);
  };
  std::set<int> mouth, corners;
  for (double y = fy + 0.65 * fh; y < fy + 0.95 * fh; y += height / 32)
    for (double x = fx + 0.3 * fw; x < fx + 0.7 * fw; x += width / 32) mouth.insert(cell_of(x, y));
  for (int cy : {0, 1, 2, 13, 14, 15})
    for (int cx : {0, 1, 2, 13, 14, 15}) corners.insert(cy * 16 + cx);
  for (int cell : mouth) corners.erase(cell);
  double mouth_change = 0, corner_change = 0;
  size_t samples = 0;
  for (const auto& sample : page.evaluate("whep.motion")) {
    const auto& cells = sample[1];
    for (int cell : mouth) mouth_change += cells[static_cast<size_t>(cell)].get<double>() / mouth.size();
    for (int cell : corners) corner_change += cells[static_cast<size_t>(cell)].get<double>() / corners.size();
    ++samples;
  }
  ASSERT_GT(samples, 10u);
  mouth_change /= static_cast<double>(samples);
  corner_change /= static_cast<double>(samples);
  // Lip sync: a browser synchronises the tracks of one media stream; the answer names none (no a=msid), and
  // Chromium puts both in one stream then.
  const auto tracks = page.evaluate("whep.tracks");
  ASSERT_EQ(tracks.size(), 2u) << tracks.dump();
  ASSERT_EQ(tracks[0][1].size(), 1u) << tracks.dump();
  EXPECT_EQ(tracks[0][1], tracks[1][1]) << "picture and sound in different streams: " << tracks.dump();
  const auto first_audible = page.evaluate("whep.firstAudible");
  ASSERT_TRUE(first_audible.is_number()) << "the speech was not heard";
  const double submitted_at = page.evaluate("whep.submittedAt").get<double>();
  std::cout << "video job over WebRTC: " << frames.size() << " of " << job_frames << " frames shown at "
            << rate << " a second; after submit: first frame "
            << frames.front()[0].get<double>() - submitted_at << " ms, first audible "
            << first_audible.get<double>() - submitted_at << " ms; mean change per 100 ms: mouth "
            << mouth_change << ", corners " << corner_change << " (grey levels)\n";
  EXPECT_GT(mouth_change, 1.0) << "the mouth does not move";
  EXPECT_GT(mouth_change, 2 * corner_change) << "the change is not the mouth's";

  // An offer without video cannot carry a video job.
  const std::string audio_only = page.evaluate_async("whep.offer()").get<std::string>();
  auto refused =
      fleet.request("POST", "/v1/jobs/" + id + "/whep", audio_only, {{"Content-Type", "application/sdp"}});
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("VP8"), std::string::npos) << refused.body;

  // Guards against a wait left behind by each session that ends before its video job does: opening and
  // deleting sessions on a job that cannot finish (no broker runs) must not pile up waits in the gateway.
  // The job stays at its speech stage, and its sessions are video sessions all the same (they were speech
  // sessions, with the video section inactive, while a text-to-video job spoke).
  fleet.stack().stop_broker(SIGTERM);
  auto queued = fleet.post("/v1/jobs", job_body.dump());
  ASSERT_EQ(queued.status, 202) << queued.body;
  const std::string queued_id = json::parse(queued.body)["id"];
  const std::string video_offer = page.evaluate_async("whep.offer(false, true)").get<std::string>();
  ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions", 0, 5s));
  const double waiters_before = metric(fleet, "gpufleet_gateway_job_waiters");
  for (int round = 0; round < 3; ++round) {
    auto session = fleet.request("POST", "/v1/jobs/" + queued_id + "/whep", video_offer,
                                 {{"Content-Type", "application/sdp"}});
    ASSERT_EQ(session.status, 201) << session.body << video_offer;
    EXPECT_EQ(metric(fleet, "gpufleet_gateway_job_waiters"), waiters_before + 1) << "the session waits";
    EXPECT_EQ(fleet.request("DELETE", session.headers["location"], "", {}).status, 200);
    ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions", 0, 5s));
  }
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions_opened_total{kind=\"video\"}"), 4);
  EXPECT_TRUE(wait_metric(fleet, "gpufleet_gateway_job_waiters", waiters_before, 2s))
      << "ended sessions left " << metric(fleet, "gpufleet_gateway_job_waiters") - waiters_before
      << " waits behind";
}

TEST(Whep, HostileOffersJobsAndSessionsAreRefusedAndUnconnectedSessionsAreReaped) {
  const auto [alice, alice_line] = ApiKeys::generate("alice");
  const auto [bob, bob_line] = ApiKeys::generate("bob");
  Fleet fleet(FleetOptions{1,
                           "espeak",
                           1,
                           {{"API_KEYS", alice_line + ";" + bob_line},
                            {"WEBRTC_MAX_SESSIONS_PER_KEY", "1"},
                            {"WEBRTC_CONNECT_TIMEOUT_MS", "2000"}}});
  TempDir dir;
  HeadlessChromium page(page_url(fleet), dir.path(), webrtc_browser_flags());
  load_client(page);
  // A real browser offer, never answered back to the browser: its ICE never connects.
  const std::string offer = page.evaluate_async("whep.offer()").get<std::string>();

  auto as = [&fleet](const std::string& token, const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& type = "application/sdp") {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + token}};
    if (!type.empty()) headers["Content-Type"] = type;
    return fleet.request(method, target, body, headers);
  };
  auto code_of = [](const cli::HttpResult& result) {
    auto body = json::parse(result.body, nullptr, false);
    return body.is_object() && body.contains("error") ? body["error"].value("code", "") : "(not an error)";
  };
  auto created = as(alice, "POST", "/v1/jobs", R"({"model":"espeak","input":{"text":"Alice speaks."}})",
                    "application/json");
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string alices = json::parse(created.body)["id"];
  const std::string whep = "/v1/jobs/" + alices + "/whep";

  auto wrong_type = as(alice, "POST", whep, offer, "text/plain");
  EXPECT_EQ(wrong_type.status, 415) << wrong_type.body;
  auto not_sdp = as(alice, "POST", whep, "hello");
  EXPECT_EQ(not_sdp.status, 400);
  EXPECT_EQ(code_of(not_sdp), "invalid_sdp");
  std::string video_only = std::regex_replace(offer, std::regex("m=audio"), "m=video");
  auto no_audio = as(alice, "POST", whep, video_only);
  EXPECT_EQ(no_audio.status, 400);
  EXPECT_EQ(code_of(no_audio), "invalid_sdp");
  EXPECT_NE(no_audio.body.find("no audio section"), std::string::npos) << no_audio.body;
  auto binary = as(alice, "POST", whep, std::string("v=0\r\n\xff\xfe\r\n", 9));
  EXPECT_EQ(code_of(binary), "invalid_sdp");
  EXPECT_EQ(as(alice, "POST", "/v1/jobs/0123456789abcdef0123456789abcdef/whep", offer).status, 404);
  EXPECT_EQ(as(bob, "POST", whep, offer).status, 404) << "bob reached alice's job";
  EXPECT_EQ(fleet.request("POST", whep, offer, {{"Content-Type", "application/sdp"}}).status, 401);

  // A live session needs a data channel in its offer.
  auto no_channel = as(alice, "POST", "/v1/sessions/whep", offer);
  EXPECT_EQ(no_channel.status, 400) << no_channel.body;
  EXPECT_NE(no_channel.body.find("data channel"), std::string::npos) << no_channel.body;

  // Alice's one session; a second is refused while it is open.
  auto first = as(alice, "POST", whep, offer);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.headers["content-type"], "application/sdp");
  const std::string location = first.headers["location"];
  auto second = as(alice, "POST", whep, offer);
  EXPECT_EQ(second.status, 429);
  EXPECT_EQ(code_of(second), "too_many_sessions");
  EXPECT_EQ(as(bob, "DELETE", location, "", "").status, 404) << "bob ended alice's session";
  // Trickle ICE: the owner's fragment is taken; another key's, another type, a bad candidate and an ICE
  // restart (other credentials) are not.
  const std::string fragment = "a=end-of-candidates\r\n";
  EXPECT_EQ(as(alice, "PATCH", location, fragment, "application/trickle-ice-sdpfrag").status, 204);
  EXPECT_EQ(as(bob, "PATCH", location, fragment, "application/trickle-ice-sdpfrag").status, 404);
  EXPECT_EQ(as(alice, "PATCH", location, fragment, "text/plain").status, 415);
  auto bad_candidate = as(alice, "PATCH", location, "a=candidate:1 1 udp 1 192.0.2.1 1 typ nonsense\r\n",
                          "application/trickle-ice-sdpfrag");
  EXPECT_EQ(bad_candidate.status, 400);
  EXPECT_EQ(code_of(bad_candidate), "invalid_sdp");
  auto restart = as(alice, "PATCH", location, "a=ice-ufrag:other\r\na=ice-pwd:otherpasswordotherpassword\r\n",
                    "application/trickle-ice-sdpfrag");
  EXPECT_EQ(restart.status, 422);
  EXPECT_EQ(code_of(restart), "ice_restart_unsupported");
  EXPECT_EQ(as(alice, "PUT", location, fragment, "application/trickle-ice-sdpfrag").status, 405);
  EXPECT_EQ(as(alice, "DELETE", "/v1/whep/../../etc/passwd", "", "").status, 404);

  // Its ICE never connects: reaped after WEBRTC_CONNECT_TIMEOUT_MS, counted, and the key's slot is free.
  ASSERT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"connect_timeout\"}", 1, 10s));
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_ice_failures_total"), 1);
  EXPECT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions", 0, 2s));
  EXPECT_EQ(as(alice, "DELETE", location, "", "").status, 404) << "a reaped session is gone";

  // Free again: another session, ended by its owner.
  auto third = as(alice, "POST", whep, offer);
  ASSERT_EQ(third.status, 201) << third.body;
  auto deleted = as(alice, "DELETE", third.headers["location"], "", "");
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions_ended_total{reason=\"deleted\"}", 1, 5s));
  EXPECT_TRUE(wait_metric(fleet, "gpufleet_webrtc_sessions", 0, 2s));
  EXPECT_EQ(metric(fleet, "gpufleet_webrtc_sessions_refused_total{reason=\"too_many_sessions\"}"), 1);

  // An offer that would also receive video, for a speech job: its audio is answered and the video declined
  // (it was refused as an audio section that could not be matched).
  const std::string audio_and_video = page.evaluate_async("whep.offer(false, true)").get<std::string>();
  auto both = as(alice, "POST", whep, audio_and_video);
  ASSERT_EQ(both.status, 201) << both.body;
  const auto video_at = both.body.find("m=video");
  ASSERT_NE(video_at, std::string::npos) << both.body;
  EXPECT_NE(both.body.find("a=inactive", video_at), std::string::npos) << both.body;
  EXPECT_EQ(both.body.find("a=inactive"), both.body.find("a=inactive", video_at)) << "audio declined";
  EXPECT_EQ(as(alice, "DELETE", both.headers["location"], "", "").status, 200);
}

}  // namespace
}  // namespace gpufleet::testing
