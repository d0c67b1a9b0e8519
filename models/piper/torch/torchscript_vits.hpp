#pragma once
// A VITS voice exported to TorchScript (Piper's export, or any module with the same interface), run through
// LibTorch: part of the plugin libgpufleet_torch.so. The module is called as
//   forward(ids[B,T] long, lengths[B] long, sid[B] long, noise_scale[1], length_scale[1], noise_w[1])
// and answers the audio [B,1,S] (or [B,S]), or a tuple whose first element is the audio and whose third is
// the frame mask y_mask [B,1,F] (Piper's traced `infer`): S/F samples per frame gives each item's length, so
// a padded batch can be cut back item by item. A module without a mask runs one sequence at a time.

#include <filesystem>
#include <memory>
#include <string>

#include "models/piper/vits_synthesizer.hpp"

namespace gpufleet::models {

// Loads the module onto `device` ("auto", "cpu", "cuda", "cuda:N", "mps"). Throws ConfigError for a device
// this host lacks, ModelError for a file LibTorch cannot load.
std::unique_ptr<models::VitsSynthesizer> load_torchscript_vits(const std::filesystem::path& file,
                                                               const std::string& device);

}  // namespace gpufleet::models
