#pragma once
// Mel spectrograms as upstream XTTS computes them with torchaudio: STFT (centred, reflect padding, periodic
// Hann or Hamming window zero-padded to n_fft), power, triangular mel filterbank.

#include <torch/types.h>

namespace gpufleet::xtts {

enum class MelScale { kHtk, kSlaney };

struct MelSettings {
  int64_t sample_rate = 22050;
  int64_t n_fft = 2048;
  int64_t hop_length = 256;
  int64_t win_length = 1024;
  int64_t n_mels = 80;
  double f_min = 0;
  double f_max = 8000;
  MelScale scale = MelScale::kHtk;
  bool slaney_norm = true;  // area normalisation of each triangle
  bool hamming = false;     // window: Hann unless set
  double power = 2.0;
};

// torchaudio.functional.melscale_fbanks: [n_fft/2+1, n_mels], computed in float32 as torchaudio does.
torch::Tensor mel_filterbank(const MelSettings& settings);

// [batch, samples] -> [batch, n_mels, frames]
torch::Tensor mel_spectrogram(const torch::Tensor& wav, const MelSettings& settings);

// Upstream's wav_to_mel_cloning for GPT conditioning: log(clamp(mel, 1e-5)) / mel_stats, with XTTS-v2's
// settings (n_fft 2048, hop 256, win 1024, 80 mels over 0-8 kHz, Slaney norm). wav: [1, samples] at 22.05
// kHz.
torch::Tensor conditioning_mel(const torch::Tensor& wav, const torch::Tensor& mel_stats);

}  // namespace gpufleet::xtts
