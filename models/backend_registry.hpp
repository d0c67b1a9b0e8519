#pragma once
// The backend table: every backend gpufleet knows (name -> kind, what it needs, how it is made), the one
// place that turns a registry entry (ModelSpec) into a loaded model. The worker builds the table once
// (BackendRegistry::standard(), plus video::add_video_backends where the build has OpenCV and FFmpeg) and
// lends the factories what they may use (ModelServices); a model gets its settings from its registry entry
// and those services, not from the environment. (One exception: libespeak-ng's engine, one per process and
// shared by the espeak and piper backends, takes ESPEAK_DATA_PATH when it first starts.)

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/model.hpp"
#include "models/registry.hpp"

namespace gpufleet::models {

class TorchRuntime;

// What a process lends the backends' factories. Plain settings with defaults, filled by the worker.
struct ModelServices {
  TorchRuntime* torch = nullptr;      // the LibTorch plugin; null where it is not loaded
  std::string torch_unavailable;      // why not, for the error of a model that needs it
  std::string device = "cpu";         // the worker's device: where a model on "auto" runs
  std::filesystem::path voice_store;  // the worker's VOICE_STORE for cloning models (empty: none)
  bool noop_drills = false;           // NOOP_DRILLS=1: the noop model's hang_ms/fail/crash drills are served
  std::filesystem::path haar_cascade_dir;  // OPENCV_HAAR_DIR for the video backends; empty: Debian's folder

  // The device a model runs on: its own, or the worker's for "auto" (so DEVICE=cuda:N pins a worker and its
  // models to one GPU).
  std::string device_for(const ModelSpec& spec) const;
};

using ModelFactory = std::function<std::unique_ptr<Model>(const ModelSpec&, const ModelServices&)>;

struct Backend {
  std::string name;
  std::string kind;          // tts | video: a registry entry's default kind
  bool needs_torch = false;  // made by the LibTorch plugin (wholly or in part)
  bool needs_video = false;  // needs OpenCV and FFmpeg (models/video)
  ModelFactory factory;      // empty where this build cannot make it
};

class BackendRegistry {
 public:
  // Every backend any build knows: espeak, noop, piper and xtts with their factories; portrait, liveportrait
  // and wav2lip listed without one (video::add_video_backends binds them).
  static BackendRegistry standard();

  // Gives a listed backend its factory. Throws std::logic_error for a name the table does not list.
  void bind(std::string_view name, ModelFactory factory);
  const Backend* find(std::string_view name) const;
  const std::vector<Backend>& backends() const { return backends_; }

  // Creates the model a spec describes after checking its files. Throws ModelError (a missing file) or
  // ConfigError: an unknown backend, one this build or process cannot make (no video support, no LibTorch
  // plugin), a max_batch above 1 on a model that cannot batch, a kind the backend does not serve, or what the
  // backend's own factory refuses.
  std::unique_ptr<Model> load(const ModelSpec& spec, const ModelServices& services) const;

 private:
  std::vector<Backend> backends_;
};

}  // namespace gpufleet::models
