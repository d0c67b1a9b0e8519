#include "models/piper/torch/torchscript_vits.hpp"

#include <torch/script.h>

#include <algorithm>

#include "common/error.hpp"
#include "models/torch/torch_device.hpp"

namespace gpufleet::models {
namespace {

// LibTorch reports device memory exhaustion as a c10::Error whose text says so (a subclass only in 2.x).
[[noreturn]] void rethrow_as_model_error(const std::exception& error, const std::string& during) {
  const std::string message = error.what();
  const bool oom = message.find("out of memory") != std::string::npos;
  // c10::Error's text carries a C++ backtrace after its first line; the first line is what helps.
  const std::string first_line = message.substr(0, message.find('\n'));
  throw ModelError(oom ? ErrorCode::kOutOfMemory : ErrorCode::kModelError, during + ": " + first_line);
}

class TorchScriptVits final : public models::VitsSynthesizer {
 public:
  TorchScriptVits(const std::filesystem::path& file, const DeviceInfo& device)
      : device_name_(device.name), device_(torch_device(device)) {
    try {
      module_ = torch::jit::load(file.string(), device_);
    } catch (const std::exception& error) {
      rethrow_as_model_error(error, "cannot load TorchScript voice " + file.filename().string());
    }
    module_.eval();
  }

  std::string device() const override { return device_name_; }

  std::vector<std::vector<float>> synthesize(const std::vector<models::VitsSequence>& batch,
                                             const models::VitsScales& scales) override {
    if (batch.empty()) return {};
    try {
      return run(batch, scales);
    } catch (const FleetError&) {
      throw;
    } catch (const std::exception& error) {
      rethrow_as_model_error(error, "TorchScript voice on " + device_name_);
    }
  }

 private:
  std::vector<std::vector<float>> run(const std::vector<models::VitsSequence>& batch,
                                      const models::VitsScales& scales) {
    c10::InferenceMode inference;
    const int64_t size = static_cast<int64_t>(batch.size());
    int64_t longest = 0;
    for (const auto& sequence : batch)
      longest = std::max<int64_t>(longest, static_cast<int64_t>(sequence.ids.size()));
    if (longest == 0) throw ModelError(ErrorCode::kInvalidInput, "nothing to say: no phoneme ids");

    // Filled on the host, moved once: padding is id 0 (PAD in Piper's maps), masked by `lengths` anyway.
    auto ids = torch::zeros({size, longest}, torch::kLong);
    auto lengths = torch::empty({size}, torch::kLong);
    auto speakers = torch::empty({size}, torch::kLong);
    auto ids_view = ids.accessor<int64_t, 2>();
    for (int64_t i = 0; i < size; ++i) {
      const auto& sequence = batch[static_cast<size_t>(i)];
      for (size_t j = 0; j < sequence.ids.size(); ++j) ids_view[i][static_cast<int64_t>(j)] = sequence.ids[j];
      lengths[i] = static_cast<int64_t>(sequence.ids.size());
      speakers[i] = sequence.speaker;
    }
    auto scalar = [&](float value) { return torch::full({1}, value, torch::kFloat).to(device_); };
    std::vector<torch::jit::IValue> inputs{ids.to(device_),
                                           lengths.to(device_),
                                           speakers.to(device_),
                                           scalar(scales.noise_scale),
                                           scalar(scales.length_scale),
                                           scalar(scales.noise_w)};
    const torch::jit::IValue output = module_.forward(inputs);

    torch::Tensor audio;
    torch::Tensor frame_mask;
    if (output.isTuple()) {
      const auto& elements = output.toTuple()->elements();
      if (elements.empty() || !elements[0].isTensor())
        throw ModelError(ErrorCode::kModelError, "voice answered no audio tensor");
      audio = elements[0].toTensor();
      if (elements.size() >= 3 && elements[2].isTensor()) frame_mask = elements[2].toTensor();
    } else if (output.isTensor()) {
      audio = output.toTensor();
    } else {
      throw ModelError(ErrorCode::kModelError, "voice answered neither a tensor nor a tuple");
    }
    if (audio.dim() < 1 || audio.size(0) != size || audio.numel() % size != 0) {
      throw ModelError(ErrorCode::kModelError, "voice audio has shape " + shape_of(audio) +
                                                   " for a batch of " + std::to_string(size));
    }
    audio = audio.reshape({size, -1}).to(torch::kCPU, torch::kFloat).contiguous();
    const int64_t samples = audio.size(1);

    std::vector<int64_t> keep(static_cast<size_t>(size), samples);
    if (frame_mask.defined()) {
      const auto frames_per_item = frame_mask.reshape({size, -1}).to(torch::kCPU, torch::kFloat).sum(1);
      const int64_t frames = frame_mask.size(-1);
      if (frames <= 0 || samples % frames != 0) {
        throw ModelError(ErrorCode::kModelError, "voice audio (" + std::to_string(samples) +
                                                     " samples) is not a whole number of frames (" +
                                                     std::to_string(frames) + ")");
      }
      const int64_t hop = samples / frames;
      for (int64_t i = 0; i < size; ++i) {
        keep[static_cast<size_t>(i)] = std::min(samples, frames_per_item[i].item<int64_t>() * hop);
      }
    } else if (size > 1) {
      throw ModelError(ErrorCode::kModelError,
                       "voice returns no frame mask, so a padded batch cannot be cut; "
                       "set max_batch 1 for it");
    }
    std::vector<std::vector<float>> waves(static_cast<size_t>(size));
    const float* data = audio.data_ptr<float>();
    for (int64_t i = 0; i < size; ++i) {
      const float* row = data + i * samples;
      waves[static_cast<size_t>(i)].assign(row, row + keep[static_cast<size_t>(i)]);
    }
    return waves;
  }

  static std::string shape_of(const torch::Tensor& tensor) {
    std::string text = "[";
    for (int64_t d = 0; d < tensor.dim(); ++d) text += (d == 0 ? "" : ",") + std::to_string(tensor.size(d));
    return text + "]";
  }

  std::string device_name_;
  torch::Device device_;
  torch::jit::script::Module module_;
};

}  // namespace

std::unique_ptr<models::VitsSynthesizer> load_torchscript_vits(const std::filesystem::path& file,
                                                               const std::string& device) {
  return std::make_unique<TorchScriptVits>(file, select_device(device));
}

}  // namespace gpufleet::models
