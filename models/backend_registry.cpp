#include "models/backend_registry.hpp"

#include <stdexcept>

#include "common/error.hpp"
#include "common/files.hpp"
#include "models/espeak/espeak_tts.hpp"
#include "models/noop/noop.hpp"
#include "models/piper/piper_voice.hpp"
#include "models/piper/vits_synthesizer.hpp"
#include "models/torch/runtime.hpp"

namespace gpufleet::models {
namespace {

constexpr size_t kMaxPiperConfigBytes = 8u << 20;

// A loaded model under the name its spec gives it: one backend can serve several named models.
class NamedModel final : public Model {
 public:
  NamedModel(std::unique_ptr<Model> inner, const std::string& name)
      : inner_(std::move(inner)), info_(inner_->info()) {
    info_.name = name;
  }
  const models::ModelInfo& info() const override { return info_; }
  ModelOutput run(const ModelInput& input, JobContext& context) override {
    return inner_->run(input, context);
  }
  bool batches() const override { return inner_->batches(); }
  std::vector<BatchOutcome> run_batch(const std::vector<BatchItem>& items) override {
    return inner_->run_batch(items);
  }
  void run_continuous(const std::vector<BatchItem>& items, BatchFeed& feed) override {
    inner_->run_continuous(items, feed);
  }
  std::vector<std::string> references_in_memory(size_t limit) const override {
    return inner_->references_in_memory(limit);
  }
  void warm_up() override { inner_->warm_up(); }

 private:
  std::unique_ptr<Model> inner_;
  models::ModelInfo info_;
};

std::unique_ptr<Model> make_espeak(const ModelSpec& /*spec*/, const ModelServices& /*services*/) {
  return std::make_unique<EspeakTts>();
}

std::unique_ptr<Model> make_noop(const ModelSpec& spec, const ModelServices& services) {
  for (const auto& [key, value] : spec.options.items()) {
    if (key != "cloning" || !value.is_boolean()) {
      throw ConfigError("model " + spec.name + ": options." + key + ": noop takes only cloning (true/false)");
    }
  }
  return std::make_unique<NoopModel>(spec.options.value("cloning", false), services.noop_drills);
}

std::unique_ptr<Model> make_piper(const ModelSpec& spec, const ModelServices& services) {
  const std::string where = "model " + spec.name + ": ";
  for (const char* role : {"model", "config"}) {
    if (spec.files.count(role) == 0) throw ConfigError(where + "a piper voice needs files." + role);
  }
  if (spec.dtype != "float32") throw ConfigError(where + "piper voices run in float32");
  PiperVoiceOptions options;
  options.max_batch = spec.max_batch;
  for (const auto& [key, value] : spec.options.items()) {
    if (key == "sentence_silence_s" && value.is_number() && value.get<double>() >= 0 &&
        value.get<double>() <= 5) {
      options.sentence_silence_s = value.get<float>();
    } else {
      throw ConfigError(where + "options." + key + ": piper voices take only sentence_silence_s (0-5)");
    }
  }
  auto text = read_file(spec.files.at("config"), kMaxPiperConfigBytes);
  if (!text)
    throw ModelError(ErrorCode::kModelError, where + "cannot read " + spec.files.at("config").string());
  PiperVoiceConfig config = parse_piper_voice_config(*text);
  return std::make_unique<PiperVoice>(
      spec.name, std::move(config),
      services.torch->load_vits(spec.files.at("model"), services.device_for(spec)), options);
}

std::unique_ptr<Model> make_xtts(const ModelSpec& spec, const ModelServices& services) {
  // A cloning model shares its voices through the worker's VOICE_STORE unless its entry names its own.
  if (spec.options.contains("voice_store")) return services.torch->load_xtts(spec, services.device_for(spec));
  ModelSpec with_store = spec;
  with_store.options["voice_store"] =
      services.voice_store.empty() ? nlohmann::json(false) : nlohmann::json(services.voice_store.string());
  return services.torch->load_xtts(with_store, services.device_for(spec));
}

}  // namespace

std::string ModelServices::device_for(const ModelSpec& spec) const {
  return spec.device == "auto" ? device : spec.device;
}

BackendRegistry BackendRegistry::standard() {
  BackendRegistry registry;
  registry.backends_ = {
      {"espeak", "tts", false, false, make_espeak}, {"noop", "tts", false, false, make_noop},
      {"piper", "tts", true, false, make_piper},    {"xtts", "tts", true, false, make_xtts},
      {"portrait", "video", false, true, nullptr},  {"liveportrait", "video", true, true, nullptr},
      {"wav2lip", "video", true, true, nullptr},
  };
  return registry;
}

void BackendRegistry::bind(std::string_view name, ModelFactory factory) {
  for (auto& backend : backends_) {
    if (backend.name == name) {
      backend.factory = std::move(factory);
      return;
    }
  }
  throw std::logic_error("backend table: no backend '" + std::string(name) + "' to bind");
}

const Backend* BackendRegistry::find(std::string_view name) const {
  for (const auto& backend : backends_) {
    if (backend.name == name) return &backend;
  }
  return nullptr;
}

std::unique_ptr<Model> BackendRegistry::load(const ModelSpec& spec, const ModelServices& services) const {
  const Backend* backend = find(spec.backend);
  if (backend == nullptr)
    throw ConfigError("model " + spec.name + ": unknown backend '" + spec.backend + "'");
  for (const auto& [role, path] : spec.files) {
    std::error_code ec;
    // "dir": a folder of modules (the neural video backends); every other role is one file.
    const bool found =
        role == "dir" ? std::filesystem::is_directory(path, ec) : std::filesystem::is_regular_file(path, ec);
    if (!found) {
      throw ModelError(ErrorCode::kModelError,
                       (role == "dir" ? "folder '" : "file '") + role + "' not found: " + path.string());
    }
  }
  if (!backend->factory) {
    throw ConfigError("model " + spec.name + ": this build has no " +
                      (backend->needs_video ? "video support (OpenCV and FFmpeg were not found)"
                                            : "backend " + spec.backend));
  }
  if (backend->needs_torch && services.torch == nullptr) {
    throw ConfigError("model " + spec.name + ": " + spec.backend + " needs the worker's LibTorch plugin" +
                      (services.torch_unavailable.empty() ? "" : " (" + services.torch_unavailable + ")"));
  }
  std::unique_ptr<Model> model = backend->factory(spec, services);
  if (spec.max_batch > 1 && !model->batches()) {
    throw ConfigError("backend " + spec.backend + " runs one job at a time: max_batch must be 1");
  }
  if (model->info().kind != spec.kind) {
    throw ConfigError("backend " + spec.backend + " serves " + model->info().kind + " jobs, not " +
                      spec.kind);
  }
  if (spec.name == model->info().name) return model;
  return std::make_unique<NamedModel>(std::move(model), spec.name);
}

}  // namespace gpufleet::models
