#include "models/xtts/torch/hifigan.hpp"

#include <torch/torch.h>

#include "common/error.hpp"

namespace gpufleet::xtts {
namespace F = torch::nn::functional;

namespace {

constexpr double kLeakySlope = 0.1;
// Upstream's HifiDecoder fixes these; the weights only carry the kernel sizes, which are checked against them.
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

HifiganDecoder::HifiganDecoder(const Weights& weights, const XttsConfig& config) : weights_(weights), config_(config) {
  const std::string prefix = "hifigan_decoder.waveform_decoder";
  conv_pre_ = conv(prefix + ".conv_pre");
  conv_post_ = conv(prefix + ".conv_post");
  if (weights.contains(prefix + ".cond_layer.weight")) cond_layer_ = conv(prefix + ".cond_layer");
  const int64_t upsamples = weights.count(prefix + ".ups.", ".bias");
  if (upsamples != static_cast<int64_t>(kUpsampleRates.size())) {
    throw ModelError(ErrorCode::kModelError, "XTTS HiFi-GAN: expected 4 upsampling layers, found " + std::to_string(upsamples));
  }
  const int64_t resblocks = weights.count(prefix + ".resblocks.", ".convs1.0.bias");
  kernels_per_upsample_ = resblocks / upsamples;
  if (kernels_per_upsample_ == 0 || resblocks % upsamples != 0) {
    throw ModelError(ErrorCode::kModelError, "XTTS HiFi-GAN: resblock count does not fit the upsampling layers");
  }
  for (int64_t i = 0; i < upsamples; ++i) {
    ups_.push_back(conv(prefix + ".ups." + std::to_string(i)));
    const int64_t kernel = ups_.back().weight.size(2);
    if (kernel != 2 * kUpsampleRates[i]) {
      throw ModelError(ErrorCode::kModelError, "XTTS HiFi-GAN: upsampling kernel " + std::to_string(kernel) + " is not upstream's");
    }
    up_strides_.push_back(kUpsampleRates[i]);
    if (config.cond_d_vector_in_each_upsampling_layer && weights.contains(prefix + ".conds." + std::to_string(i) + ".weight")) {
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

torch::Tensor HifiganDecoder::decoder_input(const torch::Tensor& latents) const {
  // Two linear stretches with the *given* scale factors (align_corners off), as upstream's F.interpolate calls.
  auto z = latents.transpose(1, 2);
  const double to_frames = static_cast<double>(config_.gpt_code_stride_len) / static_cast<double>(config_.output_hop_length);
  z = F::interpolate(z, F::InterpolateFuncOptions().scale_factor(std::vector<double>{to_frames}).mode(torch::kLinear).align_corners(false));
  if (config_.output_sample_rate != config_.input_sample_rate) {
    const double to_rate = static_cast<double>(config_.output_sample_rate) / static_cast<double>(config_.input_sample_rate);
    z = F::interpolate(z, F::InterpolateFuncOptions().scale_factor(std::vector<double>{to_rate}).mode(torch::kLinear).align_corners(false));
  }
  return z;
}

torch::Tensor HifiganDecoder::generate(const torch::Tensor& input, const torch::Tensor& speaker_embedding) const {
  auto apply = [](const torch::Tensor& x, const Conv& c) {
    const int64_t kernel = c.weight.size(2);
    return F::conv1d(x, c.weight, F::Conv1dFuncOptions().bias(c.bias).padding(c.dilation * (kernel - 1) / 2).dilation(c.dilation));
  };
  auto o = apply(input, conv_pre_);
  if (cond_layer_.weight.defined()) o = o + apply(speaker_embedding, cond_layer_);
  for (size_t i = 0; i < ups_.size(); ++i) {
    o = F::leaky_relu(o, F::LeakyReLUFuncOptions().negative_slope(kLeakySlope));
    const int64_t kernel = ups_[i].weight.size(2);
    o = F::conv_transpose1d(o, ups_[i].weight,
                            F::ConvTranspose1dFuncOptions().bias(ups_[i].bias).stride(up_strides_[i]).padding((kernel - up_strides_[i]) / 2));
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

torch::Tensor HifiganDecoder::decode(const torch::Tensor& latents, const torch::Tensor& speaker_embedding) const {
  return generate(decoder_input(latents), speaker_embedding);
}

}  // namespace gpufleet::xtts
