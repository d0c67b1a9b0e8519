#pragma once
#include <map>
#include <mutex>
#include <string>

#include "models/model.hpp"

namespace gpufleet::models {

// libespeak-ng's process-wide engine: every use (synthesis, phonemisation) holds this lock.
std::mutex& espeak_engine_mutex();
// Initialises the engine once per process (ESPEAK_DATA_PATH or Debian's data); its sample rate, <= 0 on
// failure. Call with espeak_engine_mutex() held.
int espeak_engine_sample_rate();

// The default TTS model: espeak-ng called in-process through libespeak-ng. Runs anywhere, needs no weights.
// libespeak-ng keeps global state, so every instance in a process shares one engine behind one lock.
class EspeakTts final : public Model {
 public:
  EspeakTts();
  const models::ModelInfo& info() const override { return info_; }
  ModelOutput run(const ModelInput& input, JobContext& context) override;

  // XTTS-v2's language codes mapped to espeak-ng voices; only those the installed data can speak are served.
  static const std::map<std::string, std::string>& language_voices();

 private:
  models::ModelInfo info_;
  std::map<std::string, std::string> voices_;  // language -> espeak voice, available ones
};

}  // namespace gpufleet::models
