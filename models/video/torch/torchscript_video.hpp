#pragma once
// Neural talking-head renderers over TorchScript modules (backends "liveportrait" and "wav2lip"), behind the
// torch-free video::FaceRenderer. The modules' interface, and how to export the real models to it, is in
// docs/video.md ("GPU backends").

#include <memory>
#include <string>

#include "models/registry.hpp"
#include "models/video/face_renderer.hpp"

namespace gpufleet::video {

// spec.files.dir holds the modules; spec.options: crop_size, frame_batch, and the family's own settings.
// Throws ConfigError for bad options and ModelError for modules that are missing or do not load.
std::unique_ptr<video::FaceRenderer> load_torchscript_face_renderer(const models::ModelSpec& spec,
                                                                    const std::string& device);

}  // namespace gpufleet::video
