#include "models/espeak/espeak_tts.hpp"

#include <espeak-ng/speak_lib.h>

#include <algorithm>
#include <cstring>

#include "common/config.hpp"
#include "common/error.hpp"

namespace gpufleet::models {

std::mutex& espeak_engine_mutex() {
  static std::mutex mutex;
  return mutex;
}

int espeak_engine_sample_rate() {
  static const int rate = [] {
    auto data_path = env_value("ESPEAK_DATA_PATH");
    int sample_rate =
        espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, data_path ? data_path->c_str() : nullptr,
                          espeakINITIALIZE_DONT_EXIT | espeakINITIALIZE_PHONEME_EVENTS);
    return sample_rate;
  }();
  return rate;
}

namespace {

std::mutex& engine_mutex() {
  return espeak_engine_mutex();
}
int engine_sample_rate() {
  return espeak_engine_sample_rate();
}

// Phoneme onsets kept per job: enough for the one hour of speech synthesis is capped at.
constexpr size_t kMaxPhonemes = 200'000;

struct PhonemeOnset {
  int at_ms;
  std::string name;  // espeak-ng's mnemonic (e.g. "aI", "m", "_:")
};

struct SynthesisSink {
  std::vector<int16_t>* samples;
  size_t max_samples;
  JobContext* context;
  std::vector<PhonemeOnset>* phonemes = nullptr;  // null: not asked for
  bool overflow = false;
  bool stopped = false;
};

int collect_samples(short* wav, int count, espeak_EVENT* events) {
  auto* sink = static_cast<SynthesisSink*>(events->user_data);
  if (sink->phonemes != nullptr) {
    for (const espeak_EVENT* event = events; event->type != espeakEVENT_LIST_TERMINATED; ++event) {
      if (event->type != espeakEVENT_PHONEME || sink->phonemes->size() >= kMaxPhonemes) continue;
      const char* name = event->id.string;
      sink->phonemes->push_back(
          PhonemeOnset{event->audio_position, std::string(name, strnlen(name, sizeof(event->id.string)))});
    }
  }
  if (wav == nullptr || count <= 0) return 0;
  // espeak calls back for every chunk of samples: the place to notice a cancellation and to show progress.
  if (sink->context->stop_requested()) {
    sink->stopped = true;
    return 1;
  }
  sink->context->progress();
  if (sink->samples->size() + static_cast<size_t>(count) > sink->max_samples) {
    sink->overflow = true;
    return 1;  // asks espeak to stop
  }
  sink->samples->insert(sink->samples->end(), wav, wav + count);
  return 0;
}

// Each phoneme from its onset to the next one's (the last to the end of the audio), in the form video jobs
// take.
nlohmann::json phoneme_spans(const std::vector<PhonemeOnset>& onsets, double duration_ms) {
  nlohmann::json spans = nlohmann::json::array();
  for (size_t i = 0; i < onsets.size(); ++i) {
    const double start = std::min<double>(onsets[i].at_ms, duration_ms);
    const double end =
        i + 1 < onsets.size() ? std::min<double>(onsets[i + 1].at_ms, duration_ms) : duration_ms;
    if (end <= start) continue;
    spans.push_back({{"phoneme", onsets[i].name}, {"start_ms", start}, {"end_ms", end}});
  }
  return spans;
}

}  // namespace

const std::map<std::string, std::string>& EspeakTts::language_voices() {
  static const std::map<std::string, std::string> voices{
      {"en", "en-us"},  {"es", "es"}, {"fr", "fr"}, {"de", "de"}, {"it", "it"}, {"pt", "pt"},
      {"pl", "pl"},     {"tr", "tr"}, {"ru", "ru"}, {"nl", "nl"}, {"cs", "cs"}, {"ar", "ar"},
      {"zh-cn", "cmn"}, {"ja", "ja"}, {"hu", "hu"}, {"ko", "ko"}, {"hi", "hi"}};
  return voices;
}

EspeakTts::EspeakTts() {
  std::lock_guard lock(engine_mutex());
  const int rate = engine_sample_rate();
  if (rate <= 0) {
    throw ModelError(
        ErrorCode::kModelError,
        "espeak-ng could not initialise (is espeak-ng-data installed, or ESPEAK_DATA_PATH set?)");
  }
  info_.name = "espeak";
  info_.kind = "tts";
  info_.cloning = false;
  info_.sample_rate = static_cast<uint32_t>(rate);
  for (const auto& [language, voice] : language_voices()) {
    if (espeak_SetVoiceByName(voice.c_str()) == EE_OK) {
      voices_[language] = voice;
      info_.languages.push_back(language);
    }
  }
  if (voices_.empty()) throw ModelError(ErrorCode::kModelError, "espeak-ng has none of the expected voices");
}

ModelOutput EspeakTts::run(const ModelInput& input, JobContext& context) {
  const TtsRequest request = parse_tts_request(input.input, info_);
  const std::string& voice = voices_.at(request.language);

  Audio audio;
  audio.sample_rate = info_.sample_rate;
  // A generous cap (one hour at espeak's rate) so that a hostile text cannot exhaust memory.
  SynthesisSink sink{&audio.samples, static_cast<size_t>(info_.sample_rate) * 3600, &context};
  // "timings": true asks for when each phoneme is spoken (a talking head's mouth follows them).
  std::vector<PhonemeOnset> onsets;
  const auto timings = input.input.find("timings");
  if (timings != input.input.end() && timings->is_boolean() && timings->get<bool>()) sink.phonemes = &onsets;
  {
    std::lock_guard lock(engine_mutex());
    context.check();  // the wait for the engine may have been long
    espeak_SetSynthCallback(collect_samples);
    if (espeak_SetVoiceByName(voice.c_str()) != EE_OK) {
      throw ModelError(ErrorCode::kModelError, "espeak-ng cannot select voice " + voice);
    }
    espeak_ERROR status = espeak_Synth(request.text.c_str(), request.text.size() + 1, 0, POS_CHARACTER, 0,
                                       espeakCHARS_UTF8, nullptr, &sink);
    if (status == EE_OK) status = espeak_Synchronize();
    if (status != EE_OK) throw ModelError(ErrorCode::kModelError, "espeak-ng failed to synthesise");
  }
  if (sink.stopped) context.check();
  if (sink.overflow) throw ModelError(ErrorCode::kTextTooLong, "speech would be longer than one hour");
  if (audio.samples.empty()) throw ModelError(ErrorCode::kInvalidInput, "the text produced no speech");
  ModelOutput output{std::move(audio)};
  if (sink.phonemes != nullptr)
    output.details["phonemes"] = phoneme_spans(onsets, output.audio->duration_s() * 1000.0);
  return output;
}

}  // namespace gpufleet::models
