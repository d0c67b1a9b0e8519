#include "models/video/torch/torchscript_video.hpp"

#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "common/error.hpp"
#include "models/torch/torch_device.hpp"
#include "models/xtts/torch/mel.hpp"
#include "models/xtts/torch/speaker.hpp"

namespace gpufleet::video {

using models::DeviceInfo;
using models::select_device;
using models::torch_device;
namespace {

namespace fs = std::filesystem;

[[noreturn]] void rethrow_as_model_error(const std::exception& error, const std::string& during) {
  const std::string message = error.what();
  const bool oom = message.find("out of memory") != std::string::npos;
  throw ModelError(oom ? ErrorCode::kOutOfMemory : ErrorCode::kModelError,
                   during + ": " + message.substr(0, message.find('\n')));
}

struct Common {
  fs::path dir;
  DeviceInfo device;
  c10::Device torch_device{c10::DeviceType::CPU};
  torch::Dtype dtype = torch::kFloat32;
  int crop_size = 0;
  size_t frame_batch = 0;
  nlohmann::json options;  // the family's own, validated by it
};

double number_option(const nlohmann::json& options, const char* key, double fallback, double low, double high,
                     const std::string& where) {
  auto value = options.find(key);
  if (value == options.end()) return fallback;
  if (!value->is_number() || value->get<double>() < low || value->get<double>() > high) {
    throw ConfigError(where + key + " must be a number from " + std::to_string(low) + " to " +
                      std::to_string(high));
  }
  return value->get<double>();
}

torch::jit::Module load_module(const Common& common, const char* name) {
  const fs::path file = common.dir / name;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw ModelError(ErrorCode::kModelError,
                     "missing TorchScript module " + file.filename().string() + " in files.dir");
  }
  try {
    auto module = torch::jit::load(file.string(), common.torch_device);
    module.eval();
    module.to(common.dtype);
    return module;
  } catch (const std::exception& error) {
    rethrow_as_model_error(error, "cannot load " + file.filename().string());
  }
}

// BGR uint8 HWC crop -> [1, 3, S, S] in [0, 1] on the device, in the module dtype; RGB order if asked.
torch::Tensor image_tensor(const uint8_t* bgr, int size, const Common& common, bool rgb) {
  auto image = torch::from_blob(const_cast<uint8_t*>(bgr), {1, size, size, 3}, torch::kUInt8)
                   .to(common.torch_device)
                   .permute({0, 3, 1, 2})
                   .to(torch::kFloat32)
                   .div(255.0);
  if (rgb) image = image.flip({1});
  return image.to(common.dtype).contiguous();
}

// Runs `work`, turning LibTorch's exceptions into ModelError (kOutOfMemory when the device ran out).
template <typename Work>
auto guarded(const std::string& during, Work&& work) {
  try {
    return work();
  } catch (const FleetError&) {
    throw;
  } catch (const std::exception& error) {
    rethrow_as_model_error(error, during);
  }
}

// `what`'s output [B, 3, S, S] in [0, 1], checked, -> B BGR uint8 HWC images in `out`.
void write_images(const torch::Tensor& images, int64_t batch, int size, bool rgb, const char* what,
                  uint8_t* out) {
  if (images.dim() != 4 || images.size(0) != batch || images.size(1) != 3 || images.size(2) != size ||
      images.size(3) != size) {
    throw ModelError(ErrorCode::kModelError,
                     std::string(what) + " must return [batch, 3, crop_size, crop_size]");
  }
  auto frames = images.to(torch::kFloat32).clamp(0, 1).mul(255).round().to(torch::kUInt8);
  if (rgb) frames = frames.flip({1});
  frames = frames.permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
  std::memcpy(out, frames.data_ptr<uint8_t>(), static_cast<size_t>(frames.numel()));
}

torch::Tensor first_tensor(const c10::IValue& value, const char* what) {
  if (value.isTensor()) return value.toTensor();
  if (value.isTuple() && !value.toTupleRef().elements().empty() &&
      value.toTupleRef().elements()[0].isTensor()) {
    return value.toTupleRef().elements()[0].toTensor();
  }
  throw ModelError(ErrorCode::kModelError, std::string(what) + " did not return a tensor");
}

// LivePortrait's rotation from pitch, yaw, roll in degrees (x, y, z), [B] each -> [B, 3, 3], transposed as
// upstream's get_rotation_matrix answers it (keypoints are row vectors multiplied on the right).
torch::Tensor rotation(const torch::Tensor& pitch, const torch::Tensor& yaw, const torch::Tensor& roll) {
  const double to_rad = M_PI / 180.0;
  auto x = pitch * to_rad, y = yaw * to_rad, z = roll * to_rad;
  auto one = torch::ones_like(x), zero = torch::zeros_like(x);
  auto rot_x =
      torch::stack({one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos()}, 1).view({-1, 3, 3});
  auto rot_y =
      torch::stack({y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()}, 1).view({-1, 3, 3});
  auto rot_z =
      torch::stack({z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one}, 1).view({-1, 3, 3});
  return torch::matmul(torch::matmul(rot_z, rot_y), rot_x).transpose(1, 2);
}

// --- LivePortrait
// --------------------------------------------------------------------------------------------

struct LivePortraitSettings {
  double lip_open_ratio = 0.5;    // the lip ratio a fully open mouth in the plan asks for
  double source_lip_ratio = 0.0;  // the portrait's own (a closed mouth)
  double eye_open_ratio = 0.35;   // the portrait's eye ratio; a blink drives it to 0
  double head_degrees = 60.0;     // degrees of yaw / pitch per face width of the plan's head shift
};

struct LivePortraitModules {
  torch::jit::Module appearance, motion, warping, generator, stitching, lip, eye;
};

class LivePortraitSession final : public video::FaceRenderSession {
 public:
  LivePortraitSession(LivePortraitModules& modules, const Common& common,
                      const LivePortraitSettings& settings, const video::FaceRenderJob& job)
      : modules_(modules), common_(common), settings_(settings) {
    c10::InferenceMode inference;
    auto source = image_tensor(job.bgr, common.crop_size, common, /*rgb=*/true);
    feature_ = first_tensor(modules_.appearance.forward({source}), "appearance_feature_extractor");
    auto info = modules_.motion.forward({source});
    if (!info.isTuple() || info.toTupleRef().elements().size() != 7) {
      throw ModelError(ErrorCode::kModelError,
                       "motion_extractor must return (kp, pitch, yaw, roll, t, exp, scale)");
    }
    std::vector<torch::Tensor> parts;
    for (const auto& element : info.toTupleRef().elements()) parts.push_back(element.toTensor());
    kp_ = parts[0].reshape({1, -1, 3});
    pitch_ = parts[1].reshape({1});
    yaw_ = parts[2].reshape({1});
    roll_ = parts[3].reshape({1});
    t_ = parts[4].reshape({1, 3});
    exp_ = parts[5].reshape({1, -1, 3});
    scale_ = parts[6].reshape({1, 1, 1});
    if (exp_.size(1) != kp_.size(1))
      throw ModelError(ErrorCode::kModelError, "motion_extractor: kp and exp differ in size");
    source_kp_ = transform(pitch_, yaw_, roll_);
  }

  void render(size_t /*first*/, std::span<const video::FrameMotion> motions, uint8_t* bgr_out) override {
    guarded("liveportrait on " + common_.device.name, [&] {
      c10::InferenceMode inference;
      const auto batch = static_cast<int64_t>(motions.size());
      std::vector<float> pitch(batch), yaw(batch), roll(batch), lip(batch * 2), eye(batch * 3);
      for (int64_t i = 0; i < batch; ++i) {
        const auto& motion = motions[static_cast<size_t>(i)];
        pitch[i] = static_cast<float>(motion.dy * settings_.head_degrees);
        yaw[i] = static_cast<float>(motion.dx * settings_.head_degrees);
        roll[i] = motion.roll_deg;
        lip[i * 2] = static_cast<float>(settings_.source_lip_ratio);
        lip[i * 2 + 1] = static_cast<float>(motion.mouth_open * settings_.lip_open_ratio);
        eye[i * 3] = eye[i * 3 + 1] = static_cast<float>(settings_.eye_open_ratio);
        eye[i * 3 + 2] = static_cast<float>(settings_.eye_open_ratio * (1.0 - motion.blink));
      }
      auto on_device = [this](std::vector<float>& values, std::vector<int64_t> shape) {
        return torch::from_blob(values.data(), shape, torch::kFloat32)
            .to(common_.torch_device)
            .to(common_.dtype);
      };
      auto driving = transform(pitch_ + on_device(pitch, {batch}), yaw_ + on_device(yaw, {batch}),
                               roll_ + on_device(roll, {batch}));
      const int64_t points = kp_.size(1);
      auto source_flat = source_kp_.reshape({1, -1}).expand({batch, -1});
      auto lip_delta = first_tensor(
          modules_.lip.forward({torch::cat({source_flat, on_device(lip, {batch, 2})}, 1)}), "lip");
      auto eye_delta = first_tensor(
          modules_.eye.forward({torch::cat({source_flat, on_device(eye, {batch, 3})}, 1)}), "eye");
      driving = driving + (lip_delta + eye_delta).reshape({batch, points, 3});
      // Stitching keeps the animated face seamless with the portrait it is pasted back into.
      auto stitch = first_tensor(
          modules_.stitching.forward({torch::cat({source_flat, driving.reshape({batch, -1})}, 1)}),
          "stitching");
      driving = driving + stitch.narrow(1, 0, points * 3).reshape({batch, points, 3});
      auto shift = torch::zeros({batch, points, 3}, driving.options());
      shift.narrow(2, 0, 2).copy_(stitch.narrow(1, points * 3, 2).unsqueeze(1).expand({batch, points, 2}));
      driving = driving + shift;

      auto features = feature_.expand({batch, -1, -1, -1, -1});
      auto warped =
          first_tensor(modules_.warping.forward({features, source_kp_.expand({batch, -1, -1}), driving}),
                       "warping_module");
      auto images = first_tensor(modules_.generator.forward({warped}), "spade_generator");
      write_images(images, batch, common_.crop_size, /*rgb=*/true, "spade_generator", bgr_out);
    });
  }

 private:
  // Upstream's transform_keypoint: scale * (kp @ R + exp), then the translation's x and y.
  torch::Tensor transform(const torch::Tensor& pitch, const torch::Tensor& yaw,
                          const torch::Tensor& roll) const {
    const int64_t batch = pitch.size(0);
    auto kp = torch::matmul(kp_.expand({batch, -1, -1}), rotation(pitch, yaw, roll).to(kp_.dtype())) +
              exp_.expand({batch, -1, -1});
    kp = kp * scale_;
    auto shift = torch::zeros_like(kp);
    shift.narrow(2, 0, 2).copy_(t_.narrow(1, 0, 2).unsqueeze(1).expand({batch, kp.size(1), 2}));
    return kp + shift;
  }

  LivePortraitModules& modules_;
  const Common& common_;
  const LivePortraitSettings& settings_;
  torch::Tensor feature_, kp_, pitch_, yaw_, roll_, t_, exp_, scale_, source_kp_;
};

class LivePortraitRenderer final : public video::FaceRenderer {
 public:
  LivePortraitRenderer(Common common, const std::string& where) : common_(std::move(common)) {
    settings_.lip_open_ratio = number_option(common_.options, "lip_open_ratio", 0.5, 0, 2, where);
    settings_.source_lip_ratio = number_option(common_.options, "source_lip_ratio", 0.0, 0, 2, where);
    settings_.eye_open_ratio = number_option(common_.options, "eye_open_ratio", 0.35, 0, 2, where);
    settings_.head_degrees = number_option(common_.options, "head_degrees", 60, 0, 600, where);
    modules_.appearance = load_module(common_, "appearance_feature_extractor.pt");
    modules_.motion = load_module(common_, "motion_extractor.pt");
    modules_.warping = load_module(common_, "warping_module.pt");
    modules_.generator = load_module(common_, "spade_generator.pt");
    modules_.stitching = load_module(common_, "stitching.pt");
    modules_.lip = load_module(common_, "lip_retargeting.pt");
    modules_.eye = load_module(common_, "eye_retargeting.pt");
  }
  std::string family() const override { return "liveportrait"; }
  std::string device() const override { return common_.device.name; }
  int crop_size() const override { return common_.crop_size; }
  size_t frame_batch() const override { return common_.frame_batch; }
  bool animates_head() const override { return true; }
  std::unique_ptr<video::FaceRenderSession> begin(const video::FaceRenderJob& job) override {
    return guarded("liveportrait on " + common_.device.name,
                   [&]() -> std::unique_ptr<video::FaceRenderSession> {
                     return std::make_unique<LivePortraitSession>(modules_, common_, settings_, job);
                   });
  }

 private:
  Common common_;
  LivePortraitSettings settings_;
  LivePortraitModules modules_;
};

// --- Wav2Lip
// -------------------------------------------------------------------------------------------------

// Wav2Lip's audio.melspectrogram: 16 kHz, pre-emphasis 0.97, STFT 800/200/800, 80 Slaney mels over 55-7600
// Hz, 20 log10 (floor 1e-5) - 20 dB, scaled symmetrically to [-4, 4]. -> [80, frames]
torch::Tensor wav2lip_mel(std::span<const int16_t> speech, uint32_t sample_rate, const c10::Device& device) {
  std::vector<float> samples(speech.size());
  for (size_t i = 0; i < speech.size(); ++i) samples[i] = static_cast<float>(speech[i]) / 32768.0f;
  auto wav =
      torch::from_blob(samples.data(), {1, static_cast<int64_t>(samples.size())}, torch::kFloat32).to(device);
  wav = xtts::resample(wav, sample_rate, 16000);
  if (wav.size(1) < 2) wav = torch::constant_pad_nd(wav, {0, 2 - wav.size(1)});
  auto emphasised = torch::cat(
      {wav.narrow(1, 0, 1), wav.narrow(1, 1, wav.size(1) - 1) - 0.97 * wav.narrow(1, 0, wav.size(1) - 1)}, 1);
  // Reflect padding needs more samples than half the FFT size.
  if (emphasised.size(1) <= 400)
    emphasised = torch::constant_pad_nd(emphasised, {0, 401 - emphasised.size(1)});
  xtts::MelSettings settings;
  settings.sample_rate = 16000;
  settings.n_fft = 800;
  settings.hop_length = 200;
  settings.win_length = 800;
  settings.n_mels = 80;
  settings.f_min = 55;
  settings.f_max = 7600;
  settings.scale = xtts::MelScale::kSlaney;
  settings.slaney_norm = true;
  settings.power = 1.0;
  auto mel = xtts::mel_spectrogram(emphasised, settings)[0];
  auto db = 20.0 * torch::log10(torch::clamp_min(mel, 1e-5)) - 20.0;
  return torch::clamp(8.0 * ((db + 100.0) / 100.0) - 4.0, -4.0, 4.0);
}

class Wav2LipSession final : public video::FaceRenderSession {
 public:
  Wav2LipSession(torch::jit::Module& module, const Common& common, const video::FaceRenderJob& job)
      : module_(module), common_(common), fps_(job.fps) {
    c10::InferenceMode inference;
    faces_ = faces_of(image_tensor(job.bgr, common.crop_size, common, /*rgb=*/false));
    mel_ = wav2lip_mel(job.speech, job.sample_rate, common.torch_device);
    if (mel_.size(1) < kMelStep) mel_ = torch::constant_pad_nd(mel_, {0, kMelStep - mel_.size(1)}, -4.0);
    mel_ = mel_.to(common.dtype);
  }

  void render(size_t first, std::span<const video::FrameMotion> motions, uint8_t* bgr_out) override {
    render_with(first, motions, nullptr, bgr_out);
  }

  void render_sources(size_t first, std::span<const video::FrameMotion> motions, const uint8_t* sources,
                      uint8_t* bgr_out) override {
    render_with(first, motions, sources, bgr_out);
  }

 private:
  static constexpr int64_t kMelStep = 16;

  // Upstream's input: the lower half of the reference hidden, then the reference, channels stacked.
  torch::Tensor faces_of(const torch::Tensor& reference) const {
    auto masked = reference.clone();
    masked.narrow(2, common_.crop_size / 2, common_.crop_size - common_.crop_size / 2).zero_();
    return torch::cat({masked, reference}, 1);
  }

  // `sources` null: the job's one reference for every frame.
  void render_with(size_t first, std::span<const video::FrameMotion> motions, const uint8_t* sources,
                   uint8_t* bgr_out) {
    guarded("wav2lip on " + common_.device.name, [&] {
      c10::InferenceMode inference;
      const auto batch = static_cast<int64_t>(motions.size());
      std::vector<torch::Tensor> chunks;
      const int64_t frames = mel_.size(1);
      for (int64_t i = 0; i < batch; ++i) {
        // 80 mel frames per second of audio; upstream's index of a video frame's 16-frame window.
        auto start = static_cast<int64_t>(80.0 * static_cast<double>(first + static_cast<size_t>(i)) / fps_);
        start = std::min(start, frames - kMelStep);
        chunks.push_back(mel_.narrow(1, start, kMelStep));
      }
      auto mels = torch::stack(chunks).unsqueeze(1);  // [B, 1, 80, 16]
      torch::Tensor faces = faces_.expand({batch, -1, -1, -1});
      if (sources != nullptr) {
        const size_t crop_bytes = static_cast<size_t>(common_.crop_size) * common_.crop_size * 3;
        std::vector<torch::Tensor> each;
        for (int64_t i = 0; i < batch; ++i) {
          each.push_back(faces_of(image_tensor(sources + static_cast<size_t>(i) * crop_bytes,
                                               common_.crop_size, common_, /*rgb=*/false)));
        }
        faces = torch::cat(each, 0);
      }
      auto images = first_tensor(module_.forward({mels, faces}), "wav2lip");
      write_images(images, batch, common_.crop_size, /*rgb=*/false, "wav2lip", bgr_out);
    });
  }

  torch::jit::Module& module_;
  const Common& common_;
  double fps_;
  torch::Tensor faces_, mel_;
};

class Wav2LipRenderer final : public video::FaceRenderer {
 public:
  explicit Wav2LipRenderer(Common common)
      : common_(std::move(common)), module_(load_module(common_, "wav2lip.pt")) {}
  std::string family() const override { return "wav2lip"; }
  std::string device() const override { return common_.device.name; }
  int crop_size() const override { return common_.crop_size; }
  size_t frame_batch() const override { return common_.frame_batch; }
  bool animates_head() const override { return false; }
  bool renders_frame_sources() const override { return true; }
  std::unique_ptr<video::FaceRenderSession> begin(const video::FaceRenderJob& job) override {
    return guarded("wav2lip on " + common_.device.name, [&]() -> std::unique_ptr<video::FaceRenderSession> {
      return std::make_unique<Wav2LipSession>(module_, common_, job);
    });
  }

 private:
  Common common_;
  torch::jit::Module module_;
};

}  // namespace

std::unique_ptr<video::FaceRenderer> load_torchscript_face_renderer(const models::ModelSpec& spec,
                                                                    const std::string& device) {
  const std::string where = "model " + spec.name + ": options.";
  const bool liveportrait = spec.backend == "liveportrait";
  if (!liveportrait && spec.backend != "wav2lip")
    throw ConfigError("no neural face renderer '" + spec.backend + "'");
  auto dir = spec.files.find("dir");
  if (dir == spec.files.end())
    throw ConfigError("model " + spec.name + ": " + spec.backend + " needs files.dir");
  Common common;
  common.dir = dir->second;
  common.device = select_device(device);
  common.torch_device = torch_device(common.device);
  // Half precision only where it is fast; on a CPU it would only be slower and less exact.
  if (common.device.type != "cpu") {
    if (spec.dtype == "float16") common.dtype = torch::kFloat16;
    if (spec.dtype == "bfloat16") common.dtype = torch::kBFloat16;
  }
  static const std::set<std::string> kShared{"crop_size",  "frame_batch", "crop_scale", "fps",
                                             "max_pixels", "max_audio_s", "crf",        "size"};
  static const std::set<std::string> kLivePortrait{"lip_open_ratio", "source_lip_ratio", "eye_open_ratio",
                                                   "head_degrees"};
  for (const auto& [key, value] : spec.options.items()) {
    if (kShared.count(key) == 0 && (!liveportrait || kLivePortrait.count(key) == 0)) {
      throw ConfigError(where + key + " is not an option of " + spec.backend);
    }
  }
  common.crop_size =
      static_cast<int>(number_option(spec.options, "crop_size", liveportrait ? 256 : 96, 32, 1024, where));
  common.frame_batch = static_cast<size_t>(number_option(spec.options, "frame_batch", 16, 1, 256, where));
  common.options = spec.options;
  if (liveportrait) return std::make_unique<LivePortraitRenderer>(std::move(common), where);
  return std::make_unique<Wav2LipRenderer>(std::move(common));
}

}  // namespace gpufleet::video
