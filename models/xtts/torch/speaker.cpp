#include "models/xtts/torch/speaker.hpp"

#include <torch/torch.h>

#include <cmath>
#include <numeric>

#include "common/error.hpp"

namespace gpufleet::xtts {
namespace F = torch::nn::functional;

torch::Tensor resample(const torch::Tensor& wav, int64_t from_rate, int64_t to_rate) {
  if (from_rate == to_rate) return wav;
  const int64_t gcd = std::gcd(from_rate, to_rate);
  const int64_t orig = from_rate / gcd;
  const int64_t target = to_rate / gcd;
  constexpr double kWidth = 6;  // lowpass_filter_width
  constexpr double kRolloff = 0.99;
  const double base = static_cast<double>(std::min(orig, target)) * kRolloff;
  const auto width = static_cast<int64_t>(std::ceil(kWidth * static_cast<double>(orig) / base));
  // The kernel is built in the waveform's dtype, as torchaudio does when it is given one.
  const auto options = wav.options();
  auto idx = torch::arange(-width, width + orig, options).view({1, 1, -1}) / static_cast<double>(orig);
  auto t = torch::arange(0, -target, -1, options).view({-1, 1, 1}) / static_cast<double>(target) + idx;
  t = (t * base).clamp(-kWidth, kWidth);
  auto window = torch::cos(t * M_PI / kWidth / 2).pow(2);
  t = t * M_PI;
  auto kernels =
      torch::where(t == 0, torch::ones_like(t), t.sin() / t) * window * (base / static_cast<double>(orig));
  const int64_t length = wav.size(-1);
  auto padded = F::pad(wav.reshape({-1, length}), F::PadFuncOptions({width, width + orig}));
  auto out = F::conv1d(padded.unsqueeze(1), kernels, F::Conv1dFuncOptions().stride(orig));
  out = out.transpose(1, 2).reshape({padded.size(0), -1});
  const auto target_length =
      static_cast<int64_t>(std::ceil(static_cast<double>(target * length) / static_cast<double>(orig)));
  return out.slice(1, 0, target_length);
}

namespace {

torch::Tensor batch_norm(const torch::Tensor& x, const Weights& w, const std::string& name) {
  return F::batch_norm(x, w.get(name + ".running_mean"), w.get(name + ".running_var"),
                       F::BatchNormFuncOptions()
                           .weight(w.get(name + ".weight"))
                           .bias(w.get(name + ".bias"))
                           .training(false)
                           .eps(1e-5));
}

torch::Tensor se_basic_block(const torch::Tensor& x, const Weights& w, const std::string& name,
                             int64_t stride) {
  auto out = F::conv2d(x, w.get(name + ".conv1.weight"), F::Conv2dFuncOptions().stride(stride).padding(1));
  out = batch_norm(torch::relu(out), w, name + ".bn1");
  out = F::conv2d(out, w.get(name + ".conv2.weight"), F::Conv2dFuncOptions().padding(1));
  out = batch_norm(out, w, name + ".bn2");
  // Squeeze and excitation: channel weights from the globally pooled activations.
  auto squeezed = out.mean({2, 3});
  auto excited = torch::sigmoid(F::linear(
      torch::relu(F::linear(squeezed, w.get(name + ".se.fc.0.weight"), w.get(name + ".se.fc.0.bias"))),
      w.get(name + ".se.fc.2.weight"), w.get(name + ".se.fc.2.bias")));
  out = out * excited.unsqueeze(-1).unsqueeze(-1);
  auto residual = x;
  if (w.contains(name + ".downsample.0.weight")) {
    residual =
        batch_norm(F::conv2d(x, w.get(name + ".downsample.0.weight"), F::Conv2dFuncOptions().stride(stride)),
                   w, name + ".downsample.1");
  }
  return torch::relu(out + residual);
}

}  // namespace

torch::Tensor speaker_embedding(const Weights& weights, const torch::Tensor& wav, int64_t rate,
                                SpeakerTrace* trace) {
  const std::string prefix = "hifigan_decoder.speaker_encoder";
  auto audio = resample(wav, rate, 16000);
  // Pre-emphasis (reflect-padded by one sample), then the mel spectrogram with the checkpoint's own window
  // and filterbank: n_fft 512, hop 160, the 400-sample window centred in n_fft, power 2.
  auto emphasised = F::conv1d(F::pad(audio.unsqueeze(1), F::PadFuncOptions({1, 0}).mode(torch::kReflect)),
                              weights.get(prefix + ".torch_spec.0.filter"))
                        .squeeze(1);
  const auto& window = weights.get(prefix + ".torch_spec.1.spectrogram.window");
  const auto& filterbank = weights.get(prefix + ".torch_spec.1.mel_scale.fb");
  const int64_t n_fft = (filterbank.size(0) - 1) * 2;
  const int64_t left = (n_fft - window.size(0)) / 2;
  auto full_window = torch::constant_pad_nd(window, {left, n_fft - window.size(0) - left});
  auto padded =
      F::pad(emphasised.unsqueeze(1), F::PadFuncOptions({n_fft / 2, n_fft / 2}).mode(torch::kReflect))
          .squeeze(1);
  auto spectrum = torch::stft(padded, n_fft, /*hop_length=*/160, n_fft, full_window, false, true, true);
  auto spec =
      torch::matmul(spectrum.abs().pow(2).transpose(1, 2), filterbank).transpose(1, 2);  // [B, mels, T]
  auto x = F::instance_norm(torch::log(spec + 1e-6), F::InstanceNormFuncOptions().eps(1e-5));
  if (trace != nullptr) {
    trace->audio_16k = audio;
    trace->torch_spec = spec;
    trace->log_mel_instnorm = x;
  }
  x = F::conv2d(x.unsqueeze(1), weights.get(prefix + ".conv1.weight"),
                F::Conv2dFuncOptions().padding(1).bias(weights.get(prefix + ".conv1.bias")));
  x = batch_norm(torch::relu(x), weights, prefix + ".bn1");
  for (int layer = 1; layer <= 4; ++layer) {
    const std::string name = prefix + ".layer" + std::to_string(layer) + ".";
    const int64_t blocks = weights.count(name, ".conv1.weight");
    if (blocks == 0)
      throw ModelError(ErrorCode::kModelError, "XTTS speaker encoder has no " + name + "* blocks");
    for (int64_t b = 0; b < blocks; ++b)
      x = se_basic_block(x, weights, name + std::to_string(b), b == 0 && layer > 1 ? 2 : 1);
  }
  if (trace != nullptr) trace->layer4_out = x;
  x = x.reshape({x.size(0), -1, x.size(-1)});
  // Attentive statistics pooling: attention-weighted mean and standard deviation over time.
  auto a = F::conv1d(x, weights.get(prefix + ".attention.0.weight"),
                     F::Conv1dFuncOptions().bias(weights.get(prefix + ".attention.0.bias")));
  a = F::batch_norm(torch::relu(a), weights.get(prefix + ".attention.2.running_mean"),
                    weights.get(prefix + ".attention.2.running_var"),
                    F::BatchNormFuncOptions()
                        .weight(weights.get(prefix + ".attention.2.weight"))
                        .bias(weights.get(prefix + ".attention.2.bias"))
                        .training(false)
                        .eps(1e-5));
  a = F::conv1d(a, weights.get(prefix + ".attention.3.weight"),
                F::Conv1dFuncOptions().bias(weights.get(prefix + ".attention.3.bias")));
  auto attention = torch::softmax(a, 2);
  auto mu = (x * attention).sum(2);
  auto sigma = torch::sqrt(((x * x) * attention).sum(2).sub(mu * mu).clamp_min(1e-5));
  auto pooled = torch::cat({mu, sigma}, 1);
  auto projected = F::linear(pooled, weights.get(prefix + ".fc.weight"), weights.get(prefix + ".fc.bias"));
  if (trace != nullptr) {
    trace->asp_pooled = pooled;
    trace->fc_out = projected;
  }
  return F::normalize(projected, F::NormalizeFuncOptions().p(2).dim(1)).unsqueeze(-1);
}

}  // namespace gpufleet::xtts
