#include "models/xtts/torch/engine.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/sha256.hpp"
#include "common/wav.hpp"
#include "models/xtts/torch/conditioning.hpp"
#include "models/xtts/torch/speaker.hpp"
#include "models/xtts/torch/tensors.hpp"
#include "models/xtts/torch_checkpoint.hpp"

namespace gpufleet::xtts {

namespace fs = std::filesystem;

namespace {

// Streamed audio on its way out: the windows a StreamingVocoder makes final as codes come, each handed to the
// sink as CPU float32 samples and kept for the result's whole waveform.
class AudioOut {
 public:
  AudioOut(const HifiganDecoder& vocoder, const torch::Tensor& speaker_embedding,
           const StreamSchedule& schedule, double length_scale, AudioSink sink)
      : streamer_(vocoder, speaker_embedding, schedule, length_scale), sink_(std::move(sink)) {}

  void add(const torch::Tensor& latent) { deliver(streamer_.add(latent)); }
  // No more codes: sends the rest and fills the synthesis's latents and waveform. Throws when no code came.
  void finish(Synthesis& synthesis) {
    if (streamer_.latent_count() == 0)
      throw ModelError(ErrorCode::kModelError, "the model produced no audio codes");
    deliver(streamer_.finish());
    synthesis.latents = streamer_.latents();
    synthesis.wav = torch::cat(sent_);
  }

 private:
  void deliver(const torch::Tensor& samples) {
    if (samples.numel() == 0) return;
    auto cpu = samples.to(torch::kCPU, torch::kFloat32).contiguous();
    sent_.push_back(cpu);
    sink_(cpu);
  }

  StreamingVocoder streamer_;
  AudioSink sink_;
  std::vector<torch::Tensor> sent_;
};

}  // namespace

std::optional<torch::ScalarType> XttsEngine::dtype_named(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  return std::nullopt;
}

const std::vector<std::string>& XttsEngine::decode_weight_prefixes() {
  // Embedding tables are left: a step reads one row of each.
  static const std::vector<std::string> prefixes{"gpt.gpt.h.", "gpt.mel_head."};
  return prefixes;
}

std::unique_ptr<XttsEngine> XttsEngine::load(const fs::path& model_dir, torch::Device device,
                                             torch::ScalarType dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16) {
    throw ModelError(ErrorCode::kModelError, "XTTS runs in float32, bfloat16 or float16");
  }
  if (dtype == torch::kFloat16 && !device.is_cuda()) {
    throw ModelError(ErrorCode::kModelError,
                     "float16 needs a CUDA device (LibTorch has no float16 matrix products on "
                     "the CPU); use bfloat16 or float32 there");
  }
  std::unique_ptr<XttsEngine> engine(new XttsEngine());
  engine->device_ = device;
  engine->config_ = XttsConfig::load(model_dir / "config.json");
  engine->tokenizer_ = std::make_unique<BpeTokenizer>(BpeTokenizer::load(model_dir / "vocab.json"));
  if (fs::exists(model_dir / "model.safetensors")) {
    engine->weights_ = std::make_unique<Weights>(
        Weights::from_safetensors(SafetensorsFile::open(model_dir / "model.safetensors"), device));
  } else if (fs::exists(model_dir / "model.pth")) {
    // Read directly; `gpufleet-xtts-convert` makes a safetensors file once, for faster starts.
    engine->weights_ = std::make_unique<Weights>(
        Weights::from_tensors(xtts_state_dict(read_torch_checkpoint(model_dir / "model.pth")), device));
  } else {
    throw ModelError(ErrorCode::kModelError, "no model.safetensors or model.pth in " + model_dir.string());
  }
  if (dtype != torch::kFloat32) engine->weights_->convert_matrices(decode_weight_prefixes(), dtype);
  engine->gpt_ = std::make_unique<XttsGpt>(*engine->weights_, engine->config_);
  engine->vocoder_ = std::make_unique<HifiganDecoder>(*engine->weights_, engine->config_);
  const auto config_text = read_file(model_dir / "config.json", 16u << 20);
  engine->voice_fingerprint_ =
      Sha256()
          .update(config_text.value_or(""))
          .update(engine->weights_->digest({"gpt.conditioning_encoder.", "gpt.conditioning_perceiver.",
                                            "hifigan_decoder.speaker_encoder.", "mel_stats"}))
          .hex_digest();
  return engine;
}

TensorMap XttsEngine::voice_tensors(const Voice& voice) {
  return {{"gpt_cond_latent", to_owned(voice.gpt_cond_latent)},
          {"speaker_embedding", to_owned(voice.speaker_embedding)}};
}

Voice XttsEngine::voice_from_tensors(const TensorMap& tensors) const {
  const auto& latents = weights_->get("gpt.conditioning_perceiver.latents");            // [n, d]
  const auto& speaker_fc = weights_->get("hifigan_decoder.speaker_encoder.fc.weight");  // [d_vector, in]
  auto take = [&tensors](const char* name, std::vector<int64_t> shape) {
    auto found = tensors.find(name);
    if (found == tensors.end())
      throw ModelError(ErrorCode::kModelError, std::string("stored voice has no ") + name);
    if (found->second.dtype != DType::kF32 || found->second.shape != shape) {
      throw ModelError(ErrorCode::kModelError,
                       std::string("stored voice's ") + name + " does not fit this model");
    }
    auto tensor = to_tensor(found->second);
    if (!torch::isfinite(tensor).all().item<bool>()) {
      throw ModelError(ErrorCode::kModelError, std::string("stored voice's ") + name + " is not finite");
    }
    return tensor;
  };
  Voice voice;
  voice.gpt_cond_latent = take("gpt_cond_latent", {1, latents.size(0), latents.size(1)}).to(device_);
  voice.speaker_embedding = take("speaker_embedding", {1, speaker_fc.size(0), 1}).to(device_);
  return voice;
}

Voice XttsEngine::clone(const std::string& wav_bytes) const {
  return clone(std::vector<std::string>{wav_bytes});
}

Voice XttsEngine::clone(const std::vector<std::string>& references) const {
  torch::NoGradGuard no_grad;
  if (references.empty()) throw ModelError(ErrorCode::kInvalidInput, "no speaker reference");
  // As upstream's get_conditioning_latents: each reference cut to max_ref_len and normalised on its own,
  // the speaker embeddings averaged, the GPT conditioned on all of them joined.
  std::vector<torch::Tensor> audios;
  std::vector<torch::Tensor> embeddings;
  for (const auto& bytes : references) {
    audios.push_back(reference_audio(bytes));
    embeddings.push_back(speaker_embedding(*weights_, audios.back(), kReferenceRate));
  }
  Voice voice;
  voice.audio_22k = torch::cat(audios, 1);
  voice.speaker_embedding = torch::stack(embeddings).mean(0);
  voice.gpt_cond_latent = gpt_conditioning_latents(*weights_, config_, voice.audio_22k);
  return voice;
}

torch::Tensor XttsEngine::reference_audio(const std::string& wav_bytes) const {
  auto info = parse_wav(wav_bytes);
  if (!info) throw ModelError(ErrorCode::kInvalidInput, "the speaker reference is not a WAV file");
  if (!wav_decodable(*info)) {
    throw ModelError(
        ErrorCode::kInvalidInput,
        "the speaker reference must be PCM WAV of 8, 16, 24 or 32 bits or float WAV of 32 or 64 bits");
  }
  if (info->frames == 0) throw ModelError(ErrorCode::kInvalidInput, "the speaker reference has no samples");
  auto floats = wav_samples_float(wav_bytes, *info);
  torch::Tensor samples =
      torch::from_blob(floats.data(), {static_cast<int64_t>(floats.size())}, torch::kFloat32).clone();
  // Interleaved frames -> channels, mixed to mono like upstream's load_audio.
  samples = samples.slice(0, 0, static_cast<int64_t>(info->frames) * info->channels)
                .reshape({static_cast<int64_t>(info->frames), info->channels})
                .t()
                .mean(0, true);
  samples = resample(samples, info->sample_rate, kReferenceRate).clamp(-1.0, 1.0);
  samples = samples.slice(1, 0, kReferenceRate * static_cast<int64_t>(config_.max_ref_len)).to(device_);
  if (config_.sound_norm_refs) samples = samples / samples.abs().max() * 0.75;
  return samples;
}

torch::Tensor XttsEngine::text_ids(const std::string& text, const std::string& language) const {
  const std::string prepared = inference_text(text);
  if (prepared.empty()) throw ModelError(ErrorCode::kMissingField, "the text is empty");
  auto ids = encode_xtts_text(*tokenizer_, prepared, language);
  if (static_cast<int64_t>(ids.size()) >= config_.gpt_max_text_tokens) {
    throw ModelError(ErrorCode::kTextTooLong, "the text needs " + std::to_string(ids.size()) +
                                                  " tokens; this model takes fewer than " +
                                                  std::to_string(config_.gpt_max_text_tokens));
  }
  return torch::tensor(ids, torch::kLong);
}

Synthesis XttsEngine::synthesize(const std::string& text, const std::string& language, const Voice& voice,
                                 const SynthesisOptions& options) const {
  torch::NoGradGuard no_grad;
  Synthesis result;
  result.text_ids = text_ids(text, language);
  auto text_ids = result.text_ids.unsqueeze(0).to(device_);
  const int64_t max_codes = code_limit(options);

  // Streaming: latents as the decode loop draws their codes, vocoded a chunk at a time.
  std::optional<AudioOut> out;
  XttsGpt::CodeHook on_code;
  if (options.on_audio) {
    out.emplace(*vocoder_, voice.speaker_embedding, options.stream, length_scale(options), options.on_audio);
    on_code = [&out](int64_t, const torch::Tensor& latent) { out->add(latent); };
  }
  if (const auto sampling = sampling_of(options)) {
    result.codes = gpt_->generate_sampled(voice.gpt_cond_latent, text_ids, max_codes, *sampling,
                                          options.on_step, on_code);
  } else {
    result.codes =
        gpt_->generate_greedy(voice.gpt_cond_latent, text_ids, max_codes, options.on_step, on_code);
  }
  result.prefill_logits = gpt_->last_prefill_logits();
  if (out) {
    out->finish(result);
    return result;
  }
  // As upstream: the stop code stays in the teacher-forced pass, whose latents are one per code, so the
  // latent that drew STOP is spoken too (and a first code of STOP still gives one latent of sound).
  if (result.codes.size(1) == 0)
    throw ModelError(ErrorCode::kModelError, "the model produced no audio codes");
  result.latents = gpt_->latents(voice.gpt_cond_latent, text_ids, result.codes);
  result.wav = vocoder_->decode(result.latents, voice.speaker_embedding, length_scale(options)).flatten();
  return result;
}

double XttsEngine::length_scale(const SynthesisOptions& options) {
  return 1.0 / std::max(options.speed, 0.05);
}

int64_t XttsEngine::code_limit(const SynthesisOptions& options) const {
  return options.max_codes > 0 ? std::min(options.max_codes, config_.max_generated_codes())
                               : config_.max_generated_codes();
}

std::optional<XttsGpt::Sampling> XttsEngine::sampling_of(const SynthesisOptions& options) const {
  if (options.greedy) return std::nullopt;
  auto sampling = options.sampling.value_or(
      XttsGpt::Sampling{config_.temperature, config_.top_k, config_.top_p, config_.repetition_penalty});
  if (options.seed) sampling.seed = options.seed;
  return sampling;
}

std::vector<XttsEngine::BatchResult> XttsEngine::synthesize_batch(
    const std::vector<BatchRequest>& requests) const {
  std::vector<BatchResult> results(requests.size());
  std::map<size_t, size_t> request_of;  // batch index -> request
  SpeechBatch batch(*this);
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      request_of[batch.add(requests[i])] = i;
    } catch (...) {
      results[i] = std::current_exception();
    }
  }
  auto collect = [&] {
    for (auto& [index, result] : batch.take_finished()) results[request_of.at(index)] = std::move(result);
  };
  while (batch.step()) collect();
  collect();
  return results;
}

struct XttsEngine::SpeechBatch::Member {
  torch::Tensor text_ids;  // [T], CPU
  const Voice* voice = nullptr;
  double length_scale = 1.0;
  std::optional<AudioOut> out;  // streamed requests
};

XttsEngine::SpeechBatch::SpeechBatch(const XttsEngine& engine)
    : engine_(engine), decode_(*engine.gpt_, engine.config_, engine.decode_settings_) {}

XttsEngine::SpeechBatch::~SpeechBatch() = default;

size_t XttsEngine::SpeechBatch::add(const BatchRequest& request) {
  torch::NoGradGuard no_grad;
  auto member = std::make_unique<Member>();
  member->text_ids = engine_.text_ids(request.text, request.language);
  member->voice = request.voice;
  member->length_scale = length_scale(request.options);
  DecodeBatch::Request sequence;
  sequence.cond_latents = request.voice->gpt_cond_latent;
  sequence.text_ids = member->text_ids.unsqueeze(0).to(engine_.device_);
  sequence.max_codes = engine_.code_limit(request.options);
  sequence.sampling = engine_.sampling_of(request.options);
  sequence.on_step = request.options.on_step;
  if (request.options.on_audio) {
    member->out.emplace(*engine_.vocoder_, request.voice->speaker_embedding, request.options.stream,
                        member->length_scale, request.options.on_audio);
    AudioOut* out = &*member->out;
    sequence.on_code = [out](int64_t, const torch::Tensor& latent) { out->add(latent); };
  }
  const size_t index = decode_.add(std::move(sequence));
  members_[index] = std::move(member);
  return index;
}

bool XttsEngine::SpeechBatch::step() {
  torch::NoGradGuard no_grad;
  return decode_.step();
}

std::vector<std::pair<size_t, XttsEngine::BatchResult>> XttsEngine::SpeechBatch::take_finished() {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<size_t, BatchResult>> finished;
  for (const size_t index : decode_.take_finished()) {
    auto found = members_.find(index);
    if (found == members_.end()) continue;
    Member& member = *found->second;
    try {
      if (auto error = decode_.error(index)) std::rethrow_exception(error);
      Synthesis synthesis;
      synthesis.text_ids = member.text_ids;
      synthesis.codes = decode_.codes(index);
      if (member.out) {
        member.out->finish(synthesis);
      } else {
        synthesis.latents = decode_.latents(index);
        if (!synthesis.latents.defined())
          throw ModelError(ErrorCode::kModelError, "the model produced no audio codes");
        synthesis.wav =
            engine_.vocoder_->decode(synthesis.latents, member.voice->speaker_embedding, member.length_scale)
                .flatten();
      }
      finished.emplace_back(index, std::move(synthesis));
    } catch (...) {
      finished.emplace_back(index, std::current_exception());
    }
    decode_.release(index);
    members_.erase(found);
  }
  return finished;
}

}  // namespace gpufleet::xtts
