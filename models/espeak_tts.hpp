#pragma once
#include <map>
#include <mutex>
#include <string>

#include "models/model.hpp"

namespace gpufleet::models {

// The default TTS model: espeak-ng called in-process through libespeak-ng. Runs anywhere, needs no weights.
// libespeak-ng keeps global state, so every instance in a process shares one engine behind one lock.
class EspeakTts final : public Model {
 public:
  EspeakTts();
  const protocol::ModelInfo& info() const override { return info_; }
  ModelOutput run(const ModelInput& input, JobContext& context) override;

  // XTTS-v2's language codes mapped to espeak-ng voices; only those the installed data can speak are served.
  static const std::map<std::string, std::string>& language_voices();

 private:
  protocol::ModelInfo info_;
  std::map<std::string, std::string> voices_;  // language -> espeak voice, available ones
};

}  // namespace gpufleet::models
