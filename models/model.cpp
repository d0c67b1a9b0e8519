#include "models/model.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace gpufleet::models {

TtsRequest parse_tts_request(const nlohmann::json& input, const models::ModelInfo& info) {
  if (!input.is_object()) throw ModelError(ErrorCode::kInvalidInput, "input must be an object");
  TtsRequest request;
  auto text = input.find("text");
  if (text == input.end() || !text->is_string() || text->get_ref<const std::string&>().empty()) {
    throw ModelError(ErrorCode::kMissingField, "input.text must be a non-empty string");
  }
  request.text = text->get<std::string>();
  // As the gateway defaults it: English, or the only language of a single-language model.
  request.language =
      input.value("language", info.languages.size() == 1 ? info.languages.front() : std::string("en"));
  if (!info.languages.empty() &&
      std::find(info.languages.begin(), info.languages.end(), request.language) == info.languages.end()) {
    throw ModelError(ErrorCode::kUnsupportedLanguage,
                     "model " + info.name + " cannot speak language '" + request.language + "'");
  }
  if (auto speaker = input.find("speaker_wav"); speaker != input.end() && speaker->is_string()) {
    request.speaker_wav = speaker->get<std::string>();
    if (!request.speaker_wav.empty()) request.speaker_wavs.push_back(request.speaker_wav);
  } else if (speaker != input.end() && speaker->is_array()) {
    for (const auto& path : *speaker) {
      if (!path.is_string() || path.get_ref<const std::string&>().empty())
        throw ModelError(ErrorCode::kInvalidInput, "each speaker_wav must be a non-empty string");
      request.speaker_wavs.push_back(path.get<std::string>());
    }
    if (!request.speaker_wavs.empty()) request.speaker_wav = request.speaker_wavs.front();
  }
  if (!request.speaker_wav.empty() && !info.cloning) {
    throw ModelError(ErrorCode::kCannotClone,
                     "model " + info.name + " cannot clone a voice from speaker_wav");
  }
  return request;
}

void Model::warm_up() {
  const auto& languages = info().languages;
  if (info().kind != "tts") return;
  nlohmann::json input{{"text", "Warming up."}};
  input["language"] =
      languages.empty() || std::find(languages.begin(), languages.end(), "en") != languages.end()
          ? "en"
          : languages.front();
  JobContext context;
  run(ModelInput{"warmup", input}, context);
}

std::vector<BatchOutcome> Model::run_batch(const std::vector<BatchItem>& items) {
  std::vector<BatchOutcome> outcomes(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    try {
      outcomes[i].output = run(*items[i].input, *items[i].context);
    } catch (...) {
      outcomes[i].error = std::current_exception();
    }
  }
  return outcomes;
}

void Model::run_continuous(const std::vector<BatchItem>& items, BatchFeed& feed) {
  auto outcomes = run_batch(items);
  if (outcomes.size() != items.size())
    throw ModelError(ErrorCode::kModelError, "model answered a short batch");
  for (size_t i = 0; i < items.size(); ++i) feed.finish(items[i], std::move(outcomes[i]));
}

}  // namespace gpufleet::models
