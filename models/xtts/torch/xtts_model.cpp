#include "models/xtts/torch/xtts_model.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/logging.hpp"
#include "common/sha256.hpp"
#include "common/wav.hpp"
#include "models/audio_stream.hpp"
#include "models/torch/torch_device.hpp"
#include "models/xtts/sentences.hpp"
#include "models/xtts/tokenizer.hpp"
#include "models/xtts/torch/engine.hpp"
#include "models/xtts/torch_checkpoint.hpp"
#include "models/xtts/voice_cache.hpp"
#include "models/xtts/voice_store.hpp"

namespace gpufleet::xtts {

using models::DeviceInfo;
using models::select_device;
using models::torch_device;
namespace {

constexpr size_t kMaxReferenceBytes = 64u << 20;

// A number field of the job input within [low, high], or nullopt when absent.
std::optional<double> number_field(const nlohmann::json& input, const char* field, double low, double high) {
  auto value = input.find(field);
  if (value == input.end() || value->is_null()) return std::nullopt;
  if (!value->is_number() || !(value->get<double>() >= low && value->get<double>() <= high)) {
    throw ModelError(ErrorCode::kInvalidInput, "input." + std::string(field) + " must be a number from " +
                                                   std::to_string(low) + " to " + std::to_string(high));
  }
  return value->get<double>();
}

torch::Tensor to_pcm16(const torch::Tensor& wav) {
  return (wav.clamp(-1.0, 1.0) * 32767.0).round().to(torch::kInt16).contiguous();
}

// Streamed audio is converted exactly as the result is, so that the stream and the result file agree.
void append_pcm(models::AudioStreamFile& stream, const torch::Tensor& chunk) {
  auto pcm = to_pcm16(chunk);
  stream.append(pcm.data_ptr<int16_t>(), static_cast<size_t>(pcm.numel()));
}

// 3 s of a 110 Hz tone with its first harmonics and a slow swell, as 16-bit WAV at 22,050 Hz: something
// voiced for the encoders to condition on when no recording is at hand (the warm-up).
std::string synthetic_reference() {
  constexpr uint32_t kRate = 22050;
  constexpr double kPi = 3.14159265358979323846;
  std::vector<int16_t> samples(3 * kRate);
  for (size_t i = 0; i < samples.size(); ++i) {
    const double t = static_cast<double>(i) / kRate;
    double value = 0;
    for (int harmonic = 1; harmonic <= 6; ++harmonic)
      value += std::sin(2 * kPi * 110.0 * harmonic * t) / harmonic;
    value *= 0.25 * (0.6 + 0.4 * std::sin(2 * kPi * 1.5 * t));
    samples[i] = static_cast<int16_t>(std::lround(value * 32767.0 * 0.5));
  }
  return encode_wav_pcm16(samples, kRate);
}

class XttsModel final : public models::Model {
 public:
  XttsModel(const models::ModelSpec& spec, const DeviceInfo& device, size_t voice_cache,
            std::optional<xtts::VoiceStore> store, const std::filesystem::path& speakers_file,
            const xtts::DecodeSettings& decode)
      : engine_(xtts::XttsEngine::load(spec.files.at("config").parent_path(), torch_device(device),
                                       xtts::XttsEngine::dtype_named(spec.dtype).value_or(torch::kFloat32))),
        store_(std::move(store)),
        voices_(voice_cache) {
    engine_->set_decode_settings(decode);
    if (!speakers_file.empty()) load_speakers(speakers_file);
    info_.name = spec.name;
    info_.kind = "tts";
    info_.parameters = {"speaker", "greedy", "seed", "temperature", "top_k", "top_p", "repetition_penalty",
                        "speed"};
    // Only what the text front end can clean: the checkpoint lists zh-cn, ja and ko, which need
    // transliterations gpufleet does not have, so they are not announced and the gateway refuses them.
    for (const auto& language : engine_->config().languages) {
      if (xtts::text_front_end_speaks(language)) info_.languages.push_back(language);
    }
    info_.cloning = true;
    info_.sample_rate = static_cast<uint32_t>(engine_->config().output_sample_rate);
    if (store_)
      log_line(LogLevel::kInfo, "model " + spec.name + ": voices shared in " +
                                    (store_->root() / engine_->voice_fingerprint()).string());
  }

  const models::ModelInfo& info() const override { return info_; }

  // One engine call at a time (engine_mutex_): jobs that arrive together, or while others decode, share the
  // decode steps inside run_continuous instead. A single job is a batch of one.
  models::ModelOutput run(const models::ModelInput& input, models::JobContext& context) override {
    auto outcome = std::move(run_batch({models::BatchItem{&input, &context}}).front());
    if (outcome.error) std::rethrow_exception(outcome.error);
    if (!outcome.output) throw ModelError(ErrorCode::kModelError, "the batch answered nothing for the job");
    return std::move(*outcome.output);
  }

  bool batches() const override { return true; }

  std::vector<models::BatchOutcome> run_batch(const std::vector<models::BatchItem>& items) override {
    // The same decoding as a running batch, without newcomers, its outcomes kept in order.
    class Collect final : public models::BatchFeed {
     public:
      explicit Collect(const std::vector<models::BatchItem>& items)
          : items_(items), outcomes_(items.size()) {}
      std::vector<models::BatchItem> join() override { return {}; }
      void finish(const models::BatchItem& item, models::BatchOutcome outcome) override {
        for (size_t i = 0; i < items_.size(); ++i) {
          if (items_[i].input == item.input) outcomes_[i] = std::move(outcome);
        }
      }
      std::vector<models::BatchOutcome> outcomes() { return std::move(outcomes_); }

     private:
      const std::vector<models::BatchItem>& items_;
      std::vector<models::BatchOutcome> outcomes_;
    };
    Collect collect(items);
    run_continuous(items, collect);
    return collect.outcomes();
  }

  // Continuous batching: every job decodes in one SpeechBatch (one GPT step for all at a time), newcomers
  // join between steps while the worker has room for them, and each job is finished the moment its last piece
  // is vocoded. A job's text pieces decode one after another within the batch; a streamed job streams from
  // it; a seeded job draws from its own generator, so it sounds as it does alone.
  void run_continuous(const std::vector<models::BatchItem>& items, models::BatchFeed& feed) override {
    std::lock_guard lock(engine_mutex_);
    xtts::XttsEngine::SpeechBatch batch(*engine_);
    std::map<size_t, std::shared_ptr<Member>> decoding;  // by batch index: the member's current piece
    auto fail = [&feed](const models::BatchItem& item) {
      feed.finish(item, models::BatchOutcome{std::nullopt, std::current_exception()});
    };
    // Adds a member's next piece to the batch.
    auto decode_next = [&](const std::shared_ptr<Member>& member) {
      decoding[batch.add(member->piece_request())] = member;
    };
    auto admit = [&](const models::BatchItem& item) {
      try {
        item.context->check();
        auto member = std::make_shared<Member>(item, prepare(*item.input, *item.context));
        if (!item.input->stream_path.empty()) member->open_stream(item.input->stream_path, info_.sample_rate);
        decode_next(member);
      } catch (...) {
        fail(item);
      }
    };
    for (const auto& item : items) admit(item);
    while (true) {
      for (const auto& item : feed.join()) admit(item);
      for (auto& [index, result] : batch.take_finished()) {
        auto member = std::move(decoding.at(index));
        decoding.erase(index);
        try {
          if (auto* error = std::get_if<std::exception_ptr>(&result)) std::rethrow_exception(*error);
          const auto& synthesis = std::get<xtts::Synthesis>(result);
          member->waves.push_back(synthesis.wav.to(torch::kCPU));
          member->codes += synthesis.codes.size(1);
          if (++member->next_piece < member->job.pieces.size()) {
            member->item.context->check();
            decode_next(member);
            continue;
          }
          auto output = output_of(member->job, *member->item.input, torch::cat(member->waves), member->codes);
          output.details["batch_decoded"] = member->peak;
          if (member->stream) output.details["stream_chunks"] = member->stream->appends();
          feed.finish(member->item, models::BatchOutcome{std::move(output), nullptr});
        } catch (...) {
          fail(member->item);
        }
      }
      if (batch.unfinished() > 0) {
        for (auto& [index, member] : decoding) member->peak = std::max(member->peak, batch.unfinished());
        batch.step();
        continue;
      }
      if (decoding.empty()) break;  // nothing joined at the top of this round, nothing left to decode
    }
  }

  // A cloned-voice model cannot speak the default warm-up's bare text: it warms with its first named speaker,
  // else with a voice cloned from a synthetic reference (a 3-second harmonic tone, built here), so the
  // encoders, the GPT and the vocoder all run once. A short greedy decode is enough to initialise them.
  void warm_up() override {
    std::lock_guard lock(engine_mutex_);
    std::shared_ptr<xtts::Voice> voice =
        speakers_.empty() ? std::make_shared<xtts::Voice>(engine_->clone(synthetic_reference()))
                          : speakers_.begin()->second;
    const auto& languages = info_.languages;
    const std::string language =
        languages.empty() || std::find(languages.begin(), languages.end(), "en") != languages.end()
            ? "en"
            : languages.front();
    xtts::SynthesisOptions options;
    options.greedy = true;
    options.max_codes = 16;
    engine_->synthesize("Warming up.", language, *voice, options);
  }

  std::vector<std::string> references_in_memory(size_t limit) const override {
    return voices_.references(limit);
  }

 private:
  // A job made ready to speak: its request, voice and sampling, its text in pieces within the language's
  // limit.
  struct Prepared {
    models::TtsRequest request;
    std::shared_ptr<xtts::Voice> voice;
    std::string source;  // where the voice came from: speaker (named), memory, shared, miss
    xtts::SynthesisOptions options;
    std::vector<std::string> pieces;
  };

  // A job in a running batch: its pieces decode one after another, their audio joined at the end.
  struct Member {
    Member(const models::BatchItem& batch_item, Prepared prepared)
        : item(batch_item), job(std::move(prepared)) {}
    models::BatchItem item;
    Prepared job;
    size_t next_piece = 0;
    std::vector<torch::Tensor> waves;
    int64_t codes = 0;
    size_t peak = 1;  // the most sequences decoded together while its own decoded
    std::optional<models::AudioStreamFile> stream;

    void open_stream(const std::filesystem::path& path, uint32_t sample_rate) {
      stream.emplace(path, sample_rate);
      job.options.on_audio = [this](const torch::Tensor& chunk) { append_pcm(*stream, chunk); };
    }
    xtts::XttsEngine::BatchRequest piece_request() const {
      return {job.pieces.at(next_piece), job.request.language, job.voice.get(), job.options};
    }
  };

  // Under engine_mutex_ (a voice may be computed).
  Prepared prepare(const models::ModelInput& input, models::JobContext& context) {
    Prepared job{models::parse_tts_request(input.input, info_), nullptr, "speaker", {}, {}};
    // As upstream's Xtts.synthesize: a named speaker wins over a reference recording when both come.
    const auto speaker = input.input.find("speaker");
    if ((speaker != input.input.end() && !speaker->is_null()) || job.request.speaker_wav.empty())
      job.voice = named_speaker(input.input);
    job.options.greedy = input.input.value("greedy", false);
    if (auto seed = number_field(input.input, "seed", 0, 9007199254740991.0))
      job.options.seed = static_cast<uint64_t>(*seed);
    const auto& config = engine_->config();
    xtts::XttsGpt::Sampling sampling{config.temperature, config.top_k, config.top_p,
                                     config.repetition_penalty};
    if (auto value = number_field(input.input, "temperature", 0.01, 5)) sampling.temperature = *value;
    if (auto value = number_field(input.input, "top_k", 0, 10000))  // 0: off, as upstream
      sampling.top_k = static_cast<int64_t>(*value);
    if (auto value = number_field(input.input, "top_p", 0.01, 1)) sampling.top_p = *value;
    if (auto value = number_field(input.input, "repetition_penalty", 1, 50))
      sampling.repetition_penalty = *value;
    // Upstream takes any speed and stretches by 1 / max(speed, 0.05); past 10 little speech is left.
    if (auto value = number_field(input.input, "speed", 0, 10)) job.options.speed = *value;
    job.options.sampling = sampling;
    // Every code drawn is progress, and a place to stop at when the job is cancelled or out of time.
    job.options.on_step = [&context] { context.check(); };
    if (!job.voice) job.voice = reference_voice(job.request.speaker_wavs, input.reference, job.source);
    // Long text is spoken piece by piece within the language's limit, as upstream splits it; the audio
    // joined.
    job.pieces = xtts::split_xtts_text(job.request.text, xtts::xtts_char_limit(job.request.language));
    if (job.pieces.empty()) throw ModelError(ErrorCode::kMissingField, "the text is empty");
    return job;
  }

  models::ModelOutput output_of(const Prepared& job, const models::ModelInput& input,
                                const torch::Tensor& wav, int64_t codes) const {
    auto samples = to_pcm16(wav);
    models::Audio audio;
    audio.samples.assign(samples.data_ptr<int16_t>(), samples.data_ptr<int16_t>() + samples.numel());
    audio.sample_rate = info_.sample_rate;
    models::ModelOutput output{std::move(audio), {{"codes", codes}, {"pieces", job.pieces.size()}}};
    if (job.source == "speaker") {
      output.details["speaker"] = input.input["speaker"];
    } else {
      output.details["voice_cache"] = job.source;
    }
    return output;
  }

  // The voice of one or several reference recordings: memory first, then the fleet's store, then the
  // encoders (whose voice goes to both). `source` says which. `reference` is the client's name of them (one
  // per line for several).
  std::shared_ptr<xtts::Voice> reference_voice(const std::vector<std::string>& paths,
                                               const std::string& reference, std::string& source) {
    std::vector<std::string> recordings;
    size_t total = 0;
    std::string contents;  // the recordings' SHA-256s, one per line
    for (const auto& path : paths) {
      auto bytes = read_file(path, kMaxReferenceBytes - total);
      if (!bytes)
        throw ModelError(ErrorCode::kInvalidInput, "speaker_wav cannot be read or is over 64 MiB in all");
      total += bytes->size();
      contents += (contents.empty() ? "" : "\n") + sha256_hex(*bytes);
      recordings.push_back(std::move(*bytes));
    }
    // One recording keeps its own SHA-256 as its content (stored voices stay valid); several, their list's.
    const std::string first_name = reference.substr(0, reference.find('\n'));
    const std::string key =
        xtts::voice_key(recordings.size() == 1 ? contents : sha256_hex(contents), first_name);
    source = "memory";
    auto voice = voices_.find(key, reference);
    if (!voice) {
      source = "shared";
      voice = load_stored_voice(key);
    }
    if (!voice) {
      source = "miss";
      voice = std::make_shared<xtts::Voice>(engine_->clone(recordings));
      if (store_) store_->save(engine_->voice_fingerprint(), key, xtts::XttsEngine::voice_tensors(*voice));
    }
    if (source != "memory") voices_.remember(key, reference, voice);
    return voice;
  }

  // The named speaker a job asks for; without one, the job has no voice at all.
  std::shared_ptr<xtts::Voice> named_speaker(const nlohmann::json& input) const {
    auto speaker = input.find("speaker");
    if (speaker == input.end() || speaker->is_null()) {
      throw ModelError(ErrorCode::kInvalidInput,
                       "model " + info_.name + " speaks in a cloned voice: send a speaker_wav" +
                           (speakers_.empty() ? "" : " or a speaker (" + speaker_names() + ")"));
    }
    if (!speaker->is_string()) throw ModelError(ErrorCode::kInvalidInput, "speaker must be a string");
    auto found = speakers_.find(speaker->get<std::string>());
    if (found == speakers_.end()) {
      throw ModelError(ErrorCode::kInvalidInput,
                       "model " + info_.name + " has no speaker '" + speaker->get<std::string>() + "'" +
                           (speakers_.empty() ? "" : "; it has " + speaker_names()));
    }
    return found->second;
  }

  std::string speaker_names() const {
    std::string names;
    size_t listed = 0;
    for (const auto& [name, voice] : speakers_) {
      if (listed++ == 8) return names + ", ... (" + std::to_string(speakers_.size()) + " in all)";
      names += (names.empty() ? "" : ", ") + name;
    }
    return names;
  }

  // speakers_xtts.pth: {name: {"gpt_cond_latent", "speaker_embedding"}}, read without Python and checked
  // against this model's shapes.
  void load_speakers(const std::filesystem::path& file) {
    std::map<std::string, xtts::TensorMap> by_name;
    for (auto& [path, tensor] : xtts::read_torch_checkpoint(file)) {
      const auto dot = path.rfind('.');
      if (dot == std::string::npos || dot == 0) continue;
      by_name[path.substr(0, dot)][path.substr(dot + 1)] = std::move(tensor);
    }
    for (const auto& [name, tensors] : by_name) {
      try {
        speakers_[name] = std::make_shared<xtts::Voice>(engine_->voice_from_tensors(tensors));
      } catch (const ModelError& error) {
        throw ModelError(ErrorCode::kModelError,
                         file.filename().string() + ": speaker '" + name + "': " + error.what());
      }
    }
    log_line(LogLevel::kInfo, "model " + info_.name + ": " + std::to_string(speakers_.size()) +
                                  " named speakers from " + file.string());
  }

  // The voice another worker (or this one, before a restart) stored; nullptr when there is none usable.
  std::shared_ptr<xtts::Voice> load_stored_voice(const std::string& key) const {
    if (!store_) return nullptr;
    auto tensors = store_->load(engine_->voice_fingerprint(), key);
    if (!tensors) return nullptr;
    try {
      return std::make_shared<xtts::Voice>(engine_->voice_from_tensors(*tensors));
    } catch (const ModelError& error) {
      log_line(LogLevel::kWarn, "model " + info_.name + ": stored voice " + key + " is unusable (" +
                                    error.what() + "); computing it again");
      return nullptr;
    }
  }

  std::unique_ptr<xtts::XttsEngine> engine_;
  models::ModelInfo info_;
  std::mutex engine_mutex_;
  std::optional<xtts::VoiceStore> store_;
  std::map<std::string, std::shared_ptr<xtts::Voice>> speakers_;  // named speakers, loaded once
  xtts::VoiceCache<xtts::Voice>
      voices_;  // its own lock: the event loop lists it while a job holds the engine
};

}  // namespace

std::unique_ptr<models::Model> load_xtts_model(const models::ModelSpec& spec, const std::string& device) {
  const std::string where = "model " + spec.name + ": ";
  if (spec.files.count("config") == 0) {
    throw ConfigError(where + "an xtts model needs files.config (its folder's config.json)");
  }
  size_t voice_cache = 32;
  std::optional<xtts::VoiceStore> store;
  xtts::DecodeSettings decode;
  for (const auto& [key, value] : spec.options.items()) {
    if (key == "static_decode" && value.is_boolean()) {
      decode.fixed_shapes = value.get<bool>();
    } else if (key == "cuda_graphs" && value.is_boolean()) {
      decode.cuda_graphs = value.get<bool>();
    } else if (key == "voice_cache" && value.is_number_integer() && value.get<int64_t>() >= 0 &&
               value.get<int64_t>() <= 100000) {
      voice_cache = static_cast<size_t>(value.get<int64_t>());
    } else if (key == "voice_store" && value.is_string() &&
               std::filesystem::path(value.get<std::string>()).is_absolute()) {
      store.emplace(value.get<std::string>());
    } else if (key == "voice_store" && value.is_boolean() && !value.get<bool>()) {
      store.reset();
    } else {
      throw ConfigError(
          where + "options." + key +
          ": xtts takes voice_cache (0-100000 voices in memory), voice_store (an absolute folder "
          "shared by the fleet, or false), static_decode and cuda_graphs (true or false)");
    }
  }
  if (decode.cuda_graphs && !decode.fixed_shapes) {
    throw ConfigError(where + "options.cuda_graphs needs the fixed-shape step: static_decode true");
  }
  // Named speakers: files.speakers, else upstream's speakers_xtts.pth beside config.json where it exists.
  std::filesystem::path speakers;
  if (auto file = spec.files.find("speakers"); file != spec.files.end()) {
    speakers = file->second;
  } else if (std::error_code ec; std::filesystem::is_regular_file(
                 spec.files.at("config").parent_path() / "speakers_xtts.pth", ec)) {
    speakers = spec.files.at("config").parent_path() / "speakers_xtts.pth";
  }
  try {
    return std::make_unique<XttsModel>(spec, select_device(device), voice_cache, std::move(store), speakers,
                                       decode);
  } catch (const FleetError&) {
    throw;
  } catch (const std::exception& error) {
    const std::string message = error.what();
    throw ModelError(ErrorCode::kModelError, where + message.substr(0, message.find('\n')));
  }
}

}  // namespace gpufleet::xtts
