// gpufleet-voice-bench: what dynamic batching buys a TorchScript (Piper-interface) voice. For each batch
// size, the same jobs (one English sentence each) run through the voice in batches of that size, the way a
// worker runs them when they arrive together; prints audio seconds produced per wall second and the time a
// job waits for its batch (p50, max) next to batch size 1. The voice's weights are random (none can be
// downloaded): speed depends on shapes, not on weights.
//
//   gpufleet-voice-bench --voice DIR [--device cpu|cuda|cuda:N|mps] [--jobs N] [--batches 1,2,4,8]
//
// DIR holds voice.pt and voice.json; build one with
//   /usr/bin/python3 tests/models/make_vits_voice.py DIR --size medium
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/files.hpp"
#include "common/usage.hpp"
#include "models/piper/piper_voice.hpp"
#include "models/piper/vits_synthesizer.hpp"
#include "worker/torch_runtime.hpp"

namespace {

using namespace gpufleet;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kSentences{
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "She can scoop these things into three red bags, and we will go meet her Wednesday at the train station.",
    "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow.",
    "The rainbow is a division of white light into many beautiful colors.",
    "Thank you for calling; your appointment is confirmed for Tuesday at ten.",
};

struct Args {
  std::string voice;
  std::string device = "cpu";
  size_t jobs = 32;
  std::vector<uint32_t> batches{1, 2, 4, 8};
};

constexpr std::string_view kUsage =
    "usage: gpufleet-voice-bench --voice DIR [--device cpu|cuda|cuda:N|mps] [--jobs N] [--batches 1,2,4,8]\n"
    "  What dynamic batching buys a TorchScript (Piper-interface) voice: audio seconds per wall second and\n"
    "  the wait for a batch, per batch size. DIR holds voice.pt and voice.json; make one with\n"
    "  /usr/bin/python3 tests/models/make_vits_voice.py DIR --size medium\n";

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ConfigError(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--voice") {
      args.voice = value();
    } else if (flag == "--device") {
      args.device = value();
    } else if (flag == "--jobs") {
      args.jobs = std::stoul(value());
    } else if (flag == "--batches") {
      args.batches.clear();
      for (const auto& item : split_list(value()))
        args.batches.push_back(static_cast<uint32_t>(std::stoul(item)));
    } else {
      throw ConfigError("unknown option " + flag);
    }
  }
  if (args.voice.empty()) throw ConfigError("--voice DIR is required");
  if (args.jobs == 0 || args.batches.empty()) throw ConfigError("--jobs and --batches must not be empty");
  return args;
}

double percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (asks_for_help(argc, argv)) return print_usage(kUsage);
  Args args;
  try {
    args = parse(argc, argv);
  } catch (const std::exception& error) {  // ConfigError, or a number std::stoul cannot read
    return usage_error("gpufleet-voice-bench", error.what(), kUsage);
  }
  try {
    auto runtime = worker::load_torch_runtime();
    const auto config_text = read_file(args.voice + "/voice.json", 1 << 24);
    if (!config_text) throw ConfigError("cannot read " + args.voice + "/voice.json");
    const auto config = models::parse_piper_voice_config(*config_text);

    std::vector<models::ModelInput> inputs;
    for (size_t i = 0; i < args.jobs; ++i) {
      inputs.push_back(
          models::ModelInput{"job" + std::to_string(i), {{"text", kSentences[i % kSentences.size()]}}, {}});
    }
    std::printf("voice %s on %s, %zu jobs of one sentence each\n", args.voice.c_str(), args.device.c_str(),
                args.jobs);
    std::printf("%6s %12s %10s %14s %12s %12s %9s\n", "batch", "audio_s", "wall_s", "audio_s/wall_s",
                "wait_p50_ms", "wait_max_ms", "speedup");
    double base_throughput = 0;
    for (uint32_t batch : args.batches) {
      models::PiperVoice voice("bench", config, runtime->load_vits(args.voice + "/voice.pt", args.device),
                               models::PiperVoiceOptions{batch, 0.0f});
      {  // warm-up: first-call allocations and TorchScript's profiling runs
        models::JobContext context;
        voice.run(inputs[0], context);
        voice.run(inputs[1], context);
      }
      std::vector<models::JobContext> contexts(inputs.size());
      std::vector<double> waits;
      double audio_s = 0;
      const auto start = Clock::now();
      for (size_t first = 0; first < inputs.size(); first += batch) {
        std::vector<models::BatchItem> items;
        for (size_t i = first; i < std::min(inputs.size(), first + batch); ++i)
          items.push_back({&inputs[i], &contexts[i]});
        // All jobs arrived at `start`: a job waits for every batch before its own and for its own.
        auto outcomes = voice.run_batch(items);
        const double waited = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        for (auto& outcome : outcomes) {
          if (outcome.error) std::rethrow_exception(outcome.error);
          audio_s += outcome.output->audio->duration_s();
          waits.push_back(waited);
        }
      }
      const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();
      const double throughput = audio_s / wall_s;
      if (base_throughput == 0) base_throughput = throughput;
      std::printf("%6u %12.1f %10.2f %14.2f %12.0f %12.0f %8.2fx\n", batch, audio_s, wall_s, throughput,
                  percentile(waits, 0.5), percentile(waits, 1.0), throughput / base_throughput);
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "gpufleet-voice-bench: %s\n", error.what());
    return 1;
  }
}
