#include "models/registry.hpp"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json_text.hpp"
#include "models/backend_registry.hpp"

namespace gpufleet::models {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

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
  static const BackendRegistry kBackends = BackendRegistry::standard();
  const Backend* backend = kBackends.find(spec.backend);
  spec.kind = string_field(entry, "kind", where, backend != nullptr ? backend->kind : "tts");
  if (spec.kind != "tts" && spec.kind != "video") bad(where, "kind must be tts or video");
  if (backend == nullptr) {
    std::string list;
    for (const auto& known : kBackends.backends()) list += (list.empty() ? "" : ", ") + known.name;
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

}  // namespace

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

}  // namespace gpufleet::models
