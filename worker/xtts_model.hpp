#pragma once
// XTTS-v2 as a worker model (backend "xtts"): the native engine of models/xtts/torch behind the torch-free
// Model interface, in the LibTorch plugin. Voices are computed from the job's speaker_wav and kept in an
// in-memory LRU cache keyed by the reference's SHA-256, so the second job with the same voice skips the
// conditioning encoders.

#include <memory>
#include <string>

#include "models/model.hpp"
#include "models/registry.hpp"

namespace gpufleet::worker {

// `spec.files.config` is the model folder's config.json (vocab.json and model.safetensors or model.pth
// beside it); options: {"voice_cache": N (entries, default 32)}. `device` as select_device takes it.
// Throws ModelError or ConfigError.
std::unique_ptr<models::Model> load_xtts_model(const models::ModelSpec& spec, const std::string& device);

}  // namespace gpufleet::worker
