// gpufleet-xtts: runs the native XTTS-v2 engine on one text, for checking it against upstream.
//
//   gpufleet-xtts --model-dir DIR --text TEXT [--language en] --speaker-wav REF.wav
//                 [--greedy | --temperature T --top-k K --top-p P --repetition-penalty R --seed S]
//                 [--max-codes N] [--speed S] [--device auto|cpu|cuda] [--dtype float32|bfloat16|float16]
//                 [--tf32] [--step dynamic|fixed] [--cuda-graphs] --out OUT.wav [--dump DIR]
// An option it does not know, or one without its value, prints the usage and exits with status 2.
//
// --step dynamic (the default) decodes with a cache of its own, the reference path; fixed runs the text as
// the worker does, through a SpeechBatch on the fixed-shape step, and --cuda-graphs replays that step as a
// CUDA graph on CUDA (it implies --step fixed). Their dumps have no gpt.prefill_logits.
//
// --dtype sets the GPT's precision (see XttsEngine::load); the golden checks are float32.
// On CUDA the run is plain fp32 unless --tf32 is given: with TF32 (PyTorch's default for cuDNN convolutions)
// an H200 matched the codes exactly but the conditioning latent, logits and waveform only to ~5e-3.
//
// --dump writes DIR/xtts_dump.safetensors with ref.audio_22k, spk.embedding, cond.gpt_cond_latent, text.ids,
// gpt.prefill_logits and <mode>.codes/.latents/.wav (mode: greedy or sampled), named as in the golden set.
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "common/files.hpp"
#include "common/usage.hpp"
#include "common/wav.hpp"
#include "models/xtts/torch/engine.hpp"
#include "models/xtts/torch/tensors.hpp"

namespace {

using namespace gpufleet;

constexpr std::string_view kUsage =
    "usage: gpufleet-xtts --model-dir DIR --text TEXT [--language en] --speaker-wav REF.wav\n"
    "       [--greedy | --temperature T --top-k K --top-p P --repetition-penalty R --seed S]\n"
    "       [--max-codes N] [--speed S] [--device auto|cpu|cuda] [--dtype float32|bfloat16|float16]\n"
    "       [--tf32] [--step dynamic|fixed] [--cuda-graphs] --out OUT.wav [--dump DIR]\n"
    "  Runs the native XTTS-v2 engine on one text and writes OUT.wav; --dump DIR also writes every stage's\n"
    "  tensors to DIR/xtts_dump.safetensors, named as in the golden set.\n";

int usage(std::string_view why) {
  return usage_error("gpufleet-xtts", why, kUsage);
}

// The options that take a value.
const std::set<std::string> kValued{"--model-dir",   "--text",      "--language", "--speaker-wav",
                                    "--temperature", "--top-k",     "--top-p",    "--repetition-penalty",
                                    "--seed",        "--max-codes", "--speed",    "--device",
                                    "--dtype",       "--out",       "--dump",     "--step"};

}  // namespace

int main(int argc, char** argv) {
  if (asks_for_help(argc, argv)) return print_usage(kUsage);
  std::map<std::string, std::string> args;
  bool greedy = false;
  bool tf32 = false;
  bool cuda_graphs = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--tf32") {
      tf32 = true;
    } else if (flag == "--cuda-graphs") {
      cuda_graphs = true;
    } else if (flag == "--greedy") {
      greedy = true;
    } else if (kValued.count(flag) && i + 1 < argc) {
      args[flag.substr(2)] = argv[++i];
    } else {
      return usage(flag + (kValued.count(flag) ? " needs a value" : " is not an option"));
    }
  }
  for (const char* required : {"model-dir", "text", "speaker-wav", "out"}) {
    if (!args.count(required)) return usage(std::string("--") + required + " is required");
  }
  const std::string step = args.count("step") ? args["step"] : (cuda_graphs ? "fixed" : "dynamic");
  if (step != "dynamic" && step != "fixed") return usage("--step takes dynamic or fixed");
  if (cuda_graphs && step != "fixed") return usage("--cuda-graphs needs --step fixed");
  try {
    const std::string device_name = args.count("device") ? args["device"] : "auto";
    const torch::Device device =
        device_name == "cuda" || (device_name == "auto" && torch::cuda::is_available())
            ? torch::Device(torch::kCUDA)
            : torch::Device(torch::kCPU);
    at::globalContext().setAllowTF32CuDNN(tf32);
    at::globalContext().setAllowTF32CuBLAS(tf32);
    const auto started = std::chrono::steady_clock::now();
    const auto dtype = xtts::XttsEngine::dtype_named(args.count("dtype") ? args["dtype"] : "float32");
    if (!dtype) return usage("--dtype takes float32, bfloat16 or float16");
    auto engine = xtts::XttsEngine::load(args["model-dir"], device, *dtype);
    auto reference = read_file(args["speaker-wav"], 256u << 20);
    if (!reference) throw std::runtime_error("cannot read " + args["speaker-wav"]);
    const auto voice = engine->clone(*reference);
    xtts::SynthesisOptions options;
    options.greedy = greedy;
    if (args.count("max-codes")) options.max_codes = std::stoll(args["max-codes"]);
    if (args.count("seed")) options.seed = std::stoull(args["seed"]);
    if (args.count("speed")) options.speed = std::stod(args["speed"]);
    if (!greedy) {
      xtts::XttsGpt::Sampling sampling{engine->config().temperature, engine->config().top_k,
                                       engine->config().top_p, engine->config().repetition_penalty};
      if (args.count("temperature")) sampling.temperature = std::stod(args["temperature"]);
      if (args.count("top-k")) sampling.top_k = std::stoll(args["top-k"]);
      if (args.count("top-p")) sampling.top_p = std::stod(args["top-p"]);
      if (args.count("repetition-penalty"))
        sampling.repetition_penalty = std::stod(args["repetition-penalty"]);
      options.sampling = sampling;
    }
    const std::string language = args.count("language") ? args["language"] : "en";
    const auto loaded = std::chrono::steady_clock::now();
    xtts::Synthesis result;
    if (step == "dynamic") {
      result = engine->synthesize(args["text"], language, voice, options);
    } else {
      engine->set_decode_settings(xtts::DecodeSettings{true, cuda_graphs});
      auto batched = engine->synthesize_batch({{args["text"], language, &voice, options}});
      if (auto* error = std::get_if<std::exception_ptr>(&batched.front())) std::rethrow_exception(*error);
      result = std::get<xtts::Synthesis>(std::move(batched.front()));
    }
    const auto done = std::chrono::steady_clock::now();

    auto samples =
        (result.wav.to(torch::kCPU).clamp(-1.0, 1.0) * 32767.0).round().to(torch::kInt16).contiguous();
    std::vector<int16_t> pcm(samples.data_ptr<int16_t>(), samples.data_ptr<int16_t>() + samples.numel());
    write_file_atomically(args["out"],
                          encode_wav_pcm16(pcm, static_cast<uint32_t>(engine->config().output_sample_rate)));
    if (args.count("dump")) {
      const std::string mode = greedy ? "greedy" : "sampled";
      xtts::TensorMap dump{{"ref.audio_22k", xtts::to_owned(voice.audio_22k)},
                           {"spk.embedding", xtts::to_owned(voice.speaker_embedding)},
                           {"cond.gpt_cond_latent", xtts::to_owned(voice.gpt_cond_latent)},
                           {"text.ids", xtts::to_owned(result.text_ids)},
                           {mode + ".codes", xtts::to_owned(result.codes)},
                           {mode + ".latents", xtts::to_owned(result.latents)},
                           {mode + ".wav", xtts::to_owned(result.wav)}};
      if (result.prefill_logits.defined())
        dump.emplace("gpt.prefill_logits", xtts::to_owned(result.prefill_logits));
      xtts::write_safetensors(std::filesystem::path(args["dump"]) / "xtts_dump.safetensors", dump);
    }
    const double audio_s =
        static_cast<double>(pcm.size()) / static_cast<double>(engine->config().output_sample_rate);
    const double synth_s = std::chrono::duration<double>(done - loaded).count();
    std::printf("%s: %ld codes, %.2f s of audio in %.2f s (RTF %.3f, load %.2f s, device %s)\n",
                args["out"].c_str(), static_cast<long>(result.codes.size(1)), audio_s, synth_s,
                audio_s > 0 ? synth_s / audio_s : 0.0,
                std::chrono::duration<double>(loaded - started).count(), device.str().c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "gpufleet-xtts: %s\n", error.what());
    return 1;
  }
  return 0;
}
