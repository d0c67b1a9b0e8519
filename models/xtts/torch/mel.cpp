#include "models/xtts/torch/mel.hpp"

#include <torch/torch.h>

#include <cmath>

namespace gpufleet::xtts {
namespace {

torch::Tensor hz_to_mel(const torch::Tensor& hz, MelScale scale) {
  if (scale == MelScale::kHtk) return 2595.0 * torch::log10(1.0 + hz / 700.0);
  const double f_sp = 200.0 / 3;
  const double min_log_hz = 1000.0;
  const double min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  auto linear = hz / f_sp;
  auto logarithmic = min_log_mel + torch::log(hz / min_log_hz) / logstep;
  return torch::where(hz >= min_log_hz, logarithmic, linear);
}

double hz_to_mel(double hz, MelScale scale) {
  return hz_to_mel(torch::tensor({hz}, torch::kFloat64), scale).item<double>();
}

torch::Tensor mel_to_hz(const torch::Tensor& mels, MelScale scale) {
  if (scale == MelScale::kHtk) return 700.0 * (torch::pow(10.0, mels / 2595.0) - 1.0);
  const double f_sp = 200.0 / 3;
  const double min_log_hz = 1000.0;
  const double min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  auto linear = f_sp * mels;
  auto logarithmic = min_log_hz * torch::exp(logstep * (mels - min_log_mel));
  return torch::where(mels >= min_log_mel, logarithmic, linear);
}

}  // namespace

torch::Tensor mel_filterbank(const MelSettings& settings) {
  const int64_t n_freqs = settings.n_fft / 2 + 1;
  // torchaudio works in float32 here: its numbers, not float64's, are the reference.
  auto all_freqs =
      torch::linspace(0, static_cast<double>(settings.sample_rate / 2), n_freqs, torch::kFloat32);
  const double m_min = hz_to_mel(settings.f_min, settings.scale);
  const double m_max = hz_to_mel(settings.f_max, settings.scale);
  auto m_pts = torch::linspace(m_min, m_max, settings.n_mels + 2, torch::kFloat32);
  auto f_pts = mel_to_hz(m_pts, settings.scale);
  auto f_diff = f_pts.slice(0, 1) - f_pts.slice(0, 0, -1);
  auto slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1);
  auto down = (-1.0 * slopes.slice(1, 0, -2)) / f_diff.slice(0, 0, -1);
  auto up = slopes.slice(1, 2) / f_diff.slice(0, 1);
  auto filterbank = torch::clamp_min(torch::min(down, up), 0.0);
  if (settings.slaney_norm) {
    auto enorm = 2.0 / (f_pts.slice(0, 2, settings.n_mels + 2) - f_pts.slice(0, 0, settings.n_mels));
    filterbank = filterbank * enorm.unsqueeze(0);
  }
  return filterbank;
}

torch::Tensor mel_spectrogram(const torch::Tensor& wav, const MelSettings& settings) {
  auto options = torch::TensorOptions().dtype(torch::kFloat32).device(wav.device());
  auto window = settings.hamming ? torch::hamming_window(settings.win_length, options)
                                 : torch::hann_window(settings.win_length, options);
  // torch.stft centres the window in n_fft when it is shorter; reflect-pad the signal by n_fft/2.
  const int64_t pad = settings.n_fft / 2;
  auto padded = torch::reflection_pad1d(wav.unsqueeze(1), {pad, pad}).squeeze(1);
  const int64_t left = (settings.n_fft - settings.win_length) / 2;
  auto full_window = torch::constant_pad_nd(window, {left, settings.n_fft - settings.win_length - left});
  auto spectrum = torch::stft(padded, settings.n_fft, settings.hop_length, settings.n_fft, full_window,
                              /*normalized=*/false, /*onesided=*/true, /*return_complex=*/true);
  auto magnitude = spectrum.abs();
  auto power = settings.power == 2.0 ? magnitude.pow(2) : magnitude.pow(settings.power);
  auto filterbank = mel_filterbank(settings).to(wav.device());
  // [B, F, T] x [F, M] -> [B, M, T]
  return torch::matmul(power.transpose(1, 2), filterbank).transpose(1, 2);
}

torch::Tensor conditioning_mel(const torch::Tensor& wav, const torch::Tensor& mel_stats) {
  MelSettings settings;
  settings.scale = MelScale::kHtk;  // torchaudio's default scale; Slaney only normalises the triangles
  auto mel = mel_spectrogram(wav, settings);
  mel = torch::log(torch::clamp_min(mel, 1e-5));
  return mel / mel_stats.to(mel.device()).view({1, -1, 1});
}

}  // namespace gpufleet::xtts
