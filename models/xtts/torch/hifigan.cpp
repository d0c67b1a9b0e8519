#include "models/xtts/torch/hifigan.hpp"

#include <torch/torch.h>

#include <cmath>

#include "common/error.hpp"

namespace gpufleet::xtts {
namespace F = torch::nn::functional;

namespace {

constexpr double kLeakySlope = 0.1;
// Upstream's HifiDecoder fixes these; the weights only carry the kernel sizes, which are checked against
// them.
const std::vector<int64_t> kUpsampleRates{8, 8, 2, 2};
const std::vector<int64_t> kResblockDilations{1, 3, 5};

}  // namespace

HifiganDecoder::Conv HifiganDecoder::conv(const std::string& name, int64_t dilation) const {
  Conv c;
  c.dilation = dilation;
  // Weight norm, stored either way: w = g * v / ||v|| over every dimension but the first.
  std::string g = name + ".weight_g", v = name + ".weight_v";
  if (!weights_.contains(g) && weights_.contains(name + ".parametrizations.weight.original0")) {
    g = name + ".parametrizations.weight.original0";
    v = name + ".parametrizations.weight.original1";
  }
  if (weights_.contains(g)) {
    const auto& direction = weights_.get(v);
    auto norm = direction.reshape({direction.size(0), -1}).norm(2, 1).reshape(weights_.get(g).sizes());
    c.weight = weights_.get(g) * direction / norm;
  } else {
    c.weight = weights_.get(name + ".weight");
  }
  if (weights_.contains(name + ".bias")) c.bias = weights_.get(name + ".bias");
  return c;
}

HifiganDecoder::HifiganDecoder(const Weights& weights, const XttsConfig& config)
    : weights_(weights), config_(config) {
  const std::string prefix = "hifigan_decoder.waveform_decoder";
  conv_pre_ = conv(prefix + ".conv_pre");
  conv_post_ = conv(prefix + ".conv_post");
  if (weights.contains(prefix + ".cond_layer.weight")) cond_layer_ = conv(prefix + ".cond_layer");
  const int64_t upsamples = weights.count(prefix + ".ups.", ".bias");
  if (upsamples != static_cast<int64_t>(kUpsampleRates.size())) {
    throw ModelError(ErrorCode::kModelError,
                     "XTTS HiFi-GAN: expected 4 upsampling layers, found " + std::to_string(upsamples));
  }
  const int64_t resblocks = weights.count(prefix + ".resblocks.", ".convs1.0.bias");
  kernels_per_upsample_ = resblocks / upsamples;
  if (kernels_per_upsample_ == 0 || resblocks % upsamples != 0) {
    throw ModelError(ErrorCode::kModelError,
                     "XTTS HiFi-GAN: resblock count does not fit the upsampling layers");
  }
  for (int64_t i = 0; i < upsamples; ++i) {
    ups_.push_back(conv(prefix + ".ups." + std::to_string(i)));
    const int64_t kernel = ups_.back().weight.size(2);
    if (kernel != 2 * kUpsampleRates[i]) {
      throw ModelError(ErrorCode::kModelError,
                       "XTTS HiFi-GAN: upsampling kernel " + std::to_string(kernel) + " is not upstream's");
    }
    up_strides_.push_back(kUpsampleRates[i]);
    if (config.cond_d_vector_in_each_upsampling_layer &&
        weights.contains(prefix + ".conds." + std::to_string(i) + ".weight")) {
      conds_.push_back(conv(prefix + ".conds." + std::to_string(i)));
    }
  }
  for (int64_t r = 0; r < resblocks; ++r) {
    std::vector<std::pair<Conv, Conv>> block;
    for (size_t d = 0; d < kResblockDilations.size(); ++d) {
      const std::string name = prefix + ".resblocks." + std::to_string(r);
      block.emplace_back(conv(name + ".convs1." + std::to_string(d), kResblockDilations[d]),
                         conv(name + ".convs2." + std::to_string(d), 1));
    }
    resblocks_.push_back(std::move(block));
  }
}

std::vector<double> HifiganDecoder::stretches(double length_scale) const {
  std::vector<double> scales;
  if (length_scale != 1.0) scales.push_back(length_scale);
  scales.push_back(static_cast<double>(config_.gpt_code_stride_len) /
                   static_cast<double>(config_.output_hop_length));
  if (config_.output_sample_rate != config_.input_sample_rate) {
    scales.push_back(static_cast<double>(config_.output_sample_rate) /
                     static_cast<double>(config_.input_sample_rate));
  }
  return scales;
}

torch::Tensor HifiganDecoder::decoder_input(const torch::Tensor& latents, double length_scale) const {
  if (frames_for(latents.size(1), length_scale) < 1) {
    throw ModelError(ErrorCode::kInvalidInput, "the speed is too high for so short a piece of speech");
  }
  // Linear stretches with the *given* scale factors (align_corners off), as upstream's F.interpolate calls.
  auto z = latents.transpose(1, 2);
  for (const double scale : stretches(length_scale)) {
    z = F::interpolate(z, F::InterpolateFuncOptions()
                              .scale_factor(std::vector<double>{scale})
                              .mode(torch::kLinear)
                              .align_corners(false));
  }
  return z;
}

torch::Tensor HifiganDecoder::generate(const torch::Tensor& input,
                                       const torch::Tensor& speaker_embedding) const {
  auto apply = [](const torch::Tensor& x, const Conv& c) {
    const int64_t kernel = c.weight.size(2);
    return F::conv1d(
        x, c.weight,
        F::Conv1dFuncOptions().bias(c.bias).padding(c.dilation * (kernel - 1) / 2).dilation(c.dilation));
  };
  auto o = apply(input, conv_pre_);
  if (cond_layer_.weight.defined()) o = o + apply(speaker_embedding, cond_layer_);
  for (size_t i = 0; i < ups_.size(); ++i) {
    o = F::leaky_relu(o, F::LeakyReLUFuncOptions().negative_slope(kLeakySlope));
    const int64_t kernel = ups_[i].weight.size(2);
    o = F::conv_transpose1d(o, ups_[i].weight,
                            F::ConvTranspose1dFuncOptions()
                                .bias(ups_[i].bias)
                                .stride(up_strides_[i])
                                .padding((kernel - up_strides_[i]) / 2));
    if (i < conds_.size()) o = o + apply(speaker_embedding, conds_[i]);
    torch::Tensor sum;
    for (int64_t j = 0; j < kernels_per_upsample_; ++j) {
      auto x = o;
      for (const auto& [first, second] : resblocks_[static_cast<size_t>(i) * kernels_per_upsample_ + j]) {
        auto t = apply(F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(kLeakySlope)), first);
        t = apply(F::leaky_relu(t, F::LeakyReLUFuncOptions().negative_slope(kLeakySlope)), second);
        x = t + x;
      }
      sum = sum.defined() ? sum + x : x;
    }
    o = sum / static_cast<double>(kernels_per_upsample_);
  }
  o = F::leaky_relu(o);  // default slope 0.01 before the output convolution, as upstream
  return torch::tanh(apply(o, conv_post_));
}

torch::Tensor HifiganDecoder::decode(const torch::Tensor& latents, const torch::Tensor& speaker_embedding,
                                     double length_scale) const {
  return generate(decoder_input(latents, length_scale), speaker_embedding);
}

int64_t HifiganDecoder::samples_per_frame() const {
  int64_t product = 1;
  for (int64_t stride : up_strides_) product *= stride;
  return product;
}

int64_t HifiganDecoder::receptive_frames() const {
  auto half = [](const Conv& c) { return c.dilation * (c.weight.size(2) - 1) / 2; };
  // Reach in samples at each stage's rate, turned into input frames (rounded up) as the rate grows.
  double frames = static_cast<double>(half(conv_pre_));
  int64_t rate = 1;
  for (size_t i = 0; i < ups_.size(); ++i) {
    frames += std::ceil(static_cast<double>(ups_[i].weight.size(2)) / static_cast<double>(up_strides_[i]));
    rate *= up_strides_[i];
    int64_t widest = 0;
    for (int64_t j = 0; j < kernels_per_upsample_; ++j) {
      int64_t reach = 0;
      for (const auto& [first, second] : resblocks_[static_cast<size_t>(i) * kernels_per_upsample_ + j]) {
        reach += half(first) + half(second);
      }
      widest = std::max(widest, reach);
    }
    frames += static_cast<double>(widest) / static_cast<double>(rate);
  }
  frames += static_cast<double>(half(conv_post_)) / static_cast<double>(rate);
  return static_cast<int64_t>(std::ceil(frames)) + 1;
}

namespace {
// PyTorch's output length for a stretch by `scale` (floor of input x scale, in double).
int64_t stretched(int64_t length, double scale) {
  return static_cast<int64_t>(std::floor(static_cast<double>(length) * scale));
}
}  // namespace

int64_t HifiganDecoder::frames_for(int64_t latents, double length_scale) const {
  int64_t frames = latents;
  for (const double scale : stretches(length_scale)) frames = stretched(frames, scale);
  return frames;
}

int64_t HifiganDecoder::final_frames_for(int64_t latents, double length_scale) const {
  // A stretched frame interpolates between source i0 and i0 + 1, clamped at the last source; the first
  // floor((m - 1) x scale) frames of a stretch over m sources never touch the last one, so they do not change
  // when more sources follow (for any scale: it counts fewer frames than could be final, never more).
  int64_t frames = latents;
  for (const double scale : stretches(length_scale))
    frames = std::max<int64_t>(0, stretched(frames - 1, scale));
  return frames;
}

StreamingVocoder::StreamingVocoder(const HifiganDecoder& decoder, torch::Tensor speaker_embedding,
                                   StreamSchedule schedule, double length_scale)
    : decoder_(decoder),
      speaker_embedding_(std::move(speaker_embedding)),
      schedule_(schedule),
      length_scale_(length_scale),
      due_at_(std::max<int64_t>(1, schedule.first_chunk_codes)) {}

torch::Tensor StreamingVocoder::add(const torch::Tensor& latent) {
  latents_.push_back(latent.reshape({1, 1, -1}));
  ++latent_count_;
  if (latent_count_ < due_at_) return torch::empty({0}, speaker_embedding_.options());
  due_at_ = latent_count_ + std::max<int64_t>(1, schedule_.chunk_codes);
  return emit(false);
}

torch::Tensor StreamingVocoder::finish() {
  return emit(true);
}

torch::Tensor StreamingVocoder::latents() const {
  return latents_.empty() ? torch::Tensor() : torch::cat(latents_, 1);
}

torch::Tensor StreamingVocoder::emit(bool last) {
  const auto options = speaker_embedding_.options();
  if (latent_count_ == 0) return torch::empty({0}, options);
  const int64_t context = decoder_.receptive_frames();
  const int64_t hop = decoder_.samples_per_frame();
  const int64_t total = decoder_.frames_for(latent_count_, length_scale_);
  const int64_t final_frames = last ? total : decoder_.final_frames_for(latent_count_, length_scale_);
  // Emit up to `end`; compute `fade` frames past it for the next window's crossfade; keep `context` beyond.
  const int64_t fade = last ? 0 : schedule_.crossfade_frames;
  const int64_t end = last ? total : final_frames - context - fade;
  if (end - emitted_frames_ < std::max<int64_t>(1, schedule_.crossfade_frames) && !last) {
    return torch::empty({0}, options);
  }
  if (end <= emitted_frames_) return torch::empty({0}, options);

  // The stretch runs over every latent so far (cheap: no convolutions); only the window is vocoded.
  const auto input = decoder_.decoder_input(torch::cat(latents_, 1), length_scale_);
  const int64_t window_start = std::max<int64_t>(0, emitted_frames_ - context);
  const int64_t window_end = std::min(total, end + fade + context);
  auto audio = decoder_.generate(input.slice(2, window_start, window_end), speaker_embedding_).flatten();
  auto fresh = audio.slice(0, (emitted_frames_ - window_start) * hop, (end - window_start) * hop);
  if (tail_.defined() && tail_.numel() > 0) {
    const int64_t overlap = std::min(tail_.numel(), fresh.numel());
    auto ramp = torch::linspace(0.0, 1.0, overlap + 2, options).slice(0, 1, overlap + 1);
    fresh = fresh.clone();
    fresh.slice(0, 0, overlap)
        .copy_(tail_.slice(0, 0, overlap) * (1 - ramp) + fresh.slice(0, 0, overlap) * ramp);
  }
  tail_ = fade > 0 ? audio.slice(0, (end - window_start) * hop, (end + fade - window_start) * hop)
                   : torch::Tensor();
  emitted_frames_ = end;
  return fresh;
}

}  // namespace gpufleet::xtts
