#pragma once
// XTTS-v2's vocoder: GPT latents are stretched to the output frame rate (linear interpolation by
// code_stride/hop, then output/input sample rate) and decoded by a HiFi-GAN generator conditioned on the
// speaker embedding (once at the input and after every upsampling). Widths and kernel sizes are read off
// the weights; weight norm is folded into plain weights once, at load.

#include <torch/types.h>

#include <vector>

#include "models/xtts/config.hpp"
#include "models/xtts/torch/weights.hpp"

namespace gpufleet::xtts {

class HifiganDecoder {
 public:
  HifiganDecoder(const Weights& weights, const XttsConfig& config);

  // [B, n, d] latents -> [B, d, frames] decoder input.
  torch::Tensor decoder_input(const torch::Tensor& latents) const;
  // [B, n, d] latents and [B, d_vector, 1] speaker embedding -> [B, 1, samples] at the output rate.
  torch::Tensor decode(const torch::Tensor& latents, const torch::Tensor& speaker_embedding) const;
  // The generator alone on an already stretched input [B, d, frames].
  torch::Tensor generate(const torch::Tensor& input, const torch::Tensor& speaker_embedding) const;

 private:
  struct Conv {
    torch::Tensor weight, bias;
    int64_t dilation = 1;
  };
  Conv conv(const std::string& name, int64_t dilation = 1) const;

  const Weights& weights_;
  XttsConfig config_;
  Conv conv_pre_, conv_post_, cond_layer_;
  std::vector<Conv> ups_, conds_;
  std::vector<int64_t> up_strides_;
  std::vector<std::vector<std::pair<Conv, Conv>>> resblocks_;  // [upsample * kernels][dilation] -> (convs1, convs2)
  int64_t kernels_per_upsample_ = 0;
};

}  // namespace gpufleet::xtts
