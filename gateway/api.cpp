#include "gateway/api.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <span>

#include "common/files.hpp"
#include "common/job.hpp"
#include "common/json_text.hpp"
#include "common/pipeline.hpp"
#include "common/sha256.hpp"
#include "gateway/webhooks.hpp"
#include "store/redis_schema.hpp"

namespace gpufleet::gateway {

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest:
    case ErrorCode::kInvalidJson:
    case ErrorCode::kMissingField:
    case ErrorCode::kInvalidSdp:
      return 400;
    case ErrorCode::kNotFound:
    case ErrorCode::kUnknownModel:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kNotReady:
    case ErrorCode::kJobFailed:
    case ErrorCode::kCancelled:
    case ErrorCode::kAlreadyFinal:
      return 409;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMediaType:
      return 415;
    case ErrorCode::kTextTooLong:
    case ErrorCode::kUnsupportedLanguage:
    case ErrorCode::kCannotClone:
    case ErrorCode::kInvalidInput:
    case ErrorCode::kIdempotencyConflict:
    case ErrorCode::kNoFace:
    case ErrorCode::kUnreadableMedia:
    case ErrorCode::kMediaTooLong:
    case ErrorCode::kIceRestartUnsupported:
      return 422;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kGone:
      return 410;
    case ErrorCode::kPoison:
      return 500;
    case ErrorCode::kQueueFull:
    case ErrorCode::kRateLimited:
    case ErrorCode::kTooManyWaits:
    case ErrorCode::kTooManySessions:
      return 429;
    case ErrorCode::kUnavailable:
    case ErrorCode::kWorkerLost:
    case ErrorCode::kLeaseExpired:
      return 503;
    case ErrorCode::kTimeout:
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kOutOfMemory:
    case ErrorCode::kModelError:
    case ErrorCode::kStorageError:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

std::filesystem::path upload_folder(const Caller& caller) {
  if (caller.key.empty()) return "uploads";
  return std::filesystem::path("uploads") / ("key-" + sha256_hex(caller.key).substr(0, 16));
}

std::optional<ServedResult> served_result(const nlohmann::json& result, std::string_view kind) {
  if (!result.is_object()) return std::nullopt;
  const bool video = kind == "video";
  const char* field = video ? "video_path" : "audio_path";
  const auto path = result.find(field);
  if (path == result.end() || !path->is_string()) return std::nullopt;
  ServedResult served{video ? "video" : "tts", path->get<std::string>(), video ? "video/mp4" : "audio/wav"};
  // A model may name its own type, as long as it is one of the kind's.
  if (auto type = result.find("content_type"); type != result.end() && type->is_string()) {
    static const std::vector<std::string> kAudio{"audio/wav", "audio/x-wav", "audio/ogg", "audio/mpeg",
                                                 "audio/flac"};
    static const std::vector<std::string> kVideo{"video/mp4", "video/webm"};
    const auto& allowed = video ? kVideo : kAudio;
    if (std::find(allowed.begin(), allowed.end(), type->get<std::string>()) != allowed.end()) {
      served.content_type = type->get<std::string>();
    }
  }
  return served;
}

std::optional<std::string> tts_result_job_id(const std::filesystem::path& path) {
  const std::string stem = path.stem().string();
  const auto dash = stem.rfind('-');
  if (path.extension() != ".wav" || dash == std::string::npos) return std::nullopt;
  std::string id = stem.substr(0, dash);
  if (!is_valid_job_id(id)) return std::nullopt;
  return id;
}

ApiError api_error(ErrorCode code, std::string message) {
  return ApiError{http_status_for(code), code, std::move(message)};
}

std::string error_body(const ApiError& error) {
  return dump_json(nlohmann::json{{"error", {{"code", to_string(error.code)}, {"message", error.message}}}});
}

std::optional<std::string> announced_language(std::string_view tag,
                                              const std::vector<std::string>& languages) {
  std::string lower(tag);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(c == '_' ? '-' : std::tolower(c)); });
  auto find = [&languages](std::string_view wanted) -> std::optional<std::string> {
    for (const auto& language : languages) {
      if (language.size() != wanted.size()) continue;
      if (std::equal(language.begin(), language.end(), wanted.begin(),
                     [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
        return language;
      }
    }
    return std::nullopt;
  };
  if (auto exact = find(lower)) return exact;
  const std::string primary = lower.substr(0, lower.find('-'));
  if (primary.empty()) return std::nullopt;
  if (primary != lower) {
    if (auto found = find(primary)) return found;
  }
  // Chinese is "zh-cn" in XTTS' list; upstream takes "zh" (and any "zh-..." tag) for it.
  if (primary == "zh") return find("zh-cn");
  return std::nullopt;
}

namespace {

bool is_json_content_type(std::string_view content_type) {
  auto semicolon = content_type.find(';');
  std::string_view media = content_type.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  std::string lower(media);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "application/json";
}

// Counts code points, so the limit means characters to a user, not bytes.
size_t utf8_length(std::string_view text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::variant<nlohmann::json, ApiError> parse_json_object(std::string_view content_type,
                                                         std::string_view body) {
  if (!is_json_content_type(content_type)) {
    return api_error(ErrorCode::kUnsupportedMediaType, "Content-Type must be application/json");
  }
  // The depth is checked before anything parses or copies the value (nlohmann's copies recurse).
  if (json_nesting_depth(body) > kMaxJsonDepth) {
    return api_error(ErrorCode::kInvalidJson, "the body nests arrays and objects deeper than " +
                                                  std::to_string(kMaxJsonDepth) + " levels");
  }
  auto json = parse_json_or_discarded(body);
  if (json.is_discarded())
    return api_error(ErrorCode::kInvalidJson, "the body is not valid JSON (or not UTF-8)");
  if (!json.is_object()) return api_error(ErrorCode::kInvalidJson, "the body must be a JSON object");
  return json;
}

// `relative` when it lies inside `folder` (empty: anywhere); another key's uploads are refused as a missing
// file would be, so that their existence is not revealed.
std::optional<std::filesystem::path> within_folder(std::optional<std::filesystem::path> relative,
                                                   const std::filesystem::path& folder) {
  if (!relative || folder.empty()) return relative;
  auto inside = relative->begin();
  for (const auto& part : folder) {
    if (inside == relative->end() || *inside != part) return std::nullopt;
    ++inside;
  }
  return relative;
}

// The input fields the fleet itself defines for every model of a kind; a model adds its own (its parameters).
constexpr std::string_view kTtsFields[] = {"text", "language", "speaker_wav", "stream", "timings"};
// References of one voice a job may list (upstream takes any number; each is read and encoded).
constexpr size_t kMaxReferences = 8;
constexpr std::string_view kVideoFields[] = {"reference_image", "video", "audio_path", "mode", "size"};
constexpr size_t kMaxParameterBytes = 1024;

// Every field is the fleet's or one the model declares, and the model's own are scalars of bounded size: a
// field nothing reads would otherwise be kept in Redis for the job's lifetime, and a model's option is never
// a document.
std::optional<ApiError> check_fields(const nlohmann::json& input, const CatalogModel& model,
                                     std::span<const std::string_view> fleet_fields) {
  for (const auto& [name, value] : input.items()) {
    if (std::find(fleet_fields.begin(), fleet_fields.end(), name) != fleet_fields.end()) continue;
    if (std::find(model.parameters.begin(), model.parameters.end(), name) == model.parameters.end()) {
      std::string known;
      for (const auto field : fleet_fields) known += (known.empty() ? "" : ", ") + std::string(field);
      for (const auto& field : model.parameters) known += ", " + field;
      // The name is the client's own; quoted only when it is short and printable.
      const bool printable = name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
                               return c >= 0x20 && c < 0x7F && c != '"';
                             });
      std::string message = printable ? "unknown input field \"" + name + "\"" : "an unknown input field";
      message += " for model " + model.name + "; it takes " + known;
      return api_error(ErrorCode::kInvalidInput, std::move(message));
    }
    const bool scalar =
        value.is_null() || value.is_boolean() || value.is_number() ||
        (value.is_string() && value.get_ref<const std::string&>().size() <= kMaxParameterBytes);
    if (!scalar) {
      return api_error(ErrorCode::kInvalidInput, "input." + name +
                                                     " must be a number, true/false or a string of at most " +
                                                     std::to_string(kMaxParameterBytes) + " bytes");
    }
  }
  return std::nullopt;
}

// Checks a TTS input against the model that will run it, and returns it normalised.
std::variant<nlohmann::json, ApiError> validate_tts_input(const nlohmann::json& input,
                                                          const CatalogModel& model, const Limits& limits) {
  if (!input.is_object()) return api_error(ErrorCode::kInvalidRequest, "input must be a JSON object");
  if (auto error = check_fields(input, model, kTtsFields)) return *error;
  auto text = input.find("text");
  if (text == input.end() || text->is_null()) return api_error(ErrorCode::kMissingField, "text is required");
  if (!text->is_string()) return api_error(ErrorCode::kInvalidRequest, "text must be a string");
  const auto& text_value = text->get_ref<const std::string&>();
  if (std::all_of(text_value.begin(), text_value.end(), [](unsigned char c) { return std::isspace(c); })) {
    return api_error(ErrorCode::kMissingField, "text is empty");
  }
  if (utf8_length(text_value) > limits.max_text_chars) {
    return api_error(ErrorCode::kTextTooLong, "text has " + std::to_string(utf8_length(text_value)) +
                                                  " characters; the limit is " +
                                                  std::to_string(limits.max_text_chars));
  }
  // The model's own parameters pass through unchanged; the worker's model checks their values. The fleet's
  // own optional fields given as null mean their default and are left out, so no model reads a null
  // (schemathesis found `"timings": null` failing espeak's job with a type error).
  nlohmann::json normalised = input;
  for (const auto field : kTtsFields) {
    if (auto value = normalised.find(field); value != normalised.end() && value->is_null())
      normalised.erase(value);
  }
  // The original service defaulted to English; a model that speaks one other language only (a German voice)
  // defaults to that one instead of refusing requests that name none.
  std::string language = model.languages.size() == 1 ? model.languages.front() : "en";
  if (auto value = input.find("language"); value != input.end() && !value->is_null()) {
    if (!value->is_string()) return api_error(ErrorCode::kInvalidRequest, "language must be a string");
    language = value->get<std::string>();
  }
  if (!model.languages.empty()) {
    auto announced = announced_language(language, model.languages);
    if (!announced) {
      return api_error(ErrorCode::kUnsupportedLanguage,
                       "model " + model.name + " cannot speak language '" + language + "'");
    }
    language = std::move(*announced);
  }
  normalised["language"] = language;
  for (const char* flag : {"stream", "timings"}) {
    if (auto value = input.find(flag); value != input.end() && !value->is_null() && !value->is_boolean()) {
      return api_error(ErrorCode::kInvalidRequest, std::string(flag) + " must be true or false");
    }
  }
  if (auto value = input.find("speaker_wav"); value != input.end() && !value->is_null()) {
    // One reference, or several of the same voice (upstream takes a list); an empty one means none.
    const bool list = value->is_array();
    if (!value->is_string() && !list) {
      return api_error(ErrorCode::kInvalidRequest, "speaker_wav must be a string or a list of strings");
    }
    if (list && (value->empty() || value->size() > kMaxReferences)) {
      return api_error(ErrorCode::kInvalidRequest,
                       "speaker_wav lists 1 to " + std::to_string(kMaxReferences) + " references");
    }
    const bool none = !list && value->get_ref<const std::string&>().empty();
    if (!none && !model.cloning) {
      return api_error(
          ErrorCode::kCannotClone,
          "model " + model.name + " cannot clone a voice; send no speaker_wav or choose a cloning model");
    }
    nlohmann::json references = nlohmann::json::array();
    for (const auto& reference : list ? *value : nlohmann::json::array({*value})) {
      if (none) break;
      if (!reference.is_string() || reference.get_ref<const std::string&>().empty()) {
        return api_error(ErrorCode::kInvalidRequest, "each speaker_wav must be a non-empty string");
      }
      // Only files under the input folder, named without "..": never an arbitrary server path.
      const auto relative =
          within_folder(relative_reference(reference.get_ref<const std::string&>(), limits.input_root),
                        limits.reference_folder);
      if (!relative) {
        return api_error(ErrorCode::kInvalidInput,
                         "speaker_wav must name a file in the input folder, as POST /v1/files answers it "
                         "(\"uploads/<sha256>.wav\"); no \"..\" and no paths elsewhere");
      }
      if (limits.reference_exists && !limits.reference_exists(*relative)) {
        return api_error(ErrorCode::kInvalidInput,
                         "speaker_wav '" + relative->string() +
                             "' is not a file in the input folder; upload it with POST /v1/files");
      }
      references.push_back(relative->string());
    }
    if (none) {
      normalised.erase("speaker_wav");
    } else {
      normalised["speaker_wav"] = list ? references : references.front();
    }
  }
  return normalised;
}

// A file under the input folder named by `field`, as a clean relative path; an error otherwise.
std::variant<std::string, ApiError> input_file(const nlohmann::json& input, const char* field,
                                               const Limits& limits, const char* upload_hint) {
  auto value = input.find(field);
  if (value == input.end() || value->is_null())
    return api_error(ErrorCode::kMissingField, std::string(field) + " is required");
  if (!value->is_string() || value->get_ref<const std::string&>().empty()) {
    return api_error(ErrorCode::kInvalidRequest, std::string(field) + " must be a non-empty string");
  }
  const auto relative = within_folder(
      relative_reference(value->get_ref<const std::string&>(), limits.input_root), limits.reference_folder);
  if (!relative) {
    return api_error(ErrorCode::kInvalidInput, std::string(field) +
                                                   " must name a file in the input folder, as POST /v1/files "
                                                   "answers it (\"" +
                                                   upload_hint + "\"); no \"..\" and no paths elsewhere");
  }
  if (limits.reference_exists && !limits.reference_exists(*relative)) {
    return api_error(ErrorCode::kInvalidInput,
                     std::string(field) + " '" + relative->string() +
                         "' is not a file in the input folder; upload it with POST /v1/files");
  }
  return relative->string();
}

// The mode a video model announces when it lip-syncs an existing video (input.video), not only a portrait.
constexpr std::string_view kLipSyncVideoMode = "lip_sync_video";

// The fleet's name for a video mode, given its own or one of the original service's.
std::optional<std::string> canonical_video_mode(std::string_view mode) {
  if (mode == "talking_head" || mode == "liveportrait") return "talking_head";
  if (mode == "lip_sync" || mode == "lipsync" || mode == "wav2lip") return "lip_sync";
  return std::nullopt;
}

// Checks a video input: a portrait and speech that exist where workers may read them, and the options.
// `speech_from_stage`: the speech comes from the pipeline's TTS stage, so the input names none.
std::variant<nlohmann::json, ApiError> validate_video_input(const nlohmann::json& input,
                                                            const CatalogModel& model, const Limits& limits,
                                                            bool speech_from_stage = false) {
  if (!input.is_object()) return api_error(ErrorCode::kInvalidRequest, "input must be a JSON object");
  if (auto error = check_fields(input, model, kVideoFields)) return *error;
  nlohmann::json normalised = input;
  // The picture: a portrait to animate, or a video whose speech is replaced and whose mouth is moved to it.
  const auto video = input.find("video");
  const bool of_video = video != input.end() && !video->is_null();
  if (of_video) {
    if (input.contains("reference_image")) {
      return api_error(ErrorCode::kInvalidInput,
                       "send reference_image (a portrait to animate) or video (to lip-sync), not both");
    }
    if (!model.offers(kLipSyncVideoMode)) {
      return api_error(ErrorCode::kInvalidInput,
                       "model " + model.name + " animates portraits only; lip-sync a video with a model " +
                           "that offers mode " + std::string(kLipSyncVideoMode) + " (GET /v1/models)");
    }
    auto file = input_file(input, "video", limits, "uploads/<sha256>.mp4");
    if (auto* error = std::get_if<ApiError>(&file)) return *error;
    normalised["video"] = std::get<std::string>(file);
  } else {
    auto image = input_file(input, "reference_image", limits, "uploads/<sha256>.png");
    if (auto* error = std::get_if<ApiError>(&image)) return *error;
    normalised["reference_image"] = std::get<std::string>(image);
  }
  if (auto phonemes = input.find("phonemes"); phonemes != input.end()) {
    return api_error(ErrorCode::kInvalidInput,
                     "phonemes come from the speech stage of a text-to-video job; send text");
  }
  // Speech: an input file, or a TTS result by the absolute path /tts/generate answered.
  auto audio = input.find("audio_path");
  if (speech_from_stage) audio = input.end();
  std::optional<std::filesystem::path> result;
  if (audio != input.end() && audio->is_string() && !limits.tts_results.empty() &&
      std::filesystem::path(audio->get<std::string>()).is_absolute()) {
    result = relative_reference(audio->get<std::string>(), limits.tts_results);
  }
  if (result) {
    if (!limits.tts_result_exists || !limits.tts_result_exists(*result)) {
      return api_error(ErrorCode::kInvalidInput, "audio_path names no finished TTS result");
    }
    normalised["audio_path"] = (limits.tts_results / *result).string();
  } else if (!speech_from_stage) {
    auto speech = input_file(input, "audio_path", limits, "uploads/<sha256>.wav");
    if (auto* error = std::get_if<ApiError>(&speech)) return *error;
    normalised["audio_path"] = std::get<std::string>(speech);
  }
  if (auto mode = input.find("mode"); mode != input.end() && !mode->is_null()) {
    const auto canonical =
        mode->is_string() ? canonical_video_mode(mode->get_ref<const std::string&>()) : std::nullopt;
    if (!canonical) {
      return api_error(ErrorCode::kInvalidInput,
                       "mode must be talking_head (or liveportrait) or lip_sync (or lipsync, wav2lip)");
    }
    if (!model.offers(*canonical)) {
      return api_error(ErrorCode::kInvalidInput, "model " + model.name + " has no mode " + *canonical);
    }
    if (of_video && *canonical != "lip_sync") {
      return api_error(ErrorCode::kInvalidInput, "a video is lip-synced: mode must be lip_sync or absent");
    }
    normalised["mode"] = *canonical;
  }
  if (of_video) {
    normalised["mode"] = "lip_sync";
    if (input.contains("size")) {
      return api_error(ErrorCode::kInvalidInput,
                       "size does not apply to a video: the result keeps the video's own frames");
    }
  }
  if (auto size = input.find("size"); size != input.end() && !size->is_null()) {
    const bool ok =
        size->is_number_integer() &&
        (size->get<int64_t>() == 0 || (size->get<int64_t>() >= 128 && size->get<int64_t>() <= 2048));
    if (!ok) return api_error(ErrorCode::kInvalidInput, "size must be 0 (the portrait's own) or 128-2048");
  }
  return normalised;
}

// The input fields of a text-to-video job that belong to its speech stage.
constexpr const char* kSpeechFields[] = {"text", "language", "speaker_wav", "speaker"};

// A video job given text instead of audio_path: a pipeline of a TTS stage (tts_model, default the fleet's TTS
// default; further TTS parameters in "tts") and the video stage on its speech and phoneme timings.
SubmitParse text_to_video(SubmitRequest request, const CatalogModel& video_model, const Catalog& catalog,
                          const Limits& limits) {
  const nlohmann::json& input = request.input;
  std::string speech_model_name = limits.default_tts_model;
  if (auto name = input.find("tts_model"); name != input.end() && !name->is_null()) {
    if (!name->is_string() || name->get_ref<const std::string&>().empty()) {
      return api_error(ErrorCode::kInvalidRequest, "tts_model must be a non-empty string");
    }
    speech_model_name = name->get<std::string>();
  }
  const CatalogModel* speech_model = catalog.find(speech_model_name);
  if (speech_model == nullptr)
    return api_error(ErrorCode::kUnknownModel, "no model named '" + speech_model_name + "'");
  if (speech_model->kind != "tts") {
    return api_error(ErrorCode::kUnknownModel, "no tts model named '" + speech_model_name +
                                                   "' for tts_model (it serves " + speech_model->kind +
                                                   " jobs)");
  }
  nlohmann::json speech_input = nlohmann::json::object();
  if (auto options = input.find("tts"); options != input.end() && !options->is_null()) {
    if (!options->is_object())
      return api_error(ErrorCode::kInvalidRequest, "tts must be a JSON object of TTS parameters");
    speech_input = *options;
  }
  nlohmann::json video_input = input;
  for (const char* field : kSpeechFields) {
    if (auto value = input.find(field); value != input.end()) speech_input[field] = *value;
    video_input.erase(field);
  }
  video_input.erase("tts");
  video_input.erase("tts_model");
  auto speech = validate_tts_input(speech_input, *speech_model, limits);
  if (auto* error = std::get_if<ApiError>(&speech)) return *error;
  auto video = validate_video_input(video_input, video_model, limits, /*speech_from_stage=*/true);
  if (auto* error = std::get_if<ApiError>(&video)) return *error;
  auto& speech_normalised = std::get<nlohmann::json>(speech);
  // Models that know when each phoneme is spoken (espeak) report it; the video stage moves the mouth with it.
  speech_normalised["timings"] = true;
  std::vector<PipelineStage> stages{{"tts", speech_model->name, speech_normalised, {}},
                                    {"video",
                                     video_model.name,
                                     std::get<nlohmann::json>(std::move(video)),
                                     {{"audio_path", "audio_path"}, {"phonemes", "phonemes"}}}};
  request.kind = "tts";
  request.model = speech_model->name;
  request.input = std::move(speech_normalised);
  request.stages = std::move(stages);
  return request;
}

// The original service named its video modes after the networks behind them: such a name, with no model
// given, asks for that network's backend when a worker serves it, and otherwise for the default video model.
void choose_video_model_by_mode(SubmitRequest& request, const Catalog& catalog) {
  const auto mode = request.input.is_object() ? request.input.find("mode") : request.input.end();
  if (mode == request.input.end() || !mode->is_string()) return;
  const std::string& name = mode->get_ref<const std::string&>();
  if (name != "liveportrait" && name != "wav2lip") return;
  const CatalogModel* backend = catalog.find(name);
  if (backend != nullptr && backend->kind == "video" && backend->workers > 0) request.model = name;
}

// A lipsync job with no model named: the default video model when it lip-syncs videos, else the first served
// one that does (a fleet whose default renders portraits only may still serve wav2lip).
void choose_lipsync_model(SubmitRequest& request, const Catalog& catalog) {
  const CatalogModel* chosen = catalog.find(request.model);
  if (chosen != nullptr && chosen->offers(kLipSyncVideoMode) && chosen->workers > 0) return;
  for (const auto& [name, model] : catalog.models()) {
    if (model.offers(kLipSyncVideoMode) && model.workers > 0) {
      request.model = name;
      return;
    }
  }
}

SubmitParse finish_submission(SubmitRequest request, const Catalog& catalog, const Limits& limits,
                              bool model_given) {
  if (request.kind == "lipsync") {
    // A video job by another name: the picture is a video, and lip sync is the only mode.
    request.kind = "video";
    if (!request.input.is_object())
      return api_error(ErrorCode::kInvalidRequest, "input must be a JSON object");
    const auto video = request.input.find("video");
    if (video == request.input.end() || video->is_null()) {
      return api_error(ErrorCode::kMissingField,
                       "video is required: the uploaded video to lip-sync (\"uploads/<sha256>.mp4\")");
    }
    if (!model_given) choose_lipsync_model(request, catalog);
  }
  if (request.kind == "video" && !model_given) choose_video_model_by_mode(request, catalog);
  const CatalogModel* model = catalog.find(request.model);
  if (model == nullptr) return api_error(ErrorCode::kUnknownModel, "no model named '" + request.model + "'");
  if (model->kind != request.kind) {  // among the models of its kind there is none of that name
    return api_error(ErrorCode::kUnknownModel, "no " + request.kind + " model named '" + model->name +
                                                   "' (it serves " + model->kind + " jobs)");
  }
  if (request.kind == "video" && request.input.is_object() && !request.input.contains("audio_path") &&
      request.input.contains("text")) {
    return text_to_video(std::move(request), *model, catalog, limits);
  }
  auto input = request.kind == "tts" ? validate_tts_input(request.input, *model, limits)
                                     : validate_video_input(request.input, *model, limits);
  if (auto* error = std::get_if<ApiError>(&input)) return *error;
  request.input = std::get<nlohmann::json>(std::move(input));
  return request;
}

}  // namespace

SubmitParse parse_job_submission(std::string_view content_type, std::string_view body, const Catalog& catalog,
                                 const Limits& limits) {
  auto parsed = parse_json_object(content_type, body);
  if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
  return parse_job_object(std::get<nlohmann::json>(parsed), catalog, limits);
}

namespace {

BatchItem parse_batch_job(nlohmann::json& job, const Catalog& catalog, const Limits& limits) {
  if (!job.is_object()) return api_error(ErrorCode::kInvalidRequest, "each job must be a JSON object");
  Submission submission;
  if (auto key = job.find("idempotency_key"); key != job.end()) {
    if (!key->is_string()) return api_error(ErrorCode::kInvalidRequest, "idempotency_key must be a string");
    auto checked = parse_idempotency_key(key->get_ref<const std::string&>());
    if (std::holds_alternative<ApiError>(checked)) {
      return api_error(ErrorCode::kInvalidRequest,
                       "idempotency_key must be 1 to 255 visible ASCII characters");
    }
    submission.idempotency_key = std::get<std::string>(std::move(checked));
    job.erase(key);
    // The job as parsed, without its key: a retry of the same batch item matches whatever its spacing.
    submission.fingerprint = request_fingerprint("/v1/jobs:batch", dump_json(job));
  }
  auto parsed = parse_job_object(job, catalog, limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return std::move(*error);
  submission.request = std::get<SubmitRequest>(std::move(parsed));
  return submission;
}

}  // namespace

std::variant<std::vector<BatchItem>, ApiError> parse_job_batch(std::string_view content_type,
                                                               std::string_view body, const Catalog& catalog,
                                                               const Limits& limits) {
  auto parsed = parse_json_object(content_type, body);
  if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
  auto& json = std::get<nlohmann::json>(parsed);
  for (const auto& [field, value] : json.items()) {
    if (field != "jobs") return api_error(ErrorCode::kInvalidRequest, "a batch has one field, jobs");
  }
  auto jobs = json.find("jobs");
  if (jobs == json.end()) return api_error(ErrorCode::kMissingField, "jobs is required");
  if (!jobs->is_array() || jobs->empty() || jobs->size() > kMaxBatchJobs) {
    return api_error(ErrorCode::kInvalidRequest,
                     "jobs must be an array of 1 to " + std::to_string(kMaxBatchJobs) + " job objects");
  }
  std::vector<BatchItem> items;
  items.reserve(jobs->size());
  for (auto& job : *jobs) items.push_back(parse_batch_job(job, catalog, limits));
  return items;
}

SubmitParse parse_job_object(const nlohmann::json& json, const Catalog& catalog, const Limits& limits) {
  SubmitRequest request;
  bool model_given = false;
  request.kind = "tts";
  if (auto kind = json.find("kind"); kind != json.end()) {
    const bool lipsync = kind->is_string() && kind->get_ref<const std::string&>() == "lipsync";
    if (!kind->is_string() || (!parse_job_kind(kind->get<std::string>()) && !lipsync)) {
      return api_error(ErrorCode::kInvalidRequest, "kind must be one of tts, video, lipsync");
    }
    request.kind = kind->get<std::string>();
  }
  if (auto model = json.find("model"); model != json.end() && !model->is_null()) {
    if (!model->is_string() || model->get_ref<const std::string&>().empty()) {
      return api_error(ErrorCode::kInvalidRequest, "model must be a non-empty string");
    }
    request.model = model->get<std::string>();
    model_given = true;
  } else {
    request.model = request.kind == "tts" ? limits.default_tts_model : limits.default_video_model;
  }
  if (auto priority = json.find("priority"); priority != json.end() && !priority->is_null()) {
    if (!priority->is_number_integer() || priority->get<int64_t>() < -1000 ||
        priority->get<int64_t>() > 1000) {
      return api_error(ErrorCode::kInvalidRequest, "priority must be an integer in [-1000, 1000]");
    }
    request.priority = priority->get<int32_t>();
  }
  if (auto timeout = json.find("timeout_s"); timeout != json.end() && !timeout->is_null()) {
    if (!timeout->is_number() || !(timeout->get<double>() > 0) || timeout->get<double>() > 7 * 24 * 3600) {
      return api_error(ErrorCode::kInvalidRequest, "timeout_s must be a number of seconds in (0, 604800]");
    }
    request.timeout_s = timeout->get<double>();
  }
  if (auto webhook = json.find("webhook"); webhook != json.end() && !webhook->is_null()) {
    if (!webhook->is_string()) return api_error(ErrorCode::kInvalidRequest, "webhook must be a URL string");
    if (!limits.webhooks_enabled) {
      return api_error(ErrorCode::kInvalidRequest,
                       "webhooks are not enabled on this gateway (WEBHOOK_SECRET)");
    }
    auto url = parse_webhook_url(webhook->get_ref<const std::string&>());
    if (auto* why = std::get_if<std::string>(&url)) return api_error(ErrorCode::kInvalidRequest, *why);
    const std::string& host = std::get<WebhookUrl>(url).host;
    if (!webhook_host_listed(limits.webhook_hosts, host)) {
      if (auto refused = webhook_host_refused(host)) return api_error(ErrorCode::kInvalidRequest, *refused);
    }
    if (!webhook_host_allowed(limits.webhook_hosts, std::get<WebhookUrl>(url).host)) {
      return api_error(ErrorCode::kInvalidRequest,
                       "webhook host " + std::get<WebhookUrl>(url).host + " is not in WEBHOOK_ALLOWED_HOSTS");
    }
    request.webhook = webhook->get<std::string>();
  }
  auto input = json.find("input");
  if (input == json.end()) return api_error(ErrorCode::kMissingField, "input is required");
  request.input = *input;
  return finish_submission(std::move(request), catalog, limits, model_given);
}

namespace {

// The original service's synchronous shapes: the input at the top level, with an optional "model".
SubmitParse parse_original(std::string_view content_type, std::string_view body, const Catalog& catalog,
                           const Limits& limits, const char* kind, const std::string& default_model) {
  auto parsed = parse_json_object(content_type, body);
  if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
  auto& json = std::get<nlohmann::json>(parsed);
  SubmitRequest request;
  request.kind = kind;
  request.model = default_model;
  bool model_given = false;
  if (auto model = json.find("model"); model != json.end() && model->is_string()) {
    request.model = model->get<std::string>();
    model_given = true;
    json.erase("model");
  }
  request.input = std::move(json);
  return finish_submission(std::move(request), catalog, limits, model_given);
}

}  // namespace

SubmitParse parse_video_generate(std::string_view content_type, std::string_view body, const Catalog& catalog,
                                 const Limits& limits) {
  return parse_original(content_type, body, catalog, limits, "video", limits.default_video_model);
}

SubmitParse parse_lipsync_generate(std::string_view content_type, std::string_view body,
                                   const Catalog& catalog, const Limits& limits) {
  return parse_original(content_type, body, catalog, limits, "lipsync", limits.default_video_model);
}

SubmitParse parse_tts_generate(std::string_view content_type, std::string_view body, const Catalog& catalog,
                               const Limits& limits) {
  return parse_original(content_type, body, catalog, limits, "tts", limits.default_tts_model);
}

namespace {

std::optional<int64_t> to_int(const std::string& text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::variant<std::string, ApiError> parse_idempotency_key(std::optional<std::string_view> sent) {
  if (!sent) return std::string();
  const std::string_view header = *sent;
  const bool printable =
      std::all_of(header.begin(), header.end(), [](char c) { return c > 0x20 && c < 0x7F; });
  if (header.empty() || header.size() > 255 || !printable) {
    return api_error(ErrorCode::kInvalidRequest, "Idempotency-Key must be 1 to 255 visible ASCII characters");
  }
  return std::string(header);
}

std::string request_fingerprint(std::string_view route, std::string_view body) {
  // FNV-1a over the route and the body: enough to tell a retry from a different request, not a secret.
  uint64_t hash = 1469598103934665603ULL;
  auto mix = [&](std::string_view text) {
    for (unsigned char c : text) {
      hash ^= c;
      hash *= 1099511628211ULL;
    }
  };
  mix(route);
  mix(std::string_view("\0", 1));
  mix(body);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

bool job_store_full(const RedisMemory& memory, int high_water_percent) {
  if (memory.max == 0) return false;
  return static_cast<long double>(memory.used) * 100 >=
         static_cast<long double>(memory.max) * high_water_percent;
}

ApiError redis_down(const std::string& why) {
  return api_error(ErrorCode::kUnavailable, "job store unavailable: " + why);
}

std::string job_owner(const std::vector<std::pair<std::string, std::string>>& fields) {
  for (const auto& [field, value] : fields) {
    if (field == job_field::kOwner) return value;
  }
  return "";
}

nlohmann::json render_job(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::map<std::string, std::string> hash(fields.begin(), fields.end());
  auto get = [&](std::string_view name) -> std::string {
    auto it = hash.find(std::string(name));
    return it == hash.end() ? std::string() : it->second;
  };
  auto get_int = [&](std::string_view name) { return to_int(get(name)); };

  const std::string id = get(job_field::kId);
  nlohmann::json job{{"id", id},
                     {"kind", get(job_field::kKind)},
                     {"model", get(job_field::kModel)},
                     {"state", get(job_field::kState)},
                     {"priority", get_int(job_field::kPriority).value_or(0)},
                     {"attempts", get_int(job_field::kAttempts).value_or(0)}};
  if (auto owner = get(job_field::kOwner); !owner.empty()) job["owner"] = owner;
  // Records hold what workers and earlier gateways wrote: parsed with the same depth bound as requests.
  if (auto input = parse_json_bounded(get(job_field::kInput))) {
    job["input"] = std::move(*input);
  }
  // A pipeline shows as what it makes (its last stage's kind and model) with each stage's own state.
  if (auto stages = parse_pipeline(get(job_field::kStages))) {
    const auto current = static_cast<size_t>(std::max<int64_t>(0, get_int(job_field::kStage).value_or(0)));
    const std::string state = get(job_field::kState);
    const auto parsed_state = parse_job_state(state);
    const bool final = parsed_state && is_final(*parsed_state);
    job["kind"] = stages->back().kind;
    job["model"] = stages->back().model;
    job["stage"] = current;
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < stages->size(); ++i) {
      nlohmann::json entry{{"kind", (*stages)[i].kind}, {"model", (*stages)[i].model}};
      if (i < current) {
        entry["state"] = "succeeded";
        auto result = parse_json_bounded(get(job_field::stage_result_field(i)))
                          .value_or(nlohmann::json(nlohmann::json::value_t::discarded));
        if (!result.is_discarded()) entry["result"] = std::move(result);
      } else if (i == current) {
        entry["state"] = state;
        entry["input"] = job.value("input", nlohmann::json::object());
      } else {
        entry["state"] = final ? "skipped" : "pending";
      }
      list.push_back(std::move(entry));
    }
    job["stages"] = std::move(list);
    job.erase("input");  // each stage's, above: the record holds the current stage's
  }
  if (auto worker = get(job_field::kWorker); !worker.empty()) job["worker"] = worker;
  // A running video's frames done of total, as its worker last reported them.
  auto progress_total = get_int(job_field::kProgressTotal);
  if (progress_total && *progress_total > 0 && job["state"] == "running") {
    job["progress"] = {{"done", get_int(job_field::kProgressDone).value_or(0)}, {"total", *progress_total}};
  }
  auto created = get_int(job_field::kCreatedMs);
  auto started = get_int(job_field::kStartedMs);
  auto finished = get_int(job_field::kFinishedMs);
  if (created) job["created_at_ms"] = *created;
  if (started) job["started_at_ms"] = *started;
  if (finished) job["finished_at_ms"] = *finished;
  nlohmann::json timings = nlohmann::json::object();
  if (created && started) timings["queued_ms"] = *started - *created;
  if (started && finished) timings["running_ms"] = *finished - *started;
  if (created && finished) timings["total_ms"] = *finished - *created;
  if (auto run_ms = get(job_field::kRunMs); !run_ms.empty())
    timings["worker_ms"] = std::strtod(run_ms.c_str(), nullptr);
  job["timings"] = timings;
  if (auto result = parse_json_bounded(get(job_field::kResult))
                        .value_or(nlohmann::json(nlohmann::json::value_t::discarded));
      !result.is_discarded()) {
    job["result"] = result;
  }
  if (auto code = get(job_field::kErrorCode); !code.empty()) {
    job["error"] = {{"code", code}, {"message", get(job_field::kErrorMessage)}};
  }
  if (auto code = get(job_field::kLastErrorCode); !code.empty()) {
    job["last_attempt_error"] = {{"code", code}, {"message", get(job_field::kLastErrorMessage)}};
  }
  if (auto deadline = get_int(job_field::kDeadlineMs); deadline && *deadline > 0)
    job["deadline_at_ms"] = *deadline;
  if (!get(job_field::kCancelRequested).empty()) job["cancel_requested"] = true;
  if (auto url = get(job_field::kWebhook); !url.empty()) {
    nlohmann::json webhook{
        {"url", url},
        {"state", get(job_field::kWebhookState).empty() ? "waiting" : get(job_field::kWebhookState)},
        {"attempts", get_int(job_field::kWebhookAttempts).value_or(0)}};
    // The receiver's status class only ("2xx", "5xx"; "no_answer" for none): the owner learns whether
    // delivery works, not what the gateway's network looks like.
    const auto status = get_int(job_field::kWebhookLastStatus);
    if (status && *status > 0) {
      webhook["last_status"] = std::to_string(*status / 100) + "xx";
    } else if (get_int(job_field::kWebhookAttempts).value_or(0) > 0) {
      webhook["last_status"] = "no_answer";
    }
    if (auto at = get_int(job_field::kWebhookDeliveredMs)) webhook["delivered_at_ms"] = *at;
    job["webhook"] = std::move(webhook);
  }
  job["links"] = {{"self", "/v1/jobs/" + id}, {"result", "/v1/jobs/" + id + "/result"}};
  return job;
}

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  size_t at = 0;
  while (at <= query.size()) {
    const size_t end = std::min(query.find('&', at), query.size());
    const std::string_view pair = query.substr(at, end - at);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=') {
      std::string value;
      const std::string_view raw = pair.substr(name.size() + 1);
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '%' && i + 2 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
          value.push_back(static_cast<char>(std::stoi(std::string(raw.substr(i + 1, 2)), nullptr, 16)));
          i += 2;
        } else {
          value.push_back(raw[i] == '+' ? ' ' : raw[i]);
        }
      }
      return value;
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::variant<double, ApiError> parse_wait(std::string_view query, double max_s) {
  const auto value = query_value(query, "wait");
  if (!value) return 0.0;
  char* parsed_end = nullptr;
  const double seconds = std::strtod(value->c_str(), &parsed_end);
  if (value->empty() || parsed_end != value->c_str() + value->size() || !std::isfinite(seconds) ||
      seconds < 0) {
    return api_error(ErrorCode::kInvalidRequest, "wait must be a non-negative number of seconds");
  }
  return std::min(seconds, max_s);
}

std::variant<Upload, ApiError> parse_upload(std::string_view content_type, std::string_view body,
                                            uint64_t max_image_pixels, double max_video_s) {
  std::string media(content_type.substr(0, content_type.find(';')));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  std::transform(media.begin(), media.end(), media.begin(), [](unsigned char c) { return std::tolower(c); });
  Upload upload;
  upload.id = sha256_hex(body);
  upload.bytes = body.size();
  if (media == "image/png" || media == "image/jpeg") {
    // Checked by its header only: nothing is decoded here, and a small file claiming a vast image is refused.
    auto image = probe_image(body);
    if (!image || image_content_type(image->format) != media) {
      return api_error(ErrorCode::kInvalidInput, "the body is not a well-formed " + media + " image");
    }
    if (static_cast<uint64_t>(image->width) * image->height > max_image_pixels) {
      return api_error(ErrorCode::kInvalidInput, "the image is " + std::to_string(image->width) + "x" +
                                                     std::to_string(image->height) + "; the limit is " +
                                                     std::to_string(max_image_pixels) + " pixels");
    }
    upload.relative = std::filesystem::path("uploads") / (upload.id + "." + image_extension(image->format));
    upload.image = *image;
    return upload;
  }
  if (media == "video/mp4" || media == "video/quicktime" || media == "video/webm") {
    // Checked by its container's structure only (common/video_probe.hpp); the worker's decoder checks the
    // frames themselves. MP4 and MOV share one structure, so either name is taken for either.
    auto video = probe_video(body);
    const bool webm_named = media == "video/webm";
    if (!video || (video->container == VideoContainer::kWebm) != webm_named) {
      return api_error(ErrorCode::kUnreadableMedia,
                       "the body is not a well-formed " + media + " file (its container cannot be read)");
    }
    if (!video->has_video) {
      return api_error(ErrorCode::kUnreadableMedia, "the file has no video track");
    }
    if (static_cast<uint64_t>(video->width) * video->height > max_image_pixels) {
      return api_error(ErrorCode::kInvalidInput, "the video is " + std::to_string(video->width) + "x" +
                                                     std::to_string(video->height) + "; the limit is " +
                                                     std::to_string(max_image_pixels) + " pixels a frame");
    }
    if (video->duration_s && *video->duration_s > max_video_s) {
      return api_error(ErrorCode::kMediaTooLong,
                       "the video lasts " +
                           std::to_string(static_cast<int64_t>(std::ceil(*video->duration_s))) +
                           " s; the limit is " + std::to_string(static_cast<int64_t>(max_video_s)) + " s");
    }
    upload.relative =
        std::filesystem::path("uploads") / (upload.id + "." + video_extension(video->container));
    upload.video = *video;
    return upload;
  }
  if (media != "audio/wav" && media != "audio/x-wav" && media != "audio/wave" && media != "audio/vnd.wave") {
    return api_error(ErrorCode::kUnsupportedMediaType,
                     "upload a WAV file (Content-Type audio/wav), a PNG or JPEG portrait (image/png, "
                     "image/jpeg) or a video to lip-sync (video/mp4, video/quicktime, video/webm); got '" +
                         std::string(content_type) + "'");
  }
  auto wav = parse_wav(body);
  if (!wav) return api_error(ErrorCode::kInvalidInput, "the body is not a well-formed WAV file");
  if (!wav_decodable(*wav) || wav->frames == 0) {
    return api_error(ErrorCode::kInvalidInput,
                     "uploaded audio must be WAV (PCM of 8, 16, 24 or 32 bits, or float of 32 or 64 bits; "
                     "WAVE_FORMAT_EXTENSIBLE too) with at least one sample");
  }
  upload.relative = std::filesystem::path("uploads") / (upload.id + ".wav");
  upload.wav = *wav;
  return upload;
}

nlohmann::json upload_json(const Upload& upload) {
  nlohmann::json json{{"id", upload.id}, {"bytes", upload.bytes}};
  if (upload.image) {
    json["reference_image"] = upload.relative.string();
    json["content_type"] = image_content_type(upload.image->format);
    json["width"] = upload.image->width;
    json["height"] = upload.image->height;
  } else if (upload.video) {
    json["video"] = upload.relative.string();
    json["content_type"] = video_content_type(upload.video->container);
    json["width"] = upload.video->width;
    json["height"] = upload.video->height;
    json["has_audio"] = upload.video->has_audio;
    if (upload.video->duration_s) json["duration_s"] = *upload.video->duration_s;
  } else if (upload.wav) {
    // The same file serves as a speaker reference and as a video's speech.
    json["speaker_wav"] = upload.relative.string();
    json["audio_path"] = upload.relative.string();
    json["content_type"] = "audio/wav";
    json["sample_rate"] = upload.wav->sample_rate;
    json["channels"] = upload.wav->channels;
    json["duration_s"] = upload.wav->duration_s();
  }
  return json;
}

}  // namespace gpufleet::gateway
