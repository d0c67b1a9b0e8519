#pragma once
// The model registry: which models a worker serves, from a JSON file (WORKER_CONFIG; the format is in
// docs/models.md and deploy/models.example.json) or, for a quick start, from a list of built-in names
// (WORKER_MODELS). Parsing checks every field and says which one is wrong; loading (backend_registry.hpp)
// happens in the worker, one model at a time, so that a model that fails is reported and the rest are served.

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet::models {

struct ModelSpec {
  std::string name;          // what clients ask for; unique per worker
  std::string kind = "tts";  // tts | video
  std::string backend;       // espeak | noop | piper | xtts | portrait | liveportrait | wav2lip
  std::map<std::string, std::filesystem::path>
      files;                                          // role -> file, relative paths from the config's folder
  std::string device = "auto";                        // auto | cpu | cuda | cuda:N | mps
  std::string dtype = "float32";                      // float32 | float16 | bfloat16
  uint32_t max_batch = 1;                             // jobs run together at most
  uint32_t max_queue_delay_ms = 0;                    // how long a job may wait for others to batch with
  bool warmup = true;                                 // run one job before announcing the model
  nlohmann::json options = nlohmann::json::object();  // backend-specific settings
};

// Parses a registry file's text. `base_dir` resolves relative file paths. Throws ConfigError naming the
// model and field at fault; unknown fields are refused too, so that a typo does not go unnoticed.
std::vector<ModelSpec> parse_model_registry(std::string_view json_text,
                                            const std::filesystem::path& base_dir);
std::vector<ModelSpec> read_model_registry(const std::filesystem::path& file);
// WORKER_MODELS=espeak,noop: each name is a built-in backend with default settings.
std::vector<ModelSpec> specs_from_names(const std::vector<std::string>& names);

}  // namespace gpufleet::models
