#pragma once
// XTTS-v2's autoregressive GPT-2 over audio codes, natively: the prefix (conditioning latents, then the text
// framed by start/stop tokens with learned text positions), a prefill that fills a per-layer key/value cache,
// single-code cached decode steps, the logits processors in Hugging Face's order, and greedy decoding.
// Layer count, width and vocabulary sizes come from the weights; heads from the config.

#include <torch/types.h>

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "models/xtts/config.hpp"
#include "models/xtts/torch/weights.hpp"

namespace gpufleet::xtts {

// Keys and values of every layer so far. Each layer's buffer is [B, heads, capacity, head_dim] with the first
// `length` positions filled; a full buffer doubles, so a decode step writes its one position in place instead
// of copying the whole cache (as appending by concatenation does), and a buffer is copied log(n) times in
// all.
struct KvCache {
  std::vector<torch::Tensor> keys;
  std::vector<torch::Tensor> values;
  int64_t length = 0;         // positions filled in every layer (a step's own are added after its last layer)
  int64_t prefix_length = 0;  // conditioning + text positions

  // Audio positions after the prefix (the start token counts).
  int64_t codes() const { return length - prefix_length; }

  // Writes `k` and `v` [B, heads, T, head_dim] at positions [length, length + T) of `layer` and returns that
  // layer's keys and values up to them (views of the buffers).
  std::pair<torch::Tensor, torch::Tensor> append(size_t layer, const torch::Tensor& k,
                                                 const torch::Tensor& v);
};

// Keys and values of up to `slots()` sequences in buffers of one fixed shape, [slots, heads, capacity,
// head_dim] per layer, with each slot's filled length and next audio position as device tensors. A decode
// step over them (XttsGpt::decode_slots) has the same shapes and reads and writes the same memory every time:
// no host sync inside it, and on CUDA it is captured once as a graph and replayed (DecodeGraph). A slot
// without a sequence (`active` 0) still runs through the step, its row ignored, and does not advance.
struct SlotCache {
  std::vector<torch::Tensor> keys;    // per layer [slots, heads, capacity, head_dim]
  std::vector<torch::Tensor> values;  // the same
  torch::Tensor lengths;              // [slots] long: positions filled (prefix, start token, codes fed)
  torch::Tensor positions;            // [slots] long: the audio position of the code fed next
  torch::Tensor active;               // [slots] long: 1 where a sequence decodes, else 0
  torch::Tensor columns;              // [capacity] long: 0 .. capacity - 1, for the attention mask

  int64_t slots() const { return lengths.defined() ? lengths.size(0) : 0; }
  int64_t capacity() const { return columns.defined() ? columns.size(0) : 0; }
};

class XttsGpt {
 public:
  XttsGpt(const Weights& weights, const XttsConfig& config);

  // [B, latents, d] conditioning and [B, T] text ids -> [B, latents + T + 2, d]
  torch::Tensor prefix_embedding(const torch::Tensor& cond_latents, const torch::Tensor& text_ids) const;

  // Runs the prefix plus the start-of-audio token; returns the raw logits for the first code [B, V].
  // When `hidden` is given it receives each block's input and the final ln_f output. `latent` receives the
  // final-normed hidden state of the last position [B, d]: the latent of the code these logits draw.
  torch::Tensor prefill(const torch::Tensor& prefix, KvCache& cache,
                        std::vector<torch::Tensor>* hidden = nullptr, torch::Tensor* latent = nullptr) const;
  // Feeds one code per sequence [B]; returns the raw logits for the next [B, V] (and its latent, as prefill).
  torch::Tensor decode(const torch::Tensor& codes, KvCache& cache, torch::Tensor* latent = nullptr) const;
  // The same for sequences that each have their own cache, of any length (requests that started at different
  // times): the weight products run once for all rows, attention per sequence over its own cache.
  torch::Tensor decode_each(const torch::Tensor& codes, const std::vector<KvCache*>& caches,
                            torch::Tensor* latents = nullptr) const;

  // Empty slots of `capacity` positions each on `device` (float32 keys and values, as KvCache's).
  SlotCache make_slots(int64_t slots, int64_t capacity, torch::Device device) const;
  // The same slots in larger buffers (more slots, more capacity): what they hold is kept, new slots empty.
  SlotCache grow_slots(const SlotCache& cache, int64_t slots, int64_t capacity) const;
  // Puts a prefilled sequence (prefill's cache, batch 1) in `slot` and marks it active. Its length must fit.
  void load_slot(SlotCache& cache, int64_t slot, const KvCache& prefilled) const;
  // Empties `slot`: inactive, its length and position back to 0 (so its row's writes stay in bounds).
  static void clear_slot(SlotCache& cache, int64_t slot);
  // One fixed-shape decode step: feeds `codes` [slots] (one per slot; an inactive slot's is ignored), writes
  // each active slot's keys and values at its length, attends over the filled positions (a mask from the
  // lengths) and advances the active slots. Returns the raw logits [slots, V] (and latents [slots, d]), the
  // same as decode_each's for the active slots up to rounding. The caller keeps every active slot's length
  // below capacity and its position within the model's audio positions (the step does not check).
  torch::Tensor decode_slots(const torch::Tensor& codes, SlotCache& cache,
                             torch::Tensor* latents = nullptr) const;

  // Hugging Face's RepetitionPenaltyLogitsProcessor over `seen` ids [B, N]: scores of ids present are divided
  // by the penalty when positive, multiplied when negative.
  static torch::Tensor repetition_penalty(const torch::Tensor& scores, const torch::Tensor& seen,
                                          double penalty);
  static torch::Tensor temperature(const torch::Tensor& scores, double temperature);
  static torch::Tensor top_k(const torch::Tensor& scores, int64_t k);
  static torch::Tensor top_p(const torch::Tensor& scores, double p);

  // Greedy generation as upstream's gpt.generate(do_sample=False): repetition penalty over the fake prefix
  // ids (1 ... 1, start) and the codes so far, argmax, until the stop code or `max_codes`. [1, n] codes,
  // the stop code included when emitted.
  // `on_step` runs before each code is drawn (a job's cancellation check and lease renewal); what it throws
  // ends the generation.
  using StepHook = std::function<void()>;
  // Called with each code, the stop code included, and the latent [1, d] that drew it, as the decode loop
  // draws it: the same latent the teacher-forced pass gives that code, without a second pass (streaming uses
  // it). Every one is spoken, as upstream vocodes the stop code's latent too.
  using CodeHook = std::function<void(int64_t code, const torch::Tensor& latent)>;
  torch::Tensor generate_greedy(const torch::Tensor& cond_latents, const torch::Tensor& text_ids,
                                int64_t max_codes, const StepHook& on_step = {},
                                const CodeHook& on_code = {}) const;

  // Sampling as upstream's default inference: the four processors in Hugging Face's order, then one draw from
  // the softmax. With a seed the draws come from a CPU generator of the sequence's own, seeded with it (as
  // torch.manual_seed seeds the default one), so that a seed gives the same codes whatever other sequences
  // decode beside it and on whichever device the model runs (up to the device's rounding of the scores).
  // Without one they come from the process-wide generator of the scores' device.
  struct Sampling {
    double temperature = 0.75;
    int64_t top_k = 50;
    double top_p = 0.85;
    double repetition_penalty = 10.0;
    std::optional<uint64_t> seed;
  };
  torch::Tensor generate_sampled(const torch::Tensor& cond_latents, const torch::Tensor& text_ids,
                                 int64_t max_codes, const Sampling& sampling, const StepHook& on_step = {},
                                 const CodeHook& on_code = {}) const;

  // One draw as generate() makes it: the processors over `scores` [1, V] with the ids `seen` so far, then
  // argmax (greedy: `sampling` null, the config's repetition penalty) or a multinomial draw, from `generator`
  // (a CPU generator; see Sampling::seed) when given. [1] on the scores' device.
  torch::Tensor draw(const torch::Tensor& scores, const torch::Tensor& seen, const Sampling* sampling,
                     at::Generator* generator = nullptr) const;
  // The CPU generator a seeded sampling draws from; none for greedy decoding or an unseeded sampling.
  static std::optional<at::Generator> generator_for(const Sampling* sampling);

  // The raw logits for the first code, as returned by the last prefill (for inspection and dumps).
  const torch::Tensor& last_prefill_logits() const { return last_prefill_logits_; }

  // Upstream's teacher-forced pass (gpt.forward with return_latent): the final-normed hidden state at the
  // start token and each code but the last, one latent per code. [B, n] codes -> [B, n, d].
  torch::Tensor latents(const torch::Tensor& cond_latents, const torch::Tensor& text_ids,
                        const torch::Tensor& codes) const;

  int64_t layers() const { return layers_; }
  // How many audio positions the model has (the most codes a sequence may feed).
  int64_t audio_positions() const;
  // Where the weights are.
  torch::Device device() const;

 private:
  torch::Tensor block(const torch::Tensor& x, int64_t layer, KvCache& cache) const;
  torch::Tensor block_each(const torch::Tensor& x, int64_t layer, const std::vector<KvCache*>& caches) const;
  // `write_at` [slots, heads, 1, head_dim]: each slot's length; `visible` [slots, 1, 1, capacity].
  torch::Tensor block_slots(const torch::Tensor& x, int64_t layer, SlotCache& cache,
                            const torch::Tensor& write_at, const torch::Tensor& visible) const;
  // The block's first half: ln_1, then the fused query/key/value projection, one row per position.
  torch::Tensor block_head(const torch::Tensor& x, const std::string& name) const;
  // The block's second half: x + attention output projection, then the MLP with its residual.
  torch::Tensor block_tail(const torch::Tensor& x, const torch::Tensor& attended,
                           const std::string& name) const;
  torch::Tensor final_norm(const torch::Tensor& hidden) const;
  // The mel head over the last position's ln_f output; its final-normed input goes to `latent` when given.
  torch::Tensor logits(const torch::Tensor& last_hidden, torch::Tensor* latent) const;

  torch::Tensor generate(const torch::Tensor& cond_latents, const torch::Tensor& text_ids, int64_t max_codes,
                         const Sampling* sampling, const StepHook& on_step, const CodeHook& on_code) const;

  const Weights& weights_;
  XttsConfig config_;
  mutable torch::Tensor last_prefill_logits_;
  int64_t layers_ = 0;
  int64_t heads_ = 0;
};

// How a DecodeBatch runs its steps.
struct DecodeSettings {
  // Slots of fixed shapes (SlotCache, XttsGpt::decode_slots): one step of the same shapes whatever the
  // sequences' lengths, on every device. Off: a cache per sequence (XttsGpt::decode_each), attention per
  // sequence over exactly its filled positions (the reference the fixed-shape step is checked against).
  bool fixed_shapes = true;
  // On CUDA, with fixed shapes: the step captured as a CUDA graph once per slot count and capacity and
  // replayed (DecodeGraph); elsewhere the step runs eagerly.
  bool cuda_graphs = false;
  // Slot capacities are multiples of this many positions; the first slot gets one multiple of room past its
  // prefill. Larger: fewer growths (each a new graph), more masked positions in every step's attention.
  int64_t capacity_step = 64;
};

class DecodeGraph;

// Several sequences decoded together, each with its own text, voice, cache, sampling and length: the batch
// runs one decode step for all unfinished sequences at a time, a sequence leaves when it stops, and a new one
// may join between steps (continuous batching). Codes equal generating each alone, up to float rounding of
// the shared products. With fixed shapes a sequence holds a slot of a SlotCache from its prefill to its end;
// slots double when all are taken and capacity grows by half, in whole capacity steps, when a sequence
// needs more (each a new graph on CUDA).
class DecodeBatch {
 public:
  DecodeBatch(const XttsGpt& gpt, const XttsConfig& config, DecodeSettings settings = {});
  ~DecodeBatch();
  DecodeBatch(const DecodeBatch&) = delete;
  DecodeBatch& operator=(const DecodeBatch&) = delete;

  struct Request {
    torch::Tensor cond_latents;  // [1, latents, d]
    torch::Tensor text_ids;      // [1, T]
    int64_t max_codes = 0;
    std::optional<XttsGpt::Sampling> sampling;  // none: greedy
    XttsGpt::StepHook on_step;                  // before each of its codes; what it throws ends this sequence
    XttsGpt::CodeHook on_code;
  };
  // Prefills the sequence and adds it; its first code is drawn at the next step. Returns its index.
  size_t add(Request request);
  // Draws one code for every unfinished sequence and advances them together. False once none is left.
  bool step();
  size_t unfinished() const;
  // The sequences that ended since the last call (stopped, at max_codes, or failed), in the order they ended:
  // a caller finishes each at once instead of waiting for the whole batch.
  std::vector<size_t> take_finished();
  // Forgets a finished sequence once its caller has taken what it needs (its cache, codes and latents go).
  void release(size_t index);

  // A sequence's codes [1, n] (the stop code included when drawn), its latents [1, n, d] (one per code, the
  // stop code's included), and what ended it early (a hook's exception), if anything.
  torch::Tensor codes(size_t index) const;
  torch::Tensor latents(size_t index) const;
  std::exception_ptr error(size_t index) const { return sequences_.at(index).error; }

  // Slot counts and capacities a fixed-shape batch has had: what its graphs were captured for.
  const std::vector<std::pair<int64_t, int64_t>>& slot_shapes() const { return slot_shapes_; }

 private:
  struct Sequence {
    Request request;
    KvCache cache;      // its keys and values; with fixed shapes only its lengths (the keys are in its slot)
    int64_t slot = -1;  // with fixed shapes, its row of slots_ until it ends
    torch::Tensor scores;  // [1, V] for its next code
    torch::Tensor latent;  // [1, d] of its next code
    torch::Tensor seen;    // [1, N] ids the repetition penalty sees
    std::vector<int64_t> codes;
    std::vector<torch::Tensor> latents;
    std::optional<at::Generator> generator;  // a seeded sampling's own
    bool done = false;
    std::exception_ptr error;
  };
  const XttsGpt& gpt_;
  const XttsConfig& config_;
  DecodeSettings settings_;
  // Marks a sequence ended and queues it for take_finished(); frees its slot.
  void end(size_t index);
  // A free slot for a sequence of `length` positions, the slots grown when none is free or too short.
  int64_t take_slot(int64_t length);
  // Makes every slot hold `length` positions at least.
  void reserve_capacity(int64_t length);
  void reshape_slots(int64_t slots, int64_t capacity);
  // The decode step over the continuing sequences: decode_each, or decode_slots (eager or a graph's replay).
  torch::Tensor decode(const std::vector<size_t>& continuing, const torch::Tensor& codes,
                       torch::Tensor& latents);

  SlotCache slots_;
  std::vector<bool> slot_taken_;
  std::vector<std::pair<int64_t, int64_t>> slot_shapes_;
  std::unique_ptr<DecodeGraph> graph_;

  std::map<size_t, Sequence> sequences_;  // by index, in the order they were added; released ones gone
  size_t next_index_ = 0;
  std::vector<size_t> newly_finished_;
};

}  // namespace gpufleet::xtts
