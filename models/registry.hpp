#pragma once
// The model registry: which models a worker serves, from a JSON file (WORKER_CONFIG; the format is in
// docs/models.md and deploy/models.example.json) or, for a quick start, from a list of built-in names
// (WORKER_MODELS). Parsing checks every field and says which one is wrong; loading happens in the worker,
// one model at a time, so that a model that fails is reported and the rest are served.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "models/model.hpp"
#include "models/vits_synthesizer.hpp"

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

// The backends this build knows.
const std::vector<std::string>& known_backends();
// portrait, liveportrait, wav2lip: served through ModelResources::load_video_model.
bool is_video_backend(const std::string& backend);

// Parses a registry file's text. `base_dir` resolves relative file paths. Throws ConfigError naming the
// model and field at fault; unknown fields are refused too, so that a typo does not go unnoticed.
std::vector<ModelSpec> parse_model_registry(std::string_view json_text,
                                            const std::filesystem::path& base_dir);
std::vector<ModelSpec> read_model_registry(const std::filesystem::path& file);
// WORKER_MODELS=espeak,noop: each name is a built-in backend with default settings.
std::vector<ModelSpec> specs_from_names(const std::vector<std::string>& names);

// What a process lends the registry: loaders for models that need LibTorch (the worker's plugin), and the
// worker's settings that built-in models follow.
struct ModelResources {
  bool noop_drills = false;  // NOOP_DRILLS=1: the noop model's hang_ms/fail/crash drills are served
  std::function<std::unique_ptr<VitsSynthesizer>(const std::filesystem::path& file,
                                                 const std::string& device)>
      load_vits;
  // Backends that live wholly in the LibTorch plugin ("xtts").
  std::function<std::unique_ptr<Model>(const ModelSpec& spec)> load_torch_model;
  // The talking-head backends ("portrait"; "liveportrait" and "wav2lip" with the LibTorch plugin's
  // renderers), where the build has OpenCV and FFmpeg (models/video).
  std::function<std::unique_ptr<Model>(const ModelSpec& spec)> load_video_model;
};

// Creates the model a spec describes and checks its files. Throws ModelError or ConfigError (also for a
// max_batch above 1 on a model that cannot batch, and for a LibTorch backend without `resources`).
std::unique_ptr<Model> load_model(const ModelSpec& spec, const ModelResources& resources = {});

}  // namespace gpufleet::models
