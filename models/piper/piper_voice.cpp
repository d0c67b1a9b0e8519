#include "models/piper/piper_voice.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/error.hpp"

namespace gpufleet::models {

struct PiperVoice::Prepared {
  VitsScales scales;
  std::vector<VitsSequence> sentences;
};

namespace {

int64_t speaker_id(const nlohmann::json& input, const PiperVoiceConfig& config) {
  auto speaker = input.find("speaker");
  if (speaker == input.end() || speaker->is_null()) return 0;
  if (speaker->is_string()) {
    auto found = config.speaker_id_map.find(speaker->get<std::string>());
    if (found == config.speaker_id_map.end()) {
      throw ModelError(ErrorCode::kInvalidInput,
                       "input.speaker: this voice has no speaker '" + speaker->get<std::string>() + "'");
    }
    return found->second;
  }
  if (speaker->is_number_integer() && speaker->get<int64_t>() >= 0 &&
      speaker->get<int64_t>() < static_cast<int64_t>(config.num_speakers)) {
    return speaker->get<int64_t>();
  }
  throw ModelError(ErrorCode::kInvalidInput, "input.speaker must be a speaker name or an id below " +
                                                 std::to_string(config.num_speakers));
}

float speed(const nlohmann::json& input) {
  auto value = input.find("speed");
  if (value == input.end() || value->is_null()) return 1.0f;
  if (!value->is_number() || !(value->get<double>() >= 0.25 && value->get<double>() <= 4.0)) {
    throw ModelError(ErrorCode::kInvalidInput, "input.speed must be a number from 0.25 to 4");
  }
  return value->get<float>();
}

// Piper's output scaling: the utterance's peak at full scale (quiet ones are not blown up past 100x).
std::vector<int16_t> to_pcm16(const std::vector<float>& audio) {
  float peak = 0.01f;
  for (float sample : audio) peak = std::max(peak, std::fabs(sample));
  const float gain = 32767.0f / peak;
  std::vector<int16_t> pcm(audio.size());
  for (size_t i = 0; i < audio.size(); ++i) {
    pcm[i] = static_cast<int16_t>(std::lround(std::clamp(audio[i] * gain, -32767.0f, 32767.0f)));
  }
  return pcm;
}

}  // namespace

PiperVoice::PiperVoice(std::string name, PiperVoiceConfig config,
                       std::unique_ptr<VitsSynthesizer> synthesizer, PiperVoiceOptions options)
    : config_(std::move(config)), synthesizer_(std::move(synthesizer)), options_(options) {
  if (options_.max_batch == 0) options_.max_batch = 1;
  info_.name = std::move(name);
  info_.kind = "tts";
  info_.parameters = {"speaker", "speed"};
  info_.languages = {config_.language};
  info_.cloning = false;
  info_.sample_rate = config_.sample_rate;
}

PiperVoice::Prepared PiperVoice::prepare(const ModelInput& input) const {
  const TtsRequest request = parse_tts_request(input.input, info_);  // text, language, and no speaker_wav
  Prepared prepared;
  prepared.scales =
      VitsScales{config_.noise_scale, config_.length_scale / speed(input.input), config_.noise_w};
  const int64_t speaker = speaker_id(input.input, config_);
  for (const auto& phonemes : espeak_ipa_sentences(request.text, config_.espeak_voice)) {
    prepared.sentences.push_back(VitsSequence{piper_phoneme_ids(phonemes, config_), speaker});
  }
  if (prepared.sentences.empty()) throw ModelError(ErrorCode::kInvalidInput, "input.text has nothing to say");
  return prepared;
}

ModelOutput PiperVoice::run(const ModelInput& input, JobContext& context) {
  auto outcomes = run_batch({BatchItem{&input, &context}});
  if (outcomes[0].error) std::rethrow_exception(outcomes[0].error);
  return std::move(*outcomes[0].output);
}

std::vector<BatchOutcome> PiperVoice::run_batch(const std::vector<BatchItem>& items) {
  std::vector<BatchOutcome> outcomes(items.size());
  std::vector<Prepared> prepared(items.size());
  std::vector<std::vector<std::vector<float>>> waves(items.size());
  // Sentences to run, grouped by the scales they need (one set per forward pass): (item, sentence).
  std::map<VitsScales, std::vector<std::pair<size_t, size_t>>> groups;
  for (size_t i = 0; i < items.size(); ++i) {
    try {
      items[i].context->check();
      prepared[i] = prepare(*items[i].input);
      waves[i].resize(prepared[i].sentences.size());
      for (size_t s = 0; s < prepared[i].sentences.size(); ++s) groups[prepared[i].scales].emplace_back(i, s);
    } catch (...) {
      outcomes[i].error = std::current_exception();
    }
  }
  for (auto& [scales, sentences] : groups) {
    std::stable_sort(sentences.begin(), sentences.end(), [&](const auto& a, const auto& b) {
      return prepared[a.first].sentences[a.second].ids.size() >
             prepared[b.first].sentences[b.second].ids.size();
    });
    for (size_t start = 0; start < sentences.size(); start += options_.max_batch) {
      std::vector<std::pair<size_t, size_t>> pass;
      std::vector<VitsSequence> batch;
      for (size_t k = start; k < std::min(sentences.size(), start + options_.max_batch); ++k) {
        const auto [item, sentence] = sentences[k];
        if (outcomes[item].error) continue;
        try {
          items[item].context->check();  // a cancelled or expired job leaves the pass
        } catch (...) {
          outcomes[item].error = std::current_exception();
          continue;
        }
        pass.emplace_back(item, sentence);
        batch.push_back(prepared[item].sentences[sentence]);
      }
      if (batch.empty()) continue;
      try {
        auto audio = synthesizer_->synthesize(batch, scales);
        for (size_t k = 0; k < pass.size(); ++k) waves[pass[k].first][pass[k].second] = std::move(audio[k]);
      } catch (...) {
        for (const auto& [item, sentence] : pass) {
          if (!outcomes[item].error) outcomes[item].error = std::current_exception();
        }
      }
    }
  }
  const auto silence =
      static_cast<size_t>(options_.sentence_silence_s * static_cast<float>(config_.sample_rate));
  for (size_t i = 0; i < items.size(); ++i) {
    if (outcomes[i].error) continue;
    std::vector<float> joined;
    for (const auto& wave : waves[i]) {
      joined.insert(joined.end(), wave.begin(), wave.end());
      joined.insert(joined.end(), silence, 0.0f);
    }
    outcomes[i].output = ModelOutput{Audio{to_pcm16(joined), config_.sample_rate}};
  }
  return outcomes;
}

}  // namespace gpufleet::models
