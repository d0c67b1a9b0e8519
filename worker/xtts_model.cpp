#include "worker/xtts_model.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <list>
#include <mutex>
#include <unordered_map>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/sha256.hpp"
#include "models/xtts/torch/engine.hpp"
#include "worker/torch_device.hpp"

namespace gpufleet::worker {
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

class XttsModel final : public models::Model {
 public:
  XttsModel(const models::ModelSpec& spec, const DeviceInfo& device, size_t voice_cache)
      : engine_(xtts::XttsEngine::load(spec.files.at("config").parent_path(), torch_device(device))),
        capacity_(voice_cache) {
    info_.name = spec.name;
    info_.kind = "tts";
    info_.languages = engine_->config().languages;
    info_.cloning = true;
    info_.sample_rate = static_cast<uint32_t>(engine_->config().output_sample_rate);
  }

  const protocol::ModelInfo& info() const override { return info_; }

  models::ModelOutput run(const models::ModelInput& input, models::JobContext& context) override {
    const auto request = models::parse_tts_request(input.input, info_);
    if (request.speaker_wav.empty()) {
      throw ModelError(ErrorCode::kInvalidInput, "model " + info_.name + " speaks in a cloned voice: send a speaker_wav");
    }
    xtts::SynthesisOptions options;
    options.greedy = input.input.value("greedy", false);
    if (auto seed = number_field(input.input, "seed", 0, 9007199254740991.0)) options.seed = static_cast<uint64_t>(*seed);
    const auto& config = engine_->config();
    xtts::XttsGpt::Sampling sampling{config.temperature, config.top_k, config.top_p, config.repetition_penalty};
    if (auto value = number_field(input.input, "temperature", 0.01, 5)) sampling.temperature = *value;
    if (auto value = number_field(input.input, "top_k", 1, 10000)) sampling.top_k = static_cast<int64_t>(*value);
    if (auto value = number_field(input.input, "top_p", 0.01, 1)) sampling.top_p = *value;
    if (auto value = number_field(input.input, "repetition_penalty", 1, 50)) sampling.repetition_penalty = *value;
    options.sampling = sampling;
    // Every code drawn is progress, and a place to stop at when the job is cancelled or out of time.
    options.on_step = [&context] { context.check(); };

    const auto reference = read_file(request.speaker_wav, kMaxReferenceBytes);
    if (!reference) throw ModelError(ErrorCode::kInvalidInput, "speaker_wav cannot be read or is over 64 MiB");
    const std::string key = sha256_hex(*reference);

    // One job at a time per engine: sampling seeds the process-wide generator and the GPT keeps state for
    // dumps; one GPU gains little from two decodes interleaved.
    std::lock_guard lock(mutex_);
    context.check();
    bool cached = false;
    auto voice = find_voice(key);
    if (voice) {
      cached = true;
    } else {
      voice = std::make_shared<xtts::Voice>(engine_->clone(*reference));
      remember_voice(key, voice);
    }
    context.check();
    const auto synthesis = engine_->synthesize(request.text, request.language, *voice, options);
    auto samples =
        (synthesis.wav.to(torch::kCPU).clamp(-1.0, 1.0) * 32767.0).round().to(torch::kInt16).contiguous();
    models::Audio audio;
    audio.samples.assign(samples.data_ptr<int16_t>(), samples.data_ptr<int16_t>() + samples.numel());
    audio.sample_rate = info_.sample_rate;
    models::ModelOutput output{std::move(audio), {{"voice_cache", cached ? "hit" : "miss"}, {"codes", synthesis.codes.size(1)}}};
    return output;
  }

 private:
  std::shared_ptr<xtts::Voice> find_voice(const std::string& key) {
    auto found = index_.find(key);
    if (found == index_.end()) return nullptr;
    voices_.splice(voices_.begin(), voices_, found->second);  // most recently used first
    return found->second->second;
  }

  void remember_voice(const std::string& key, std::shared_ptr<xtts::Voice> voice) {
    if (capacity_ == 0) return;
    voices_.emplace_front(key, std::move(voice));
    index_[key] = voices_.begin();
    if (voices_.size() > capacity_) {
      index_.erase(voices_.back().first);
      voices_.pop_back();
    }
  }

  std::unique_ptr<xtts::XttsEngine> engine_;
  protocol::ModelInfo info_;
  std::mutex mutex_;
  size_t capacity_;
  std::list<std::pair<std::string, std::shared_ptr<xtts::Voice>>> voices_;
  std::unordered_map<std::string, decltype(voices_)::iterator> index_;
};

}  // namespace

std::unique_ptr<models::Model> load_xtts_model(const models::ModelSpec& spec, const std::string& device) {
  const std::string where = "model " + spec.name + ": ";
  if (spec.files.count("config") == 0) {
    throw ConfigError(where + "an xtts model needs files.config (its folder's config.json)");
  }
  if (spec.dtype != "float32") throw ConfigError(where + "xtts runs in float32 in this version");
  size_t voice_cache = 32;
  for (const auto& [key, value] : spec.options.items()) {
    if (key == "voice_cache" && value.is_number_integer() && value.get<int64_t>() >= 0 && value.get<int64_t>() <= 100000) {
      voice_cache = static_cast<size_t>(value.get<int64_t>());
    } else {
      throw ConfigError(where + "options." + key + ": xtts takes only voice_cache (0-100000 voices)");
    }
  }
  try {
    return std::make_unique<XttsModel>(spec, select_device(device), voice_cache);
  } catch (const FleetError&) {
    throw;
  } catch (const std::exception& error) {
    const std::string message = error.what();
    throw ModelError(ErrorCode::kModelError, where + message.substr(0, message.find('\n')));
  }
}

}  // namespace gpufleet::worker
