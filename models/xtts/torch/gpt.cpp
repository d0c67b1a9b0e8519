#include "models/xtts/torch/gpt.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "models/xtts/torch/decode_graph.hpp"

namespace gpufleet::xtts {
namespace F = torch::nn::functional;

namespace {

// GPT-2's "gelu_new" (tanh approximation).
torch::Tensor gelu_new(const torch::Tensor& x) {
  return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * torch::pow(x, 3.0))));
}

// GPT-2's Conv1D, y = x W + b with W stored [in, out]. A weight kept in reduced precision (XttsEngine::load's
// dtype) multiplies x cast to its precision; the product comes back to x's float32, where the bias,
// residuals, norms and attention stay, as autocast runs a model.
torch::Tensor conv1d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (weight.scalar_type() == x.scalar_type()) return torch::addmm(bias, x, weight);
  return torch::matmul(x.to(weight.scalar_type()), weight).to(x.scalar_type()) + bias;
}

// Attention of q [B, H, Tq, Dh] over k and v [B, H, Tk, Dh], causal when `causal`: query i sits at key
// position Tk - Tq + i and sees the keys up to it. LibTorch 2 fuses it (scaled_dot_product_attention picks a
// flash or memory-efficient kernel on CUDA); 1.13 has no fused attention, so there it is written out.
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, bool causal) {
  const int64_t queries = q.size(-2);
  const int64_t keys = k.size(-2);
  // [Tq, Tk], true where a query may look, aligned to the bottom right.
  auto visible = [&] {
    return torch::ones({queries, keys}, torch::TensorOptions().dtype(torch::kBool).device(q.device()))
        .tril(keys - queries);
  };
#if TORCH_VERSION_MAJOR >= 2
  // Its is_causal aligns the mask to the top left, which is the same only without a cache before the queries.
  if (!causal || queries == keys) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
  return at::scaled_dot_product_attention(q, k, v, visible(), 0.0, false);
#else
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (causal) scores = scores.masked_fill(visible().logical_not(), std::numeric_limits<float>::lowest());
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

// Attention of q [S, H, 1, Dh] over k and v [S, H, C, Dh] where `visible` [S, 1, 1, C] is true: fixed shapes
// whatever the lengths, for the slot step. A masked position's weight is exactly zero (its score is the
// lowest float before the softmax), so only the sum's order differs from attending over the filled positions.
torch::Tensor attend_visible(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& visible) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, visible, 0.0, false);
#else
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(-1)));
  scores = scores.masked_fill(visible.logical_not(), std::numeric_limits<float>::lowest());
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> KvCache::append(size_t layer, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
  const int64_t added = k.size(2);
  const int64_t needed = length + added;
  torch::Tensor& key_buffer = keys.at(layer);
  torch::Tensor& value_buffer = values.at(layer);
  if (!key_buffer.defined() || key_buffer.size(2) < needed) {
    // Room for a first stretch of codes after a prefill, then twice as much each time it fills.
    const int64_t capacity = key_buffer.defined() ? std::max(needed, 2 * key_buffer.size(2)) : needed + 64;
    auto grow = [&](torch::Tensor& buffer, const torch::Tensor& like) {
      auto grown = torch::empty({like.size(0), like.size(1), capacity, like.size(3)}, like.options());
      if (length > 0) grown.narrow(2, 0, length).copy_(buffer.narrow(2, 0, length));
      buffer = grown;
    };
    grow(key_buffer, k);
    grow(value_buffer, v);
  }
  key_buffer.narrow(2, length, added).copy_(k);
  value_buffer.narrow(2, length, added).copy_(v);
  return {key_buffer.narrow(2, 0, needed), value_buffer.narrow(2, 0, needed)};
}

XttsGpt::XttsGpt(const Weights& weights, const XttsConfig& config) : weights_(weights), config_(config) {
  layers_ = weights.count("gpt.gpt.h.", ".attn.c_attn.weight");
  heads_ = config.gpt_n_heads;
  if (layers_ == 0) throw ModelError(ErrorCode::kModelError, "XTTS checkpoint has no GPT layers");
}

torch::Tensor XttsGpt::prefix_embedding(const torch::Tensor& cond_latents,
                                        const torch::Tensor& text_ids) const {
  const auto options = text_ids.options();
  const int64_t batch = text_ids.size(0);
  auto framed = torch::cat({torch::full({batch, 1}, config_.gpt_start_text_token, options), text_ids,
                            torch::full({batch, 1}, config_.gpt_stop_text_token, options)},
                           1);
  auto positions = torch::arange(framed.size(1), options);
  auto text = F::embedding(framed, weights_.get("gpt.text_embedding.weight")) +
              F::embedding(positions, weights_.get("gpt.text_pos_embedding.emb.weight")).unsqueeze(0);
  return torch::cat({cond_latents.to(text.scalar_type()), text}, 1);
}

torch::Tensor XttsGpt::block(const torch::Tensor& x, int64_t layer, KvCache& cache) const {
  const std::string name = "gpt.gpt.h." + std::to_string(layer);
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t width = x.size(2);
  auto qkv = block_head(x, name)
                 .reshape({batch, length, 3, heads_, width / heads_})
                 .permute({2, 0, 3, 1, 4});  // [3, B, H, T, Dh]
  auto q = qkv[0];
  auto k = qkv[1];
  auto v = qkv[2];
  std::tie(k, v) = cache.append(static_cast<size_t>(layer), k, v);
  // Causal: new position i sees the cache and the new positions up to i.
  auto attended = attend(q, k, v, length > 1).permute({0, 2, 1, 3}).reshape({batch * length, width});
  return block_tail(x, attended, name);
}

torch::Tensor XttsGpt::block_head(const torch::Tensor& x, const std::string& name) const {
  const int64_t width = x.size(2);
  auto h = F::layer_norm(x, F::LayerNormFuncOptions({width})
                                .weight(weights_.get(name + ".ln_1.weight"))
                                .bias(weights_.get(name + ".ln_1.bias"))
                                .eps(1e-5));
  return conv1d(h.reshape({-1, width}), weights_.get(name + ".attn.c_attn.weight"),
                weights_.get(name + ".attn.c_attn.bias"));
}

torch::Tensor XttsGpt::block_tail(const torch::Tensor& x, const torch::Tensor& attended,
                                  const std::string& name) const {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t width = x.size(2);
  auto out = x + conv1d(attended, weights_.get(name + ".attn.c_proj.weight"),
                        weights_.get(name + ".attn.c_proj.bias"))
                     .reshape({batch, length, width});
  auto m = F::layer_norm(out, F::LayerNormFuncOptions({width})
                                  .weight(weights_.get(name + ".ln_2.weight"))
                                  .bias(weights_.get(name + ".ln_2.bias"))
                                  .eps(1e-5));
  auto fc = gelu_new(conv1d(m.reshape({batch * length, width}), weights_.get(name + ".mlp.c_fc.weight"),
                            weights_.get(name + ".mlp.c_fc.bias")));
  return out + conv1d(fc, weights_.get(name + ".mlp.c_proj.weight"), weights_.get(name + ".mlp.c_proj.bias"))
                   .reshape({batch, length, width});
}

torch::Tensor XttsGpt::block_each(const torch::Tensor& x, int64_t layer,
                                  const std::vector<KvCache*>& caches) const {
  const std::string name = "gpt.gpt.h." + std::to_string(layer);
  const int64_t batch = x.size(0);
  const int64_t width = x.size(2);
  const int64_t head_dim = width / heads_;
  auto qkv = block_head(x, name).reshape({batch, 3, heads_, 1, head_dim});  // one position per sequence
  std::vector<torch::Tensor> attended;
  attended.reserve(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    KvCache& cache = *caches[static_cast<size_t>(b)];
    auto q = qkv[b][0].unsqueeze(0);  // [1, H, 1, Dh]
    const auto [keys, values] =
        cache.append(static_cast<size_t>(layer), qkv[b][1].unsqueeze(0), qkv[b][2].unsqueeze(0));
    attended.push_back(attend(q, keys, values, false).reshape({1, width}));
  }
  return block_tail(x, torch::cat(attended, 0), name);
}

torch::Tensor XttsGpt::block_slots(const torch::Tensor& x, int64_t layer, SlotCache& cache,
                                   const torch::Tensor& write_at, const torch::Tensor& visible) const {
  const std::string name = "gpt.gpt.h." + std::to_string(layer);
  const int64_t slots = x.size(0);
  const int64_t width = x.size(2);
  auto qkv = block_head(x, name).reshape({slots, 3, heads_, 1, width / heads_});
  auto& keys = cache.keys.at(static_cast<size_t>(layer));
  auto& values = cache.values.at(static_cast<size_t>(layer));
  keys.scatter_(2, write_at, qkv.select(1, 1));
  values.scatter_(2, write_at, qkv.select(1, 2));
  auto attended = attend_visible(qkv.select(1, 0), keys, values, visible).reshape({slots, width});
  return block_tail(x, attended, name);
}

int64_t XttsGpt::audio_positions() const {
  return weights_.get("gpt.mel_pos_embedding.emb.weight").size(0);
}

torch::Device XttsGpt::device() const {
  return weights_.get("gpt.mel_embedding.weight").device();
}

SlotCache XttsGpt::make_slots(int64_t slots, int64_t capacity, torch::Device device) const {
  const int64_t width = weights_.get("gpt.mel_embedding.weight").size(1);
  const auto floats = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const auto longs = torch::TensorOptions().dtype(torch::kLong).device(device);
  SlotCache cache;
  for (int64_t layer = 0; layer < layers_; ++layer) {
    cache.keys.push_back(torch::zeros({slots, heads_, capacity, width / heads_}, floats));
    cache.values.push_back(torch::zeros({slots, heads_, capacity, width / heads_}, floats));
  }
  cache.lengths = torch::zeros({slots}, longs);
  cache.positions = torch::zeros({slots}, longs);
  cache.active = torch::zeros({slots}, longs);
  cache.columns = torch::arange(capacity, longs);
  return cache;
}

SlotCache XttsGpt::grow_slots(const SlotCache& cache, int64_t slots, int64_t capacity) const {
  if (slots < cache.slots() || capacity < cache.capacity())
    throw ModelError(ErrorCode::kModelError, "slots may grow, never shrink");
  SlotCache grown = make_slots(slots, capacity, cache.lengths.device());
  const int64_t old_slots = cache.slots();
  const int64_t old_capacity = cache.capacity();
  for (size_t layer = 0; layer < cache.keys.size(); ++layer) {
    grown.keys[layer].narrow(0, 0, old_slots).narrow(2, 0, old_capacity).copy_(cache.keys[layer]);
    grown.values[layer].narrow(0, 0, old_slots).narrow(2, 0, old_capacity).copy_(cache.values[layer]);
  }
  grown.lengths.narrow(0, 0, old_slots).copy_(cache.lengths);
  grown.positions.narrow(0, 0, old_slots).copy_(cache.positions);
  grown.active.narrow(0, 0, old_slots).copy_(cache.active);
  return grown;
}

void XttsGpt::load_slot(SlotCache& cache, int64_t slot, const KvCache& prefilled) const {
  if (slot < 0 || slot >= cache.slots() || prefilled.length >= cache.capacity())
    throw ModelError(ErrorCode::kModelError, "a sequence does not fit its slot");
  for (size_t layer = 0; layer < cache.keys.size(); ++layer) {
    cache.keys[layer][slot]
        .narrow(1, 0, prefilled.length)
        .copy_(prefilled.keys.at(layer)[0].narrow(1, 0, prefilled.length));
    cache.values[layer][slot]
        .narrow(1, 0, prefilled.length)
        .copy_(prefilled.values.at(layer)[0].narrow(1, 0, prefilled.length));
  }
  cache.lengths[slot].fill_(prefilled.length);
  cache.positions[slot].fill_(prefilled.codes());
  cache.active[slot].fill_(1);
}

void XttsGpt::clear_slot(SlotCache& cache, int64_t slot) {
  cache.lengths[slot].fill_(0);
  cache.positions[slot].fill_(0);
  cache.active[slot].fill_(0);
}

torch::Tensor XttsGpt::final_norm(const torch::Tensor& hidden) const {
  return F::layer_norm(hidden, F::LayerNormFuncOptions({hidden.size(-1)})
                                   .weight(weights_.get("gpt.final_norm.weight"))
                                   .bias(weights_.get("gpt.final_norm.bias"))
                                   .eps(1e-5));
}

torch::Tensor XttsGpt::logits(const torch::Tensor& last_hidden, torch::Tensor* latent) const {
  auto normed = final_norm(last_hidden);
  if (latent != nullptr) *latent = normed;
  // A linear layer stores its weight [V, d]: transposed, it is a Conv1D's.
  return conv1d(normed, weights_.get("gpt.mel_head.weight").t(), weights_.get("gpt.mel_head.bias"));
}

torch::Tensor XttsGpt::prefill(const torch::Tensor& prefix, KvCache& cache,
                               std::vector<torch::Tensor>* hidden, torch::Tensor* latent) const {
  cache.keys.assign(static_cast<size_t>(layers_), torch::Tensor());
  cache.values.assign(static_cast<size_t>(layers_), torch::Tensor());
  cache.length = 0;
  cache.prefix_length = prefix.size(1);
  const int64_t batch = prefix.size(0);
  auto start = torch::full({batch, 1}, config_.gpt_start_audio_token,
                           torch::TensorOptions().dtype(torch::kLong).device(prefix.device()));
  auto audio = F::embedding(start, weights_.get("gpt.mel_embedding.weight")) +
               weights_.get("gpt.mel_pos_embedding.emb.weight").slice(0, 0, 1).unsqueeze(0);
  auto x = torch::cat({prefix, audio}, 1);
  for (int64_t layer = 0; layer < layers_; ++layer) {
    if (hidden != nullptr) hidden->push_back(x);
    x = block(x, layer, cache);
  }
  const int64_t width = x.size(-1);
  x = F::layer_norm(x, F::LayerNormFuncOptions({width})
                           .weight(weights_.get("gpt.gpt.ln_f.weight"))
                           .bias(weights_.get("gpt.gpt.ln_f.bias"))
                           .eps(1e-5));
  if (hidden != nullptr) hidden->push_back(x);
  cache.length = x.size(1);
  return logits(x.select(1, x.size(1) - 1), latent);
}

torch::Tensor XttsGpt::decode(const torch::Tensor& codes, KvCache& cache, torch::Tensor* latent) const {
  const auto& positions = weights_.get("gpt.mel_pos_embedding.emb.weight");
  if (cache.codes() >= positions.size(0)) {
    throw ModelError(ErrorCode::kInvalidInput, "more audio codes than the model has positions for");
  }
  auto x =
      (F::embedding(codes, weights_.get("gpt.mel_embedding.weight")) + positions[cache.codes()]).unsqueeze(1);
  for (int64_t layer = 0; layer < layers_; ++layer) x = block(x, layer, cache);
  const int64_t width = x.size(-1);
  x = F::layer_norm(x, F::LayerNormFuncOptions({width})
                           .weight(weights_.get("gpt.gpt.ln_f.weight"))
                           .bias(weights_.get("gpt.gpt.ln_f.bias"))
                           .eps(1e-5));
  ++cache.length;
  return logits(x.select(1, 0), latent);
}

torch::Tensor XttsGpt::decode_each(const torch::Tensor& codes, const std::vector<KvCache*>& caches,
                                   torch::Tensor* latents) const {
  const auto& positions = weights_.get("gpt.mel_pos_embedding.emb.weight");
  std::vector<int64_t> at;
  for (const KvCache* cache : caches) {
    if (cache->codes() >= positions.size(0)) {
      throw ModelError(ErrorCode::kInvalidInput, "more audio codes than the model has positions for");
    }
    at.push_back(cache->codes());
  }
  auto index = torch::tensor(at, torch::TensorOptions().dtype(torch::kLong)).to(positions.device());
  auto x = (F::embedding(codes, weights_.get("gpt.mel_embedding.weight")) + positions.index_select(0, index))
               .unsqueeze(1);
  for (int64_t layer = 0; layer < layers_; ++layer) x = block_each(x, layer, caches);
  const int64_t width = x.size(-1);
  x = F::layer_norm(x, F::LayerNormFuncOptions({width})
                           .weight(weights_.get("gpt.gpt.ln_f.weight"))
                           .bias(weights_.get("gpt.gpt.ln_f.bias"))
                           .eps(1e-5));
  for (KvCache* cache : caches) ++cache->length;
  return logits(x.select(1, 0), latents);
}

torch::Tensor XttsGpt::decode_slots(const torch::Tensor& codes, SlotCache& cache,
                                    torch::Tensor* latents) const {
  const auto& positions = weights_.get("gpt.mel_pos_embedding.emb.weight");
  const int64_t slots = cache.slots();
  const int64_t width = positions.size(1);
  auto x = (F::embedding(codes, weights_.get("gpt.mel_embedding.weight")) +
            positions.index_select(0, cache.positions))
               .unsqueeze(1);
  const auto write_at = cache.lengths.view({slots, 1, 1, 1}).expand({slots, heads_, 1, width / heads_});
  // A slot sees its filled positions and the one this step writes.
  const auto visible = (cache.columns.unsqueeze(0) <= cache.lengths.unsqueeze(1)).view({slots, 1, 1, -1});
  for (int64_t layer = 0; layer < layers_; ++layer) x = block_slots(x, layer, cache, write_at, visible);
  x = F::layer_norm(x, F::LayerNormFuncOptions({width})
                           .weight(weights_.get("gpt.gpt.ln_f.weight"))
                           .bias(weights_.get("gpt.gpt.ln_f.bias"))
                           .eps(1e-5));
  cache.lengths.add_(cache.active);
  cache.positions.add_(cache.active);
  return logits(x.select(1, 0), latents);
}

torch::Tensor XttsGpt::latents(const torch::Tensor& cond_latents, const torch::Tensor& text_ids,
                               const torch::Tensor& codes) const {
  // Upstream frames the codes as [start, codes, stop...] and drops the tail; with causal attention the kept
  // positions depend only on [start, codes[:-1]], which is what is fed here.
  const int64_t batch = codes.size(0);
  const int64_t n = codes.size(1);
  auto start = torch::full({batch, 1}, config_.gpt_start_audio_token, codes.options());
  auto tokens = torch::cat({start, codes.slice(1, 0, n - 1)}, 1);
  const auto& positions = weights_.get("gpt.mel_pos_embedding.emb.weight");
  if (n > positions.size(0))
    throw ModelError(ErrorCode::kInvalidInput, "more audio codes than the model has positions for");
  auto audio =
      F::embedding(tokens, weights_.get("gpt.mel_embedding.weight")) + positions.slice(0, 0, n).unsqueeze(0);
  auto x = torch::cat({prefix_embedding(cond_latents, text_ids), audio}, 1);
  KvCache scratch;
  scratch.keys.assign(static_cast<size_t>(layers_), torch::Tensor());
  scratch.values.assign(static_cast<size_t>(layers_), torch::Tensor());
  for (int64_t layer = 0; layer < layers_; ++layer) x = block(x, layer, scratch);
  const int64_t width = x.size(-1);
  x = F::layer_norm(x, F::LayerNormFuncOptions({width})
                           .weight(weights_.get("gpt.gpt.ln_f.weight"))
                           .bias(weights_.get("gpt.gpt.ln_f.bias"))
                           .eps(1e-5));
  return final_norm(x).slice(1, x.size(1) - n);
}

torch::Tensor XttsGpt::repetition_penalty(const torch::Tensor& scores, const torch::Tensor& seen,
                                          double penalty) {
  auto picked = scores.gather(1, seen);
  picked = torch::where(picked < 0, picked * penalty, picked / penalty);
  return scores.scatter(1, seen, picked);
}

torch::Tensor XttsGpt::temperature(const torch::Tensor& scores, double value) {
  return scores / value;
}

torch::Tensor XttsGpt::top_k(const torch::Tensor& scores, int64_t k) {
  if (k <= 0) return scores;  // as Hugging Face's generate: top_k 0 adds no top-k warper
  k = std::min<int64_t>(k, scores.size(-1));
  auto threshold = std::get<0>(torch::topk(scores, k)).select(-1, k - 1).unsqueeze(-1);
  return scores.masked_fill(scores < threshold, -std::numeric_limits<float>::infinity());
}

torch::Tensor XttsGpt::top_p(const torch::Tensor& scores, double p) {
  auto sorted = torch::sort(scores, /*dim=*/-1, /*descending=*/false);
  auto cumulative = torch::softmax(std::get<0>(sorted), -1).cumsum(-1);
  auto remove_sorted = cumulative <= (1.0 - p);
  remove_sorted.select(-1, remove_sorted.size(-1) - 1).fill_(false);  // always keep the most likely
  auto remove = remove_sorted.scatter(1, std::get<1>(sorted), remove_sorted);
  return scores.masked_fill(remove, -std::numeric_limits<float>::infinity());
}

torch::Tensor XttsGpt::generate_greedy(const torch::Tensor& cond_latents, const torch::Tensor& text_ids,
                                       int64_t max_codes, const StepHook& on_step,
                                       const CodeHook& on_code) const {
  return generate(cond_latents, text_ids, max_codes, nullptr, on_step, on_code);
}

torch::Tensor XttsGpt::generate_sampled(const torch::Tensor& cond_latents, const torch::Tensor& text_ids,
                                        int64_t max_codes, const Sampling& sampling, const StepHook& on_step,
                                        const CodeHook& on_code) const {
  return generate(cond_latents, text_ids, max_codes, &sampling, on_step, on_code);
}

torch::Tensor XttsGpt::generate(const torch::Tensor& cond_latents, const torch::Tensor& text_ids,
                                int64_t max_codes, const Sampling* sampling, const StepHook& on_step,
                                const CodeHook& on_code) const {
  KvCache cache;
  auto prefix = prefix_embedding(cond_latents, text_ids);
  torch::Tensor latent;  // of the code the current scores draw
  auto scores = prefill(prefix, cache, nullptr, on_code ? &latent : nullptr);
  last_prefill_logits_ = scores;
  // Upstream's generate sees fake ids for the prefix (all 1) and the start token; they are penalised too.
  auto options = torch::TensorOptions().dtype(torch::kLong).device(prefix.device());
  auto seen = torch::cat({torch::ones({1, prefix.size(1)}, options),
                          torch::full({1, 1}, config_.gpt_start_audio_token, options)},
                         1);
  auto generator = generator_for(sampling);
  std::vector<int64_t> codes;
  while (static_cast<int64_t>(codes.size()) < max_codes) {
    if (on_step) on_step();
    const torch::Tensor next = draw(scores, seen, sampling, generator ? &*generator : nullptr);
    // The one host sync per step: the stop decision needs the code on the CPU.
    const int64_t code = next.item<int64_t>();
    codes.push_back(code);
    if (on_code)
      on_code(code, latent);  // the stop code's latent is spoken too, as upstream's stream yields it
    if (code == config_.gpt_stop_audio_token) break;
    seen = torch::cat({seen, next.unsqueeze(0)}, 1);
    if (static_cast<int64_t>(codes.size()) == max_codes) break;
    scores = decode(next, cache, on_code ? &latent : nullptr);
  }
  return torch::tensor(codes, options).unsqueeze(0);
}

torch::Tensor XttsGpt::draw(const torch::Tensor& scores, const torch::Tensor& seen, const Sampling* sampling,
                            at::Generator* generator) const {
  if (sampling == nullptr)
    return repetition_penalty(scores, seen, config_.repetition_penalty).argmax(-1);  // [1]
  auto processed = repetition_penalty(scores, seen, sampling->repetition_penalty);
  processed = top_p(top_k(temperature(processed, sampling->temperature), sampling->top_k), sampling->top_p);
  auto probabilities = torch::softmax(processed, -1);
  if (generator == nullptr) return torch::multinomial(probabilities, 1).squeeze(1);
  // The stop decision reads the code on the host anyway; the draw's input is one row of probabilities.
  return torch::multinomial(probabilities.to(torch::kCPU), 1, false, *generator)
      .squeeze(1)
      .to(scores.device());
}

std::optional<at::Generator> XttsGpt::generator_for(const Sampling* sampling) {
  if (sampling == nullptr || !sampling->seed) return std::nullopt;
  return at::make_generator<at::CPUGeneratorImpl>(*sampling->seed);
}

namespace {

int64_t round_up(int64_t value, int64_t step) {
  return (value + step - 1) / step * step;
}

}  // namespace

DecodeBatch::DecodeBatch(const XttsGpt& gpt, const XttsConfig& config, DecodeSettings settings)
    : gpt_(gpt), config_(config), settings_(settings) {
  if (settings_.capacity_step <= 0)
    throw ModelError(ErrorCode::kModelError, "capacity_step must be positive");
}

DecodeBatch::~DecodeBatch() = default;

void DecodeBatch::reshape_slots(int64_t slots, int64_t capacity) {
  slots_ = gpt_.grow_slots(slots_, slots, capacity);
  slot_taken_.resize(static_cast<size_t>(slots), false);
  slot_shapes_.emplace_back(slots, capacity);
}

int64_t DecodeBatch::take_slot(int64_t length) {
  const auto device = gpt_.device();
  if (slots_.slots() == 0) {
    slots_ = gpt_.make_slots(0, 0, device);
    reshape_slots(1, round_up(length + settings_.capacity_step, settings_.capacity_step));
  }
  reserve_capacity(length + 1);
  auto free = std::find(slot_taken_.begin(), slot_taken_.end(), false);
  if (free == slot_taken_.end()) {
    reshape_slots(2 * slots_.slots(), slots_.capacity());
    free = std::find(slot_taken_.begin(), slot_taken_.end(), false);
  }
  *free = true;
  return static_cast<int64_t>(free - slot_taken_.begin());
}

void DecodeBatch::reserve_capacity(int64_t length) {
  if (length <= slots_.capacity()) return;
  reshape_slots(slots_.slots(),
                round_up(std::max(length, slots_.capacity() * 3 / 2), settings_.capacity_step));
}

torch::Tensor DecodeBatch::decode(const std::vector<size_t>& continuing, const torch::Tensor& codes,
                                  torch::Tensor& latents) {
  if (!settings_.fixed_shapes) {
    std::vector<KvCache*> caches;
    for (size_t index : continuing) caches.push_back(&sequences_.at(index).cache);
    return gpt_.decode_each(codes, caches, &latents);
  }
  const int64_t positions = gpt_.audio_positions();
  int64_t longest = 0;
  std::vector<int64_t> rows;
  for (size_t index : continuing) {
    const Sequence& s = sequences_.at(index);
    if (s.cache.codes() >= positions) {
      throw ModelError(ErrorCode::kInvalidInput, "more audio codes than the model has positions for");
    }
    longest = std::max(longest, s.cache.length);
    rows.push_back(s.slot);
  }
  reserve_capacity(longest + 1);
  const auto slot_rows = torch::tensor(rows, torch::TensorOptions().dtype(torch::kLong)).to(codes.device());
  auto slot_codes = torch::zeros({slots_.slots()}, codes.options()).index_copy_(0, slot_rows, codes);
  torch::Tensor slot_latents;
  torch::Tensor slot_logits;
  if (settings_.cuda_graphs && codes.device().is_cuda()) {
    if (!graph_) graph_ = std::make_unique<DecodeGraph>(gpt_);
    slot_logits = graph_->step(slot_codes, slots_, slot_latents);
  } else {
    slot_logits = gpt_.decode_slots(slot_codes, slots_, &slot_latents);
  }
  // index_select copies: a graph's output buffers are overwritten by its next replay.
  auto logits = slot_logits.index_select(0, slot_rows);
  latents = slot_latents.index_select(0, slot_rows);
  for (size_t index : continuing) ++sequences_.at(index).cache.length;
  return logits;
}

size_t DecodeBatch::add(Request request) {
  Sequence sequence;
  auto prefix = gpt_.prefix_embedding(request.cond_latents, request.text_ids);
  sequence.scores = gpt_.prefill(prefix, sequence.cache, nullptr, &sequence.latent);
  if (settings_.fixed_shapes && request.max_codes > 0) {
    sequence.slot = take_slot(sequence.cache.length);
    gpt_.load_slot(slots_, sequence.slot, sequence.cache);
    // Its keys and values live in the slot now; the cache keeps only its lengths.
    sequence.cache.keys.clear();
    sequence.cache.values.clear();
  }
  auto options = torch::TensorOptions().dtype(torch::kLong).device(prefix.device());
  sequence.seen = torch::cat({torch::ones({1, prefix.size(1)}, options),
                              torch::full({1, 1}, config_.gpt_start_audio_token, options)},
                             1);
  sequence.request = std::move(request);
  sequence.generator =
      XttsGpt::generator_for(sequence.request.sampling ? &*sequence.request.sampling : nullptr);
  const bool empty = sequence.request.max_codes <= 0;
  const size_t index = next_index_++;
  sequences_.emplace(index, std::move(sequence));
  if (empty) end(index);
  return index;
}

void DecodeBatch::end(size_t index) {
  Sequence& s = sequences_.at(index);
  s.done = true;
  if (s.slot >= 0) {
    XttsGpt::clear_slot(slots_, s.slot);
    slot_taken_[static_cast<size_t>(s.slot)] = false;
    s.slot = -1;
  }
  newly_finished_.push_back(index);
}

std::vector<size_t> DecodeBatch::take_finished() {
  std::vector<size_t> finished;
  finished.swap(newly_finished_);
  return finished;
}

void DecodeBatch::release(size_t index) {
  sequences_.erase(index);
}

size_t DecodeBatch::unfinished() const {
  return static_cast<size_t>(std::count_if(sequences_.begin(), sequences_.end(),
                                           [](const auto& entry) { return !entry.second.done; }));
}

bool DecodeBatch::step() {
  // Draw every unfinished sequence's code on the device first, then read them all with one copy: one host
  // sync per step for the whole batch, not one per sequence.
  std::vector<size_t> drawn;
  std::vector<torch::Tensor> draws;
  for (auto& [index, s] : sequences_) {
    if (s.done) continue;
    try {
      if (s.request.on_step) s.request.on_step();
      const auto* sampling = s.request.sampling ? &*s.request.sampling : nullptr;
      draws.push_back(gpt_.draw(s.scores, s.seen, sampling, s.generator ? &*s.generator : nullptr));
      drawn.push_back(index);
    } catch (...) {
      s.error = std::current_exception();
      end(index);
    }
  }
  if (drawn.empty()) return unfinished() > 0;
  const auto all_draws = torch::cat(draws);
  const auto host_codes = all_draws.to(torch::kCPU);
  const int64_t* code_of = host_codes.data_ptr<int64_t>();
  std::vector<size_t> continuing;
  std::vector<int64_t> continuing_rows;
  for (size_t k = 0; k < drawn.size(); ++k) {
    Sequence& s = sequences_.at(drawn[k]);
    try {
      const int64_t code = code_of[k];
      s.codes.push_back(code);
      // The latent that drew a code is kept for it, the stop code's included (upstream vocodes it).
      s.latents.push_back(s.latent);
      if (s.request.on_code) s.request.on_code(code, s.latent);
      if (code == config_.gpt_stop_audio_token) {
        end(drawn[k]);
        continue;
      }
      s.seen = torch::cat({s.seen, draws[k].unsqueeze(0)}, 1);
      if (static_cast<int64_t>(s.codes.size()) >= s.request.max_codes) {
        end(drawn[k]);
        continue;
      }
      continuing.push_back(drawn[k]);
      continuing_rows.push_back(static_cast<int64_t>(k));
    } catch (...) {
      s.error = std::current_exception();
      end(drawn[k]);
    }
  }
  if (!continuing.empty()) {
    const auto next_codes =
        continuing.size() == drawn.size()
            ? all_draws
            : all_draws.index_select(0, torch::tensor(continuing_rows).to(all_draws.device()));
    torch::Tensor latents;
    auto scores = decode(continuing, next_codes, latents);
    for (size_t k = 0; k < continuing.size(); ++k) {
      Sequence& s = sequences_.at(continuing[k]);
      s.scores = scores.slice(0, static_cast<int64_t>(k), static_cast<int64_t>(k) + 1);
      s.latent = latents.slice(0, static_cast<int64_t>(k), static_cast<int64_t>(k) + 1);
    }
  }
  return unfinished() > 0;
}

torch::Tensor DecodeBatch::codes(size_t index) const {
  return torch::tensor(sequences_.at(index).codes, torch::TensorOptions().dtype(torch::kLong)).unsqueeze(0);
}

torch::Tensor DecodeBatch::latents(size_t index) const {
  const auto& list = sequences_.at(index).latents;
  return list.empty() ? torch::Tensor() : torch::cat(list, 0).unsqueeze(0);
}

}  // namespace gpufleet::xtts
