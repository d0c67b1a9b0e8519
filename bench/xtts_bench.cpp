// gpufleet-xtts-bench: speed of the native XTTS-v2 engine at the real model size (GPT-2 30 x 1024, 16 heads;
// HiFi-GAN 512 channels) with random weights, since no weights can be downloaded. Prints a table:
// codes per second in the GPT decode loop, vocoder time, real-time factor, time to first audio.
//
//   gpufleet-xtts-bench [--device cpu|cuda] [--codes N] [--text-tokens T] [--runs R] [--batches 1,4,16]
//                       [--batch-codes N] [--arrivals N] [--arrival-gap S] [--dtype float32|bfloat16|float16]
//                       [--steps dynamic,fixed,graphs]
//
// Streaming is measured as the engine does it (StreamingVocoder, first audio after 8 codes); batching across
// requests with DecodeBatch at --batches (default 1,4,16), each sequence --batch-codes long, once per decode
// step kind in --steps (default all three; graphs only on CUDA): a cache per sequence, fixed-shape slots run
// eagerly, and the fixed-shape step replayed as a CUDA graph. Requests that
// arrive while others decode (--arrivals, default 6, one every --arrival-gap seconds, default a prefill and 4
// decode steps at batch 1; long and short by turns) are served twice: continuously (each joins between steps
// and is done when its own codes end, as the worker runs XTTS) and in static batches (whatever waits when the
// engine is free decodes to the end, and all of it is reported then), which is what a worker without joining
// does.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "common/usage.hpp"
#include "models/xtts/config.hpp"
#include "models/xtts/torch/decode_graph.hpp"
#include "models/xtts/torch/engine.hpp"
#include "models/xtts/torch/gpt.hpp"
#include "models/xtts/torch/hifigan.hpp"
#include "models/xtts/torch/tensors.hpp"
#include "models/xtts/torch/weights.hpp"
#include "models/xtts/torch_checkpoint.hpp"

namespace {

using namespace gpufleet::xtts;
using gpufleet::asks_for_help;
using gpufleet::parse_options;
using gpufleet::ParsedOptions;
using gpufleet::print_usage;
using gpufleet::usage_error;
using Clock = std::chrono::steady_clock;

void add(TensorMap& map, const std::string& name, std::vector<int64_t> shape, double scale,
         double offset = 0) {
  map[name] = to_owned(torch::randn(shape) * scale + offset);
}

// Every tensor the GPT and the vocoder read, at XTTS-v2's released sizes.
TensorMap full_size_weights(const XttsConfig& config) {
  torch::manual_seed(1234);
  TensorMap w;
  const int64_t d = config.gpt_n_model_channels;
  add(w, "gpt.text_embedding.weight", {config.gpt_number_text_tokens, d}, 0.02);
  add(w, "gpt.text_pos_embedding.emb.weight", {config.gpt_max_text_tokens + 2, d}, 0.02);
  add(w, "gpt.mel_embedding.weight", {config.gpt_num_audio_tokens, d}, 0.02);
  add(w, "gpt.mel_pos_embedding.emb.weight", {config.gpt_max_audio_tokens + 3, d}, 0.02);
  for (const std::string norm : {"gpt.final_norm", "gpt.gpt.ln_f"}) {
    add(w, norm + ".weight", {d}, 0, 1);
    add(w, norm + ".bias", {d}, 0);
  }
  add(w, "gpt.mel_head.weight", {config.gpt_num_audio_tokens, d}, 0.02);
  auto head_bias = torch::zeros({config.gpt_num_audio_tokens});
  head_bias[config.gpt_stop_audio_token] =
      -1e9;  // random weights must not stop early: every run makes N codes
  w["gpt.mel_head.bias"] = to_owned(head_bias);
  for (int64_t l = 0; l < config.gpt_layers; ++l) {
    const std::string p = "gpt.gpt.h." + std::to_string(l);
    for (const std::string norm : {".ln_1", ".ln_2"}) {
      add(w, p + norm + ".weight", {d}, 0, 1);
      add(w, p + norm + ".bias", {d}, 0);
    }
    add(w, p + ".attn.c_attn.weight", {d, 3 * d}, 0.02);
    add(w, p + ".attn.c_attn.bias", {3 * d}, 0);
    add(w, p + ".attn.c_proj.weight", {d, d}, 0.02);
    add(w, p + ".attn.c_proj.bias", {d}, 0);
    add(w, p + ".mlp.c_fc.weight", {d, 4 * d}, 0.02);
    add(w, p + ".mlp.c_fc.bias", {4 * d}, 0);
    add(w, p + ".mlp.c_proj.weight", {4 * d, d}, 0.02);
    add(w, p + ".mlp.c_proj.bias", {d}, 0);
  }
  const std::string v = "hifigan_decoder.waveform_decoder";
  const int64_t channels = 512;
  const std::vector<int64_t> kernels{16, 16, 4, 4};
  add(w, v + ".conv_pre.weight", {channels, config.decoder_input_dim, 7}, 0.01);
  add(w, v + ".conv_pre.bias", {channels}, 0);
  add(w, v + ".cond_layer.weight", {channels, config.d_vector_dim, 1}, 0.01);
  add(w, v + ".cond_layer.bias", {channels}, 0);
  int64_t resblock = 0;
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t in = channels >> i, out = channels >> (i + 1);
    const std::string up = v + ".ups." + std::to_string(i);
    add(w, up + ".weight_g", {in, 1, 1}, 0, 1);
    add(w, up + ".weight_v", {in, out, kernels[i]}, 0.05);
    add(w, up + ".bias", {out}, 0);
    add(w, v + ".conds." + std::to_string(i) + ".weight", {out, config.d_vector_dim, 1}, 0.01);
    add(w, v + ".conds." + std::to_string(i) + ".bias", {out}, 0);
    for (int64_t k : {3, 7, 11}) {
      const std::string r = v + ".resblocks." + std::to_string(resblock++);
      for (int64_t j = 0; j < 3; ++j) {
        for (const std::string convs : {".convs1.", ".convs2."}) {
          add(w, r + convs + std::to_string(j) + ".weight_g", {out, 1, 1}, 0, 0.5);
          add(w, r + convs + std::to_string(j) + ".weight_v", {out, out, k}, 0.05);
          add(w, r + convs + std::to_string(j) + ".bias", {out}, 0);
        }
      }
    }
  }
  add(w, v + ".conv_post.weight", {1, channels >> 4, 7}, 0.05);
  return w;
}

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

}  // namespace

constexpr std::string_view kUsage =
    "usage: gpufleet-xtts-bench [--device cpu|cuda] [--codes N] [--text-tokens T] [--runs R] [--batches "
    "1,4,16]\n"
    "                           [--batch-codes N] [--arrivals N] [--arrival-gap S]\n"
    "                           [--dtype float32|bfloat16|float16] [--steps dynamic,fixed,graphs]\n"
    "  Speed of the native XTTS-v2 engine at the released model's size with random weights: codes per "
    "second,\n"
    "  vocoder time, real-time factor, time to first audio, batched and continuous decoding (a table).\n";

int main(int argc, char** argv) {
  if (asks_for_help(argc, argv)) return print_usage(kUsage);
  auto parsed = parse_options(argc, argv,
                              {"device", "codes", "text-tokens", "runs", "batches", "batch-codes", "arrivals",
                               "arrival-gap", "dtype", "steps"});
  if (auto* why = std::get_if<std::string>(&parsed)) return usage_error("gpufleet-xtts-bench", *why, kUsage);
  auto args = std::get<ParsedOptions>(parsed).values;
  const torch::Device device(args.count("device") && args["device"] == "cuda" ? torch::kCUDA : torch::kCPU);
  const int64_t codes = args.count("codes") ? std::stoll(args["codes"]) : 100;
  const int64_t text_tokens = args.count("text-tokens") ? std::stoll(args["text-tokens"]) : 40;
  const int runs = args.count("runs") ? std::stoi(args["runs"]) : 2;
  torch::NoGradGuard no_grad;

  XttsConfig config;  // the released XTTS-v2 sizes are the defaults
  const auto built = Clock::now();
  auto weights = Weights::from_tensors(full_size_weights(config), device);
  const std::string dtype = args.count("dtype") ? args["dtype"] : "float32";
  const auto precision = XttsEngine::dtype_named(dtype);
  if (!precision) {
    return usage_error("gpufleet-xtts-bench", "--dtype must be float32, bfloat16 or float16", kUsage);
  }
  if (*precision != torch::kFloat32)
    weights.convert_matrices(XttsEngine::decode_weight_prefixes(), *precision);
  XttsGpt gpt(weights, config);
  HifiganDecoder vocoder(weights, config);
  const double build_s = std::chrono::duration<double>(Clock::now() - built).count();

  auto options = torch::TensorOptions().device(device);
  auto cond = torch::randn({1, 32, config.gpt_n_model_channels}, options) * 0.02;
  auto ids = torch::randint(3, 200, {1, text_tokens}, options.dtype(torch::kLong));
  auto speaker = torch::nn::functional::normalize(torch::randn({1, config.d_vector_dim, 1}, options),
                                                  torch::nn::functional::NormalizeFuncOptions().dim(1));

  // Reduced precision against float32 on the same random weights: the first code's logits and the codes.
  std::optional<double> logits_error;
  std::optional<int64_t> codes_agreeing;
  if (dtype != "float32") {
    const auto reference_weights = Weights::from_tensors(full_size_weights(config), device);
    XttsGpt reference(reference_weights, config);
    KvCache reference_cache, cache;
    const auto expected = reference.prefill(reference.prefix_embedding(cond, ids), reference_cache);
    const auto actual = gpt.prefill(gpt.prefix_embedding(cond, ids), cache);
    // In standard deviations of the float32 logits, the stop code's (a -1e9 bias here) left out.
    const auto spoken = [&](const torch::Tensor& logits) {
      return logits.slice(1, 0, config.gpt_stop_audio_token);
    };
    logits_error = ((spoken(actual) - spoken(expected)).abs().max() / spoken(expected).std()).item<double>();
    const auto expected_codes = reference.generate_greedy(cond, ids, codes);
    const auto actual_codes = gpt.generate_greedy(cond, ids, codes);
    int64_t same = 0;
    while (same < std::min(expected_codes.size(1), actual_codes.size(1)) &&
           expected_codes[0][same].item<int64_t>() == actual_codes[0][same].item<int64_t>()) {
      ++same;
    }
    codes_agreeing = same;
  }

  double best_gpt = 1e9, best_first = 1e9, best_tail = 1e9;
  int64_t made = 0;
  int64_t samples = 0;
  for (int run = 0; run <= runs; ++run) {  // run 0 warms up
    sync(device);
    const auto t0 = Clock::now();
    KvCache cache;
    gpt.prefill(gpt.prefix_embedding(cond, ids), cache);
    sync(device);
    const auto t_prefill = Clock::now();
    auto generated = gpt.generate_greedy(cond, ids, codes);
    sync(device);
    const auto t1 = Clock::now();
    auto latents = gpt.latents(cond, ids, generated);
    auto wav = vocoder.decode(latents, speaker);
    sync(device);
    const auto t2 = Clock::now();
    if (run == 0) continue;
    made = generated.size(1);
    samples = wav.numel();
    best_first = std::min(best_first, std::chrono::duration<double>(t_prefill - t0).count());
    best_gpt = std::min(best_gpt, std::chrono::duration<double>(t1 - t_prefill).count());
    best_tail = std::min(best_tail, std::chrono::duration<double>(t2 - t1).count());
  }
  // Streaming: the same codes, vocoded in windows while the GPT decodes (the engine's default schedule).
  double best_stream_first = 1e9, best_stream_total = 1e9;
  for (int run = 0; run <= runs; ++run) {
    sync(device);
    const auto t0 = Clock::now();
    std::optional<double> first_audio;
    StreamingVocoder streamer(vocoder, speaker);
    auto take = [&](const torch::Tensor& chunk) {
      if (chunk.numel() == 0) return;
      auto on_host = chunk.to(torch::kCPU);  // what a sink does with it; also waits for the device
      if (!first_audio) first_audio = std::chrono::duration<double>(Clock::now() - t0).count();
    };
    gpt.generate_greedy(cond, ids, codes, {},
                        [&](int64_t, const torch::Tensor& latent) { take(streamer.add(latent)); });
    take(streamer.finish());
    sync(device);
    if (run == 0) continue;
    best_stream_first = std::min(best_stream_first, first_audio.value_or(1e9));
    best_stream_total = std::min(best_stream_total, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  // Batching across requests: B sequences (different texts) through one DecodeBatch, each vocoded on its own.
  struct BatchRow {
    std::string step;
    int64_t batch = 0;
    double decode_s = 0, total_s = 0, audio_s = 0;
  };
  std::vector<BatchRow> batch_rows;
  std::string batch_list = args.count("batches") ? args["batches"] : "1,4,16";
  const int64_t batch_codes = args.count("batch-codes") ? std::stoll(args["batch-codes"]) : codes;
  std::vector<std::pair<std::string, DecodeSettings>> step_kinds;
  const std::string step_list = args.count("steps") ? args["steps"] : "dynamic,fixed,graphs";
  for (size_t at = 0; at < step_list.size();) {
    const size_t comma = std::min(step_list.find(',', at), step_list.size());
    const std::string kind = step_list.substr(at, comma - at);
    at = comma + 1;
    if (kind == "dynamic") {
      step_kinds.emplace_back(kind, DecodeSettings{false, false});
    } else if (kind == "fixed") {
      step_kinds.emplace_back(kind, DecodeSettings{true, false});
    } else if (kind == "graphs") {
      if (device.is_cuda() && DecodeGraph::available())
        step_kinds.emplace_back(kind, DecodeSettings{true, true});
    } else {
      return usage_error("gpufleet-xtts-bench", "--steps takes dynamic, fixed and graphs", kUsage);
    }
  }
  for (size_t at = 0; at < batch_list.size();) {
    const size_t comma = std::min(batch_list.find(',', at), batch_list.size());
    const int64_t size = std::stoll(batch_list.substr(at, comma - at));
    at = comma + 1;
    for (const auto& [step_kind, settings] : step_kinds) {
      sync(device);
      const auto t0 = Clock::now();
      DecodeBatch batch(gpt, config, settings);
      for (int64_t b = 0; b < size; ++b) {
        DecodeBatch::Request request;
        request.cond_latents = cond;
        request.text_ids = torch::randint(3, 200, {1, text_tokens}, options.dtype(torch::kLong));
        request.max_codes = batch_codes;
        batch.add(std::move(request));
      }
      while (batch.step()) {
      }
      sync(device);
      const auto t1 = Clock::now();
      int64_t batch_samples = 0;
      for (int64_t b = 0; b < size; ++b)
        batch_samples += vocoder.decode(batch.latents(static_cast<size_t>(b)), speaker).numel();
      sync(device);
      const auto t2 = Clock::now();
      batch_rows.push_back(
          {step_kind, size, std::chrono::duration<double>(t1 - t0).count(),
           std::chrono::duration<double>(t2 - t0).count(),
           static_cast<double>(batch_samples) / static_cast<double>(config.output_sample_rate)});
    }
  }

  // Requests arriving while others decode: latency from arrival to its audio, served continuously and in
  // static batches. Arrival times are fixed in advance, so both ways see the same load.
  const int64_t arrivals = args.count("arrivals") ? std::stoll(args["arrivals"]) : 6;
  const double step_s = best_gpt / static_cast<double>(std::max<int64_t>(made, 1));
  const double gap_s = args.count("arrival-gap") ? std::stod(args["arrival-gap"]) : best_first + 4 * step_s;
  const int64_t short_codes = std::max<int64_t>(batch_codes / 3, 1);
  struct ArrivalRow {
    std::string mode;
    double short_mean = 0, short_max = 0, long_mean = 0, long_max = 0, wall = 0;
    int64_t most_together = 0;
  };
  std::vector<ArrivalRow> arrival_rows;
  for (const bool continuous : {true, false}) {
    if (arrivals <= 0) break;
    std::vector<torch::Tensor> texts;
    for (int64_t i = 0; i < arrivals; ++i)
      texts.push_back(torch::randint(3, 200, {1, text_tokens}, options.dtype(torch::kLong)));
    auto length = [&](int64_t i) { return i % 2 == 0 ? batch_codes : short_codes; };
    std::vector<double> latency(static_cast<size_t>(arrivals), 0);
    sync(device);
    const auto t0 = Clock::now();
    auto now_s = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
    auto arrival_s = [&](int64_t i) { return static_cast<double>(i) * gap_s; };
    auto wait_for = [&](int64_t i) {
      const double wait = arrival_s(i) - now_s();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    };
    auto request = [&](int64_t i) {
      DecodeBatch::Request r;
      r.cond_latents = cond;
      r.text_ids = texts[static_cast<size_t>(i)];
      r.max_codes = length(i);
      return r;
    };
    ArrivalRow row{continuous ? "continuous (join between steps)" : "static batches (wait for the batch)"};
    int64_t next = 0;
    if (continuous) {
      DecodeBatch batch(gpt, config);
      std::map<size_t, int64_t> request_of;
      while (true) {
        if (batch.unfinished() == 0 && next < arrivals) wait_for(next);
        const double round_s = now_s();  // those that arrived by now; later ones join at the next round
        for (; next < arrivals && arrival_s(next) <= round_s; ++next)
          request_of[batch.add(request(next))] = next;
        row.most_together = std::max<int64_t>(row.most_together, static_cast<int64_t>(batch.unfinished()));
        if (batch.unfinished() == 0 && next == arrivals) break;
        batch.step();
        for (const size_t index : batch.take_finished()) {
          vocoder.decode(batch.latents(index), speaker);
          sync(device);
          const int64_t i = request_of.at(index);
          latency[static_cast<size_t>(i)] = now_s() - arrival_s(i);
          batch.release(index);
        }
      }
    } else {
      while (next < arrivals) {
        wait_for(next);
        DecodeBatch batch(gpt, config);
        std::vector<std::pair<size_t, int64_t>> members;
        const double taken_s = now_s();  // the batch is what waits now, as a worker takes it from its queue
        for (; next < arrivals && arrival_s(next) <= taken_s; ++next)
          members.emplace_back(batch.add(request(next)), next);
        row.most_together = std::max<int64_t>(row.most_together, static_cast<int64_t>(members.size()));
        while (batch.step()) {
        }
        for (const auto& [index, i] : members) vocoder.decode(batch.latents(index), speaker);
        sync(device);
        for (const auto& [index, i] : members) latency[static_cast<size_t>(i)] = now_s() - arrival_s(i);
      }
    }
    row.wall = now_s();
    int64_t shorts = 0, longs = 0;
    for (int64_t i = 0; i < arrivals; ++i) {
      const double l = latency[static_cast<size_t>(i)];
      if (length(i) == batch_codes) {
        row.long_mean += l;
        row.long_max = std::max(row.long_max, l);
        ++longs;
      } else {
        row.short_mean += l;
        row.short_max = std::max(row.short_max, l);
        ++shorts;
      }
    }
    row.long_mean /= static_cast<double>(std::max<int64_t>(longs, 1));
    row.short_mean /= static_cast<double>(std::max<int64_t>(shorts, 1));
    arrival_rows.push_back(row);
  }

  const double audio_s = static_cast<double>(samples) / static_cast<double>(config.output_sample_rate);
  const double total = best_gpt + best_tail;  // generate_greedy runs its own prefill
  std::printf(
      "gpufleet-xtts-bench: XTTS-v2 size (GPT %lld x %lld, %lld heads; HiFi-GAN 512), random weights, device "
      "%s, GPT in %s\n",
      static_cast<long long>(config.gpt_layers), static_cast<long long>(config.gpt_n_model_channels),
      static_cast<long long>(config.gpt_n_heads), device.str().c_str(), dtype.c_str());
  std::printf("(weights built in %.1f s; best of %d runs after a warm-up; batch 1)\n\n", build_s, runs);
  std::printf("| %-42s | %12s |\n|%s|%s|\n", "measure", "value", std::string(44, '-').c_str(),
              std::string(14, '-').c_str());
  std::printf("| %-42s | %12lld |\n", "text tokens", static_cast<long long>(text_tokens));
  std::printf("| %-42s | %12lld |\n", "audio codes generated", static_cast<long long>(made));
  std::printf("| %-42s | %12.2f |\n", "audio seconds", audio_s);
  std::printf("| %-42s | %12.1f |\n", "prefill (ms)", best_first * 1000);
  std::printf("| %-42s | %12.1f |\n", "GPT decode, codes per second", static_cast<double>(made) / best_gpt);
  std::printf("| %-42s | %12.1f |\n", "latent pass + HiFi-GAN (ms)", best_tail * 1000);
  std::printf("| %-42s | %12.3f |\n", "real-time factor (compute / audio)", total / audio_s);
  std::printf("| %-42s | %12.2f |\n", "time to first audio, whole decode (s)", total);
  std::printf("| %-42s | %12.2f |\n", "audio seconds per second, batch 1", audio_s / total);
  std::printf("| %-42s | %12.2f |\n", "streaming: time to first audio (s)", best_stream_first);
  std::printf("| %-42s | %12.3f |\n", "streaming: real-time factor", best_stream_total / audio_s);
  if (logits_error) {
    std::printf("| %-42s | %12.4f |\n", "first logits vs float32, max diff / std", *logits_error);
    std::printf("| %-42s | %5lld of %4lld |\n", "greedy codes equal to float32's, leading",
                static_cast<long long>(*codes_agreeing), static_cast<long long>(codes));
  }

  std::printf("\nbatching across requests (%lld codes each, one run each, prefill and vocoder included):\n\n",
              static_cast<long long>(batch_codes));
  std::printf(
      "| %-7s | %5s | %22s | %20s | %24s "
      "|\n|---------|-------|------------------------|----------------------|--------------------------|\n",
      "step", "batch", "GPT codes/s, all, w/ prefill", "wall for the batch s", "audio seconds per second");
  for (const auto& row : batch_rows) {
    std::printf(
        "| %-7s | %5lld | %22.1f | %20.2f | %24.3f |\n", row.step.c_str(), static_cast<long long>(row.batch),
        static_cast<double>(row.batch * batch_codes) / row.decode_s, row.total_s, row.audio_s / row.total_s);
  }
  if (!arrival_rows.empty()) {
    std::printf(
        "\n%lld requests arriving %.2f s apart, %lld and %lld codes by turns (latency: arrival to audio, "
        "s):\n\n",
        static_cast<long long>(arrivals), gap_s, static_cast<long long>(batch_codes),
        static_cast<long long>(short_codes));
    std::printf("| %-36s | %10s | %9s | %9s | %9s | %8s | %12s |\n|%s|%s|%s|%s|%s|%s|%s|\n", "serving",
                "short mean", "short max", "long mean", "long max", "wall s", "most at once",
                std::string(38, '-').c_str(), std::string(12, '-').c_str(), std::string(11, '-').c_str(),
                std::string(11, '-').c_str(), std::string(11, '-').c_str(), std::string(10, '-').c_str(),
                std::string(14, '-').c_str());
    for (const auto& row : arrival_rows) {
      std::printf("| %-36s | %10.2f | %9.2f | %9.2f | %9.2f | %8.2f | %12lld |\n", row.mode.c_str(),
                  row.short_mean, row.short_max, row.long_mean, row.long_max, row.wall,
                  static_cast<long long>(row.most_together));
    }
  }
  return 0;
}
