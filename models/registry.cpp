#include "models/registry.hpp"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json_text.hpp"
#include "models/espeak_tts.hpp"
#include "models/noop.hpp"
#include "models/piper_voice.hpp"

namespace gpufleet::models {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

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

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw ConfigError("model registry: " + where + ": " + what);
}

std::string string_field(const nlohmann::json& entry, const char* field, const std::string& where,
                         const std::string& fallback, bool required = false) {
  auto value = entry.find(field);
  if (value == entry.end()) {
    if (required) bad(where, std::string(field) + " is required");
    return fallback;
  }
  if (!value->is_string()) bad(where, std::string(field) + " must be a string");
  return value->get<std::string>();
}

uint32_t uint_field(const nlohmann::json& entry, const char* field, const std::string& where,
                    uint32_t fallback, uint32_t min, uint32_t max) {
  auto value = entry.find(field);
  if (value == entry.end()) return fallback;
  if (!value->is_number_integer() || value->get<int64_t>() < min || value->get<int64_t>() > max) {
    bad(where, std::string(field) + " must be an integer in [" + std::to_string(min) + ", " +
                   std::to_string(max) + "]");
  }
  return static_cast<uint32_t>(value->get<int64_t>());
}

ModelSpec parse_entry(const nlohmann::json& entry, size_t index, const std::filesystem::path& base_dir) {
  std::string where = "models[" + std::to_string(index) + "]";
  if (!entry.is_object()) bad(where, "must be an object");
  static const std::set<std::string> kFields{"name",   "kind",   "backend",   "files",
                                             "device", "dtype",  "max_batch", "max_queue_delay_ms",
                                             "warmup", "options"};
  for (const auto& [field, value] : entry.items()) {
    if (kFields.count(field) == 0) bad(where, "unknown field '" + field + "'");
  }
  ModelSpec spec;
  spec.name = string_field(entry, "name", where, "", true);
  static const std::regex kName("[a-z0-9][a-z0-9._-]{0,63}");
  if (!std::regex_match(spec.name, kName))
    bad(where, "name must be 1-64 of a-z 0-9 . _ - (got '" + spec.name + "')");
  where += " (" + spec.name + ")";
  spec.backend = string_field(entry, "backend", where, "", true);
  spec.kind = string_field(entry, "kind", where, is_video_backend(spec.backend) ? "video" : "tts");
  if (spec.kind != "tts" && spec.kind != "video") bad(where, "kind must be tts or video");
  const auto& backends = known_backends();
  if (std::find(backends.begin(), backends.end(), spec.backend) == backends.end()) {
    std::string list;
    for (const auto& backend : backends) list += (list.empty() ? "" : ", ") + backend;
    bad(where, "unknown backend '" + spec.backend + "' (this build has: " + list + ")");
  }
  spec.device = string_field(entry, "device", where, "auto");
  static const std::regex kDevice("auto|cpu|mps|cuda(:[0-9]{1,2})?");
  if (!std::regex_match(spec.device, kDevice)) bad(where, "device must be auto, cpu, cuda, cuda:N or mps");
  spec.dtype = string_field(entry, "dtype", where, "float32");
  if (spec.dtype != "float32" && spec.dtype != "float16" && spec.dtype != "bfloat16") {
    bad(where, "dtype must be float32, float16 or bfloat16");
  }
  spec.max_batch = uint_field(entry, "max_batch", where, 1, 1, 256);
  spec.max_queue_delay_ms = uint_field(entry, "max_queue_delay_ms", where, 0, 0, 10000);
  if (auto warmup = entry.find("warmup"); warmup != entry.end()) {
    if (!warmup->is_boolean()) bad(where, "warmup must be true or false");
    spec.warmup = warmup->get<bool>();
  }
  if (auto files = entry.find("files"); files != entry.end()) {
    if (!files->is_object()) bad(where, "files must be an object of role: path");
    for (const auto& [role, path] : files->items()) {
      if (!path.is_string() || path.get_ref<const std::string&>().empty()) {
        bad(where, "files." + role + " must be a non-empty path");
      }
      std::filesystem::path file = path.get<std::string>();
      spec.files[role] = file.is_absolute() ? file : base_dir / file;
    }
  }
  if (auto options = entry.find("options"); options != entry.end()) {
    if (!options->is_object()) bad(where, "options must be an object");
    spec.options = *options;
  }
  return spec;
}

std::unique_ptr<Model> load_piper_voice(const ModelSpec& spec, const ModelResources& resources) {
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
  auto text = read_file(spec.files.at("config"), kMaxConfigBytes * 8);
  if (!text)
    throw ModelError(ErrorCode::kModelError, where + "cannot read " + spec.files.at("config").string());
  PiperVoiceConfig config = parse_piper_voice_config(*text);
  if (!resources.load_vits) throw ConfigError(where + "piper voices need the worker's LibTorch plugin");
  return std::make_unique<PiperVoice>(spec.name, std::move(config),
                                      resources.load_vits(spec.files.at("model"), spec.device), options);
}

}  // namespace

// Here rather than in model.cpp: the LibTorch plugin links model.cpp and must not pull espeak-ng in.
std::unique_ptr<Model> create_builtin_model(const std::string& name) {
  if (name == "espeak") return std::make_unique<EspeakTts>();
  if (name == "noop") return std::make_unique<NoopModel>();
  throw ConfigError("unknown model '" + name + "' (built-in models: espeak, noop)");
}

const std::vector<std::string>& known_backends() {
  static const std::vector<std::string> backends{"espeak",   "liveportrait", "noop", "piper",
                                                 "portrait", "wav2lip",      "xtts"};
  return backends;
}

bool is_video_backend(const std::string& backend) {
  return backend == "portrait" || backend == "liveportrait" || backend == "wav2lip";
}

std::vector<ModelSpec> parse_model_registry(std::string_view json_text,
                                            const std::filesystem::path& base_dir) {
  auto json = parse_json_or_discarded(json_text);
  if (json.is_discarded()) throw ConfigError("model registry: not valid JSON");
  if (!json.is_object() || !json.contains("models") || !json["models"].is_array()) {
    throw ConfigError("model registry: expected {\"models\": [...]}");
  }
  for (const auto& [field, value] : json.items()) {
    if (field != "models" && field != "comment")
      throw ConfigError("model registry: unknown field '" + field + "'");
  }
  std::vector<ModelSpec> specs;
  std::set<std::string> names;
  for (size_t i = 0; i < json["models"].size(); ++i) {
    ModelSpec spec = parse_entry(json["models"][i], i, base_dir);
    if (!names.insert(spec.name).second)
      throw ConfigError("model registry: model '" + spec.name + "' is listed twice");
    specs.push_back(std::move(spec));
  }
  if (specs.empty()) throw ConfigError("model registry: lists no model");
  return specs;
}

std::vector<ModelSpec> read_model_registry(const std::filesystem::path& file) {
  auto text = read_file(file, kMaxConfigBytes);
  if (!text) throw ConfigError("model registry: cannot read " + file.string());
  try {
    return parse_model_registry(*text, file.parent_path());
  } catch (const ConfigError& error) {
    throw ConfigError(file.string() + ": " + error.what());
  }
}

std::vector<ModelSpec> specs_from_names(const std::vector<std::string>& names) {
  std::vector<ModelSpec> specs;
  for (const auto& name : names) {
    if (name != "espeak" && name != "noop" && name != "portrait") {
      throw ConfigError("WORKER_MODELS: unknown built-in model '" + name +
                        "' (built-ins: espeak, noop, portrait); describe others in a WORKER_CONFIG file");
    }
    ModelSpec spec;
    spec.name = name;
    spec.backend = name;
    if (name == "portrait") spec.kind = "video";
    spec.warmup = false;  // built-ins start in milliseconds; nothing to warm
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::unique_ptr<Model> load_model(const ModelSpec& spec, const ModelResources& resources) {
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
  std::unique_ptr<Model> model;
  if (spec.backend == "piper") {
    model = load_piper_voice(spec, resources);
  } else if (spec.backend == "xtts") {
    if (!resources.load_torch_model)
      throw ConfigError("model " + spec.name + ": xtts needs the worker's LibTorch plugin");
    model = resources.load_torch_model(spec);
  } else if (is_video_backend(spec.backend)) {
    if (!resources.load_video_model) {
      throw ConfigError("model " + spec.name +
                        ": this build has no video support (OpenCV and FFmpeg were not found)");
    }
    model = resources.load_video_model(spec);
  } else if (spec.backend == "noop") {
    for (const auto& [key, value] : spec.options.items()) {
      if (key != "cloning" || !value.is_boolean()) {
        throw ConfigError("model " + spec.name + ": options." + key +
                          ": noop takes only cloning (true/false)");
      }
    }
    model = std::make_unique<NoopModel>(spec.options.value("cloning", false), resources.noop_drills);
  } else {
    model = create_builtin_model(spec.backend);
  }
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
