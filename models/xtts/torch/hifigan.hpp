#pragma once
// XTTS-v2's vocoder: GPT latents are stretched to the output frame rate (linear interpolation by the
// speed's length scale 1/speed where it is not 1, by code_stride/hop, then output/input sample rate, as
// upstream's Xtts.inference and HifiDecoder do) and decoded by a HiFi-GAN generator conditioned on the
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

  // [B, n, d] latents -> [B, d, frames] decoder input; `length_scale` (1 / speed) stretches the latents
  // first. Throws ModelError(kInvalidInput) when the stretch leaves no frame.
  torch::Tensor decoder_input(const torch::Tensor& latents, double length_scale = 1.0) const;
  // [B, n, d] latents and [B, d_vector, 1] speaker embedding -> [B, 1, samples] at the output rate.
  torch::Tensor decode(const torch::Tensor& latents, const torch::Tensor& speaker_embedding,
                       double length_scale = 1.0) const;
  // The generator alone on an already stretched input [B, d, frames].
  torch::Tensor generate(const torch::Tensor& input, const torch::Tensor& speaker_embedding) const;

  // Output samples per decoder-input frame (the product of the upsampling strides).
  int64_t samples_per_frame() const;
  // How many input frames on each side reach an output sample through the generator's convolutions (from
  // the kernel sizes and dilations of these weights): a window with this much context on both sides gives
  // the samples in its middle exactly as decoding the whole input would.
  int64_t receptive_frames() const;
  // Decoder-input frames for `latents` latents, and how many of them are already final while more latents
  // may follow (the linear stretches near the end still wait for their right neighbours).
  int64_t frames_for(int64_t latents, double length_scale = 1.0) const;
  int64_t final_frames_for(int64_t latents, double length_scale = 1.0) const;

 private:
  struct Conv {
    torch::Tensor weight, bias;
    int64_t dilation = 1;
  };
  Conv conv(const std::string& name, int64_t dilation = 1) const;
  // The scale factors of the linear stretches from latents to decoder-input frames, in order.
  std::vector<double> stretches(double length_scale) const;

  const Weights& weights_;
  XttsConfig config_;
  Conv conv_pre_, conv_post_, cond_layer_;
  std::vector<Conv> ups_, conds_;
  std::vector<int64_t> up_strides_;
  std::vector<std::vector<std::pair<Conv, Conv>>>
      resblocks_;  // [upsample * kernels][dilation] -> (convs1, convs2)
  int64_t kernels_per_upsample_ = 0;
};

// When streamed audio is vocoded: first after `first_chunk_codes` codes (the time to first audio), then
// every `chunk_codes`; windows are joined with a linear crossfade over `crossfade_frames` decoder frames.
struct StreamSchedule {
  int64_t first_chunk_codes = 8;
  int64_t chunk_codes = 20;
  int64_t crossfade_frames = 2;
};

// Vocodes latents as the GPT draws their codes, for streaming: each chunk decodes only a window around the
// audio that became final (the new frames plus `receptive_frames()` of context on each side), never
// everything so far, and windows are crossfaded. The audio equals decoding the whole sequence at once, up
// to float rounding (the crossfade covers what rounding leaves).
class StreamingVocoder {
 public:
  // `length_scale` as HifiganDecoder::decode takes it (1 / speed).
  StreamingVocoder(const HifiganDecoder& decoder, torch::Tensor speaker_embedding,
                   StreamSchedule schedule = {}, double length_scale = 1.0);
  // One code's latent [1, d]; returns the samples that became final when a chunk is due ([n] on the model's
  // device), else an empty tensor.
  torch::Tensor add(const torch::Tensor& latent);
  // No more latents: returns the rest.
  torch::Tensor finish();
  // Every latent added so far, [1, n, d].
  torch::Tensor latents() const;
  int64_t latent_count() const { return latent_count_; }

 private:
  torch::Tensor emit(bool last);

  const HifiganDecoder& decoder_;
  torch::Tensor speaker_embedding_;
  StreamSchedule schedule_;
  double length_scale_ = 1.0;
  std::vector<torch::Tensor> latents_;  // each [1, 1, d]
  int64_t latent_count_ = 0;
  int64_t due_at_ = 0;  // latent count at which the next chunk is vocoded
  int64_t emitted_frames_ = 0;
  torch::Tensor tail_;  // samples just past the emitted ones, to fade out into the next window
};

}  // namespace gpufleet::xtts
