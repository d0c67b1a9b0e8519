// gpufleet-webrtc-bench: how many WebRTC sessions one process holds with audio flowing, and what each costs.
// For each session count, headless Chromium (Debian's) opens that many peer connections that offer to
// receive audio; the egress (media/webrtc_egress) answers each and sends a tone paced in real time; once
// every session has sent its first packet, the process's CPU time (all its threads: the media thread and
// GStreamer's) is read over a window. The browser runs on the same machine and its CPU is not counted:
// compare rows of one run, not machines.
//   gpufleet-webrtc-bench [--sessions 1,8,32] [--seconds 5]

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json_text.hpp"
#include "common/usage.hpp"
#include "media/webrtc_egress.hpp"
#include "tests/media/webrtc_browser.hpp"
#include "tests/support/chromium.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace gpufleet;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kUsage =
    "usage: gpufleet-webrtc-bench [--sessions 1,8,32] [--seconds 5]\n"
    "  Opens each number of WebRTC sessions from headless Chromium (Debian's chromium), sends each a tone "
    "in\n"
    "  real time, and prints the answer time, how many sessions connected and received, this process's CPU\n"
    "  per session per second of audio, its threads and memory.\n";

constexpr const char* kBenchScript = R"JS(
window.bench = {pcs: []};
bench.offers = async (n) => {
  for (let i = 0; i < n; i++) {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('audio', {direction: 'recvonly'});
    await pc.setLocalDescription(await pc.createOffer());
    bench.pcs.push(pc);
  }
  await Promise.all(bench.pcs.map((pc) => new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, 3000);
  })));
  return bench.pcs.map((pc) => pc.localDescription.sdp);
};
bench.answer = async (i, sdp) => { await bench.pcs[i].setRemoteDescription({type: 'answer', sdp}); return true; };
bench.received = async () => {
  const out = [];
  for (const pc of bench.pcs) {
    let packets = 0;
    (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp') packets = s.packetsReceived; });
    out.push(packets);
  }
  return out;
};
bench.close = () => { bench.pcs.forEach((pc) => pc.close()); bench.pcs = []; return true; };
true
)JS";

std::string tone(int rate, double seconds) {
  std::string pcm;
  const int samples = static_cast<int>(rate * seconds);
  pcm.reserve(samples * 2);
  for (int i = 0; i < samples; ++i) {
    const auto value = static_cast<int16_t>(12000 * std::sin(2 * M_PI * 440.0 * i / rate));
    pcm.push_back(static_cast<char>(value & 0xFF));
    pcm.push_back(static_cast<char>((value >> 8) & 0xFF));
  }
  return pcm;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long status_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) return std::stol(line.substr(name.size() + 1));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (asks_for_help(argc, argv)) return print_usage(kUsage);
  auto parsed = parse_options(argc, argv, {"sessions", "seconds"});
  if (auto* error = std::get_if<std::string>(&parsed))
    return usage_error("gpufleet-webrtc-bench", *error, kUsage);
  const auto& values = std::get<ParsedOptions>(parsed).values;
  std::vector<int> counts{1, 8, 32};
  double seconds = 5;
  if (values.count("sessions")) {
    counts.clear();
    std::stringstream in(values.at("sessions"));
    std::string item;
    while (std::getline(in, item, ',')) {
      auto count = option_number(item, 1, 10000);
      if (!count) return usage_error("gpufleet-webrtc-bench", "--sessions takes counts like 1,8,32", kUsage);
      counts.push_back(static_cast<int>(*count));
    }
  }
  if (values.count("seconds")) {
    auto value = option_number(values.at("seconds"), 1, 3600);
    if (!value)
      return usage_error("gpufleet-webrtc-bench", "--seconds takes a number from 1 to 3600", kUsage);
    seconds = *value;
  }
  media::WebrtcConfig config;
  config.max_sessions = 100000;
  config.connect_timeout = 30s;
  media::WebrtcEgress egress(config, nullptr);
  if (auto why = egress.unavailable()) {
    std::cerr << "gpufleet-webrtc-bench: " << *why << "\n";
    return 1;
  }
  testing::TempDir dir;
  testing::HeadlessChromium browser("about:blank", dir.path(), testing::webrtc_browser_flags());
  browser.evaluate(kBenchScript);
  const long idle_threads = status_field("Threads");

  std::printf("%9s %10s %11s %12s %14s %9s %8s\n", "sessions", "answer ms", "connected", "receiving",
              "CPU ms/sess-s", "threads", "RSS MB");
  constexpr int kRate = 24000;
  for (int count : counts) {
    const auto offers = browser.evaluate_async("bench.offers(" + std::to_string(count) + ")");
    std::vector<std::shared_ptr<media::MediaSession>> sessions;
    std::vector<double> answer_ms;
    const std::string pcm = tone(kRate, seconds + 4);
    for (size_t i = 0; i < offers.size(); ++i) {
      auto offer = media::check_whep_offer(offers[i].get<std::string>());
      if (!std::holds_alternative<media::WhepOffer>(offer)) return 1;
      std::promise<media::OpenResult> promise;
      const auto start = Clock::now();
      egress.open(std::get<media::WhepOffer>(offer),
                  [&](media::OpenResult r) { promise.set_value(std::move(r)); });
      auto result = promise.get_future().get();
      answer_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      auto* answer = std::get_if<media::SessionAnswer>(&result);
      if (!answer) {
        std::cerr << "refused: " << std::get<media::EgressRefusal>(result).message << "\n";
        return 1;
      }
      answer->session->start_audio(kRate, 1);
      answer->session->push(pcm);
      answer->session->end_audio();
      browser.evaluate_async("bench.answer(" + std::to_string(i) + ", " + dump_json(answer->sdp) + ")");
      sessions.push_back(answer->session);
    }
    const auto deadline = Clock::now() + 20s;
    auto all_flowing = [&] {
      for (auto& session : sessions)
        if (!session->stats().first_packet_after) return false;
      return true;
    };
    while (!all_flowing() && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
    int connected = 0;
    for (auto& session : sessions) connected += session->stats().first_packet_after ? 1 : 0;
    const double cpu_before = cpu_seconds();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const double cpu = cpu_seconds() - cpu_before;
    const long threads = status_field("Threads") - idle_threads;
    const long rss_kb = status_field("VmRSS");
    const auto received = browser.evaluate_async("bench.received()");
    int receiving = 0;
    for (const auto& packets : received) receiving += packets.get<int>() > 0 ? 1 : 0;
    std::sort(answer_ms.begin(), answer_ms.end());
    std::printf("%9d %10.1f %11d %12d %14.2f %9ld %8.1f\n", count, answer_ms[answer_ms.size() / 2], connected,
                receiving, 1000 * cpu / (seconds * count), threads, rss_kb / 1024.0);
    std::fflush(stdout);
    for (auto& session : sessions) egress.close(session->id());
    browser.evaluate("bench.close()");
    const auto drained = Clock::now() + 10s;
    while (egress.open_sessions() > 0 && Clock::now() < drained) std::this_thread::sleep_for(50ms);
  }
  std::printf(
      "(answer ms: median from offer to answer; CPU: this process, all threads, per session per second of "
      "audio; threads: above the idle process)\n");
  return 0;
}
