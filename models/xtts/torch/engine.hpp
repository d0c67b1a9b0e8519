#pragma once
// The XTTS-v2 engine end to end: loads a model folder (config.json, vocab.json, model.safetensors or
// model.pth), computes a voice from a reference recording, and speaks text in it, keeping every intermediate
// that `gpufleet-xtts --dump` writes and the golden checks compare.

#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "models/xtts/config.hpp"
#include "models/xtts/tokenizer.hpp"
#include "models/xtts/torch/gpt.hpp"
#include "models/xtts/torch/hifigan.hpp"
#include "models/xtts/torch/weights.hpp"

namespace gpufleet::xtts {

// A voice: what conditioning a speaker needs, computed once per reference and reusable.
struct Voice {
  torch::Tensor audio_22k;          // [1, samples], the reference as the model saw it
  torch::Tensor gpt_cond_latent;    // [1, latents, d]
  torch::Tensor speaker_embedding;  // [1, d_vector, 1]
};

// Receives each piece of streamed audio: CPU float samples in [-1, 1] at the output rate, in order.
using AudioSink = std::function<void(const torch::Tensor& samples)>;

struct SynthesisOptions {
  bool greedy = false;
  std::optional<XttsGpt::Sampling> sampling;  // default: the config's settings
  int64_t max_codes = 0;                      // 0: the config's limit
  std::optional<uint64_t> seed;
  // Upstream's `speed`: the latents are stretched by 1 / max(speed, 0.05) (linear) before the vocoder, on
  // every path; `Synthesis::latents` stay the GPT's own.
  double speed = 1.0;
  XttsGpt::StepHook on_step;  // before each code (see XttsGpt::generate_greedy)
  // Set: stream (StreamingVocoder: a window per chunk while the GPT still decodes). Latents then come from
  // the decode loop itself (no teacher-forced pass) and `wav` is what the sink was given, joined.
  AudioSink on_audio;
  StreamSchedule stream;
};

struct Synthesis {
  torch::Tensor text_ids;        // [T]
  torch::Tensor prefill_logits;  // [1, V]
  torch::Tensor codes;           // [1, n]
  torch::Tensor latents;         // [1, n, d]
  torch::Tensor wav;             // [samples] at config.output_sample_rate
};

class XttsEngine {
 public:
  // Throws ModelError for a missing or inconsistent model folder. `dtype` is the precision of the GPT's
  // weight matrices and their products (float32, bfloat16, or float16 on CUDA only: LibTorch's CPU matrix
  // products lack it); activations, norms, attention, the KV cache, logits and latents stay float32, as under
  // autocast. Conditioning, speaker encoder and vocoder run in float32 either way.
  static std::unique_ptr<XttsEngine> load(const std::filesystem::path& model_dir,
                                          torch::Device device = torch::kCPU,
                                          torch::ScalarType dtype = torch::kFloat32);
  // The precision a name stands for ("float32", "bfloat16", "float16", as the registry and the tools spell
  // it).
  static std::optional<torch::ScalarType> dtype_named(const std::string& name);
  // Where the GPT decode's weight matrices are, by name prefix: what a reduced precision converts.
  static const std::vector<std::string>& decode_weight_prefixes();

  // A WAV file (any encoding wav_decodable reads); mixed to mono, resampled to 22.05 kHz, clipped and cut at
  // max_ref_len.
  Voice clone(const std::string& wav_bytes) const;
  // Several references of one voice, as upstream takes a list: each cut to max_ref_len, the speaker
  // embeddings averaged, the GPT conditioned on the recordings joined. Throws ModelError(kInvalidInput).
  Voice clone(const std::vector<std::string>& references) const;
  Synthesis synthesize(const std::string& text, const std::string& language, const Voice& voice,
                       const SynthesisOptions& options) const;

  struct BatchRequest {
    std::string text;
    std::string language;
    const Voice* voice = nullptr;
    SynthesisOptions options;
  };
  using BatchResult = std::variant<Synthesis, std::exception_ptr>;
  class SpeechBatch;
  // Several texts at once through a SpeechBatch, all of them added before the first step. Each result is a
  // Synthesis or the exception that ended it (a step hook's, a text too long).
  std::vector<BatchResult> synthesize_batch(const std::vector<BatchRequest>& requests) const;

  const XttsConfig& config() const { return config_; }
  // How SpeechBatch decodes (fixed-shape slots by default; CUDA graphs where asked for and on CUDA). The
  // single-request synthesize() keeps the per-sequence cache, the reference path of the golden checks.
  void set_decode_settings(const DecodeSettings& settings) { decode_settings_ = settings; }
  const DecodeSettings& decode_settings() const { return decode_settings_; }

  // What identifies the voices this engine computes: its config and the weights of the conditioning
  // encoders, the perceiver and the speaker encoder (mel_stats too). A stored voice is used only by an
  // engine with the same fingerprint, so a retrained checkpoint never meets voices of the old one.
  const std::string& voice_fingerprint() const { return voice_fingerprint_; }
  // A voice as CPU tensors for storage ("gpt_cond_latent", "speaker_embedding"; not the reference audio).
  static TensorMap voice_tensors(const Voice& voice);
  // And back, on this engine's device. Throws ModelError when the tensors are missing, not float32, not
  // finite, or not of the shapes this model's weights produce.
  Voice voice_from_tensors(const TensorMap& tensors) const;

 private:
  XttsEngine() = default;
  // Upstream's text preparation and tokenization; throws for empty or too long text.
  torch::Tensor text_ids(const std::string& text, const std::string& language) const;
  // The most codes a request may draw, and its sampling (none: greedy), from its options and the config.
  // A reference recording as the encoders take it: mono, 22,050 Hz, clipped, cut to max_ref_len.
  torch::Tensor reference_audio(const std::string& wav_bytes) const;
  static constexpr int64_t kReferenceRate = 22050;
  int64_t code_limit(const SynthesisOptions& options) const;
  std::optional<XttsGpt::Sampling> sampling_of(const SynthesisOptions& options) const;
  // 1 / max(speed, 0.05), as upstream.
  static double length_scale(const SynthesisOptions& options);
  XttsConfig config_;
  std::unique_ptr<BpeTokenizer> tokenizer_;
  std::unique_ptr<Weights> weights_;
  std::unique_ptr<XttsGpt> gpt_;
  std::unique_ptr<HifiganDecoder> vocoder_;
  torch::Device device_ = torch::kCPU;
  DecodeSettings decode_settings_;
  std::string voice_fingerprint_;
};

// Speech decoded together as requests come and go (continuous batching): one DecodeBatch step for every
// unfinished request at a time, a request may join between steps, and each is vocoded as soon as its own
// codes end, so a short request never waits for a long one. A streamed request (options.on_audio) is vocoded
// a window at a time as its codes come, as synthesize() streams it. A seeded request draws from a generator
// of its own (XttsGpt::Sampling::seed), so it gets the codes it gets alone.
class XttsEngine::SpeechBatch {
 public:
  explicit SpeechBatch(const XttsEngine& engine);
  ~SpeechBatch();
  SpeechBatch(const SpeechBatch&) = delete;
  SpeechBatch& operator=(const SpeechBatch&) = delete;

  // Tokenizes and prefills a request; it draws its first code at the next step. Throws ModelError for text it
  // cannot speak. The request's voice must outlive its time in the batch.
  size_t add(const BatchRequest& request);
  // One code for every unfinished request. False when none is left.
  bool step();
  size_t unfinished() const { return decode_.unfinished(); }
  // The requests whose codes ended since the last call, vocoded: a Synthesis each (without prefill logits),
  // or the exception that ended it. Each request is answered once, and then forgotten.
  std::vector<std::pair<size_t, BatchResult>> take_finished();

 private:
  struct Member;
  const XttsEngine& engine_;
  DecodeBatch decode_;
  // By DecodeBatch index; held by pointer because the streaming hooks keep the address of a member's audio.
  std::map<size_t, std::unique_ptr<Member>> members_;
};

}  // namespace gpufleet::xtts
