#pragma once
// XTTS-v2 as a worker model (backend "xtts"): the native engine of models/xtts/torch behind the torch-free
// Model interface, in the LibTorch plugin. A voice (conditioning latents and speaker embedding) is computed
// from the job's speaker_wav once: kept in an in-memory LRU keyed by the reference's SHA-256 within its
// tenant's upload folder (xtts::voice_key: one API key's voice is never another's cache hit), whose
// references the worker advertises so that the broker sends jobs with them here, and saved to the fleet's
// voice store (models/xtts/voice_store.hpp) so that other workers load it instead of computing it. A job's
// result says where its voice came from: voice_cache "memory", "shared" or "miss". A job may instead name
// one of the checkpoint's speakers (`speaker`, from speakers_xtts.pth), whose voices are loaded once.

#include <memory>
#include <string>

#include "models/model.hpp"
#include "models/registry.hpp"

namespace gpufleet::xtts {

// `spec.files.config` is the model folder's config.json (vocab.json and model.safetensors or model.pth
// beside it); `spec.files.speakers` the named speakers (default: speakers_xtts.pth beside it, if there);
// options: {"voice_cache": N (entries in memory, default 32), "voice_store": "/absolute/folder" or false (the
// worker fills in its VOICE_STORE when absent)}. `device` as select_device takes it. Throws ModelError or
// ConfigError.
std::unique_ptr<models::Model> load_xtts_model(const models::ModelSpec& spec, const std::string& device);

}  // namespace gpufleet::xtts
