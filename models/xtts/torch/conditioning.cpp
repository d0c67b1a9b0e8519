#include "models/xtts/torch/conditioning.hpp"

#include <torch/torch.h>

#include <cmath>

#include "common/error.hpp"
#include "models/xtts/torch/mel.hpp"

namespace gpufleet::xtts {
namespace F = torch::nn::functional;

namespace {

// Tortoise's normalization(): 32 groups, fewer for narrow layers, halved until they divide the channels.
int64_t group_count(int64_t channels) {
  int64_t groups = channels <= 16 ? 8 : channels <= 64 ? 16 : 32;
  while (channels % groups != 0) groups /= 2;
  return groups;
}

torch::Tensor conv1x1(const torch::Tensor& x, const Weights& w, const std::string& name) {
  return F::conv1d(x, w.get(name + ".weight"), F::Conv1dFuncOptions().bias(w.get(name + ".bias")));
}

// One AttentionBlock as XTTS builds it (tortoise_norm off): the residual adds the *normalised* input.
torch::Tensor attention_block(const torch::Tensor& x, const Weights& w, const std::string& name,
                              int64_t heads) {
  const int64_t channels = x.size(1);
  auto x_norm = F::group_norm(x, F::GroupNormFuncOptions(group_count(channels))
                                     .weight(w.get(name + ".norm.weight"))
                                     .bias(w.get(name + ".norm.bias"))
                                     .eps(1e-5));
  auto qkv = conv1x1(x_norm, w, name + ".qkv");
  const int64_t batch = qkv.size(0);
  const int64_t length = qkv.size(2);
  const int64_t head_channels = qkv.size(1) / (3 * heads);
  // Heads are split before q, k, v ("legacy" layout): per head the channels are [q; k; v].
  auto parts = qkv.reshape({batch * heads, 3 * head_channels, length}).split(head_channels, 1);
  const double scale = 1.0 / std::sqrt(std::sqrt(static_cast<double>(head_channels)));
  auto weight = torch::bmm((parts[0] * scale).transpose(1, 2), parts[1] * scale);  // [BH, T, S]
  weight = torch::softmax(weight.to(torch::kFloat32), -1).to(weight.scalar_type());
  auto attended = torch::bmm(parts[2], weight.transpose(1, 2)).reshape({batch, -1, length});  // [B, C, T]
  return x_norm + conv1x1(attended, w, name + ".proj_out");
}

}  // namespace

torch::Tensor conditioning_encoder(const Weights& weights, const torch::Tensor& mel, int64_t heads) {
  const std::string prefix = "gpt.conditioning_encoder";
  auto h = conv1x1(mel, weights, prefix + ".init");
  const int64_t blocks = weights.count(prefix + ".attn.", ".qkv.weight");
  if (blocks == 0)
    throw ModelError(ErrorCode::kModelError, "XTTS checkpoint has no conditioning-encoder blocks");
  for (int64_t i = 0; i < blocks; ++i)
    h = attention_block(h, weights, prefix + ".attn." + std::to_string(i), heads);
  return h;
}

torch::Tensor perceiver_resampler(const Weights& weights, const torch::Tensor& context) {
  const std::string prefix = "gpt.conditioning_perceiver";
  // Upstream builds the resampler with 8 heads whatever the model's width (dim_head 64 at full size).
  constexpr int64_t kHeads = 8;
  const int64_t batch = context.size(0);
  auto latents = weights.get(prefix + ".latents").unsqueeze(0).expand({batch, -1, -1});
  const int64_t depth = weights.count(prefix + ".layers.", ".0.to_q.weight");
  auto split_heads = [](const torch::Tensor& t) {  // [B, N, H*D] -> [B, H, N, D]
    return t.reshape({t.size(0), t.size(1), kHeads, -1}).transpose(1, 2);
  };
  for (int64_t i = 0; i < depth; ++i) {
    const std::string layer = prefix + ".layers." + std::to_string(i);
    // Cross-attention whose keys and values also see the latents themselves.
    auto keys_values = torch::cat({latents, context}, 1);
    auto q = split_heads(F::linear(latents, weights.get(layer + ".0.to_q.weight")));
    auto kv = F::linear(keys_values, weights.get(layer + ".0.to_kv.weight")).chunk(2, -1);
    auto k = split_heads(kv[0]);
    auto v = split_heads(kv[1]);
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    auto attention = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) * scale, -1);
    auto out = torch::matmul(attention, v).transpose(1, 2).reshape({batch, latents.size(1), -1});
    latents = F::linear(out, weights.get(layer + ".0.to_out.weight")) + latents;
    // Feed-forward with a GEGLU: the first half of the projection is gated by GELU of the second.
    auto hidden =
        F::linear(latents, weights.get(layer + ".1.0.weight"), weights.get(layer + ".1.0.bias")).chunk(2, -1);
    auto gated = hidden[0] * F::gelu(hidden[1]);
    latents =
        F::linear(gated, weights.get(layer + ".1.2.weight"), weights.get(layer + ".1.2.bias")) + latents;
  }
  // RMSNorm: unit L2 norm, times sqrt(d), times gamma.
  const double root = std::sqrt(static_cast<double>(latents.size(-1)));
  return F::normalize(latents, F::NormalizeFuncOptions().dim(-1)) * root *
         weights.get(prefix + ".norm.gamma");
}

torch::Tensor gpt_conditioning_latents(const Weights& weights, const XttsConfig& config,
                                       const torch::Tensor& wav) {
  constexpr int64_t kRate = 22050;
  auto audio = wav;
  if (config.gpt_cond_len > 0)
    audio = audio.slice(1, 0, static_cast<int64_t>(kRate * static_cast<int64_t>(config.gpt_cond_len)));
  const int64_t chunk = kRate * static_cast<int64_t>(config.gpt_cond_chunk_len);
  const auto& mel_stats = weights.get("mel_stats");
  std::vector<torch::Tensor> styles;
  for (int64_t start = 0; start < audio.size(1); start += chunk) {
    auto piece = audio.slice(1, start, start + chunk);
    if (piece.size(1) < kRate * 0.33) continue;  // too short to say anything about the voice
    auto encoded = conditioning_encoder(weights, conditioning_mel(piece, mel_stats), config.gpt_n_heads);
    styles.push_back(perceiver_resampler(weights, encoded.transpose(1, 2)));
  }
  if (styles.empty())
    throw ModelError(ErrorCode::kInvalidInput, "the reference audio is shorter than 0.33 s");
  return torch::stack(styles).mean(0);
}

}  // namespace gpufleet::xtts
