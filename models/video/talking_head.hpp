#pragma once
// The embedded talking-head backend ("portrait", kind video): a portrait and speech in, an MP4 out, on any
// CPU. The face is found with OpenCV's cascades; the mouth follows the audio envelope; the eyes blink and
// the head sways (unless the job's mode is "lip_sync"); frames and sound are encoded by FFmpeg's libraries.
//
// Job input (paths already resolved by the worker inside its allowed folders):
//   reference_image  PNG or JPEG with one face (the largest is animated)
//   audio_path       WAV: 16-bit PCM or 32-bit float, any rate, mono or mixed to mono
//   mode             "talking_head" (default) | "lip_sync" (mouth only)
//   size             0: the portrait's own size (long side at most 1920); 128-2048: a square crop around
//                    the face at that size. Default: the model's option
//   seed             blink times and sway phases (default: from the job id)
// Model options: {"size": 0, "fps": 25, "max_pixels": 16777216, "max_audio_s": 600, "crf": 23}.

#include <memory>

#include "models/backend_registry.hpp"
#include "models/model.hpp"
#include "models/registry.hpp"
#include "models/video/face_renderer.hpp"
#include "models/video/portrait.hpp"

namespace gpufleet::video {

// `cascade_dir`: the face detector's Haar cascades (the worker passes OPENCV_HAAR_DIR). Throws ConfigError
// for bad options and ModelError when the face detectors cannot be loaded.
std::unique_ptr<models::Model> load_portrait_model(
    const models::ModelSpec& spec, const std::filesystem::path& cascade_dir = kDebianHaarCascadeDir);

// The same job around a neural face renderer (backends "liveportrait", "wav2lip"; the worker's LibTorch
// plugin loads the renderer): the face box (crop_scale face widths, default 1.8) is cropped to the renderer's
// size, rendered in batches of frames, and pasted back with a feathered edge; the rest of the frame is the
// portrait. Wav2Lip moves the mouth only, so blinks and head motion are left out for it.
std::unique_ptr<models::Model> load_neural_head_model(
    const models::ModelSpec& spec, std::unique_ptr<FaceRenderer> renderer,
    const std::filesystem::path& cascade_dir = kDebianHaarCascadeDir);

// Binds "portrait", "liveportrait" and "wav2lip" in `backends` (the last two through the LibTorch plugin's
// renderers): what a build with OpenCV and FFmpeg adds to models::BackendRegistry::standard().
void add_video_backends(models::BackendRegistry& backends);

}  // namespace gpufleet::video
