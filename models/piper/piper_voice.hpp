#pragma once
// A Piper voice as a model: text -> espeak-ng phonemes per sentence -> ids (piper_text) -> waveform through
// a VitsSynthesizer (the worker's TorchScript plugin) -> 16-bit audio with Piper's sentence pauses and peak
// normalisation. Jobs batch by sentence: every sentence of every job in a batch, sorted by length so that
// padding stays small, runs in padded passes of up to `max_batch` sentences.

#include <memory>
#include <string>

#include "models/model.hpp"
#include "models/piper/piper_text.hpp"
#include "models/piper/vits_synthesizer.hpp"

namespace gpufleet::models {

struct PiperVoiceOptions {
  uint32_t max_batch = 1;           // sentences per forward pass
  float sentence_silence_s = 0.2f;  // pause after each sentence, as Piper makes it
};

// Input fields besides text/language: "speaker" (a name of the voice's speaker_id_map or an id) and "speed"
// (0.25-4, divides the voice's length_scale). A voice speaks its config's language only and cannot clone.
class PiperVoice final : public Model {
 public:
  PiperVoice(std::string name, PiperVoiceConfig config, std::unique_ptr<VitsSynthesizer> synthesizer,
             PiperVoiceOptions options);
  const models::ModelInfo& info() const override { return info_; }
  ModelOutput run(const ModelInput& input, JobContext& context) override;
  bool batches() const override { return true; }
  std::vector<BatchOutcome> run_batch(const std::vector<BatchItem>& items) override;

 private:
  struct Prepared;
  Prepared prepare(const ModelInput& input) const;

  models::ModelInfo info_;
  PiperVoiceConfig config_;
  std::unique_ptr<VitsSynthesizer> synthesizer_;
  PiperVoiceOptions options_;
};

}  // namespace gpufleet::models
