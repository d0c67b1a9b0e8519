#pragma once
// The HTTP API's logic without the transport: request validation, error bodies and the job representation.
// No I/O of its own: whether a file a request names exists is asked through the Limits' callbacks
// (reference_exists, tts_result_exists), which the gateway points at the disk; so every function here runs
// in tests without sockets or files (tests/unit/gateway_api_test.cpp).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/error.hpp"
#include "common/image_probe.hpp"
#include "common/pipeline.hpp"
#include "common/video_probe.hpp"
#include "common/wav.hpp"
#include "gateway/catalog.hpp"
#include "store/redis_client.hpp"

namespace gpufleet::gateway {

struct ApiError {
  int status = 500;
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

// {"error":{"code":"...","message":"..."}}
std::string error_body(const ApiError& error);
// Redis could not be reached: 503, nothing was done.
ApiError redis_down(const std::string& why);
int http_status_for(ErrorCode code);
ApiError api_error(ErrorCode code, std::string message);

// Who sent a request, as far as tenancy goes: the API key that owns what the request creates, and whether it
// may see every key's jobs and uploads (an operator key; everyone when the gateway has no keys).
struct Caller {
  std::string key;       // the key's name; empty without keys (local use)
  bool sees_all = true;  // operator key, or no keys configured
  // Whether a job or upload of `owner` exists as far as this caller can tell.
  bool owns(std::string_view owner) const { return sees_all || owner == key; }
};

// Where a caller's uploads live under INPUT_ROOT: "uploads" without keys, else a folder of the key's own
// ("uploads/key-<16 hex of its name's SHA-256>"), so the same bytes from two keys are two files.
std::filesystem::path upload_folder(const Caller& caller);

// The language a model announces for a client's tag, or nullopt when it speaks none such. Tags compare
// without case and with "_" as "-" (BCP 47); a tag the model does not list falls back to its primary subtag
// ("en-US", "pt-BR" -> "en", "pt"), as upstream XTTS strips the region, and "zh" or "zh-TW" name XTTS'
// "zh-cn".
std::optional<std::string> announced_language(std::string_view tag,
                                              const std::vector<std::string>& languages);

// A TTS result by the path /tts/generate answered (<tts_results>/<job id>-<attempt>.wav): the job's id, whose
// owner decides whether a caller may use it; nullopt for any other name.
std::optional<std::string> tts_result_job_id(const std::filesystem::path& path);

struct Limits {
  size_t max_text_chars = 5000;
  std::string default_tts_model = "espeak";
  std::string default_video_model = "portrait";
  uint64_t max_image_pixels = 16777216;  // uploaded portraits and a video's frames (MAX_IMAGE_PIXELS)
  double max_video_s = 600;              // uploaded videos, as their container states (MAX_VIDEO_S)
  // Where speaker references live (INPUT_ROOT): uploads land in its uploads/ folder, and a job's
  // speaker_wav must name a file under it.
  std::filesystem::path input_root;
  // Whether a clean relative reference names an existing file under input_root; unset: not checked. The
  // gateway's also marks the file as used now, so the storage sweeper keeps what jobs still name.
  std::function<bool(const std::filesystem::path& relative)> reference_exists;
  // The folder (relative to input_root) that a caller's references must lie in; empty: anywhere under
  // input_root. Set per request to the caller's upload_folder() for keys that do not see all.
  std::filesystem::path reference_folder;
  // TTS results (<STORAGE_ROOT>/tts): a video job's audio_path may name one by the absolute path that
  // /tts/generate answered, as the original runtime passed it on. Empty: not allowed.
  std::filesystem::path tts_results;
  // Whether a clean relative name under tts_results is a finished result (a file that resolves inside the
  // folder, no symlink out); unset: none is.
  std::function<bool(const std::filesystem::path& relative)> tts_result_exists;
  // Webhooks on completion (gateway/webhooks.hpp): accepted only with a signing secret configured, and only
  // to these hosts when the list is not empty.
  bool webhooks_enabled = false;
  std::vector<std::string> webhook_hosts;
};

// Whether new jobs should be refused: Redis has a maxmemory and is at `high_water_percent` of it or past.
// With noeviction Redis would refuse writes at the limit itself, halfway through a submission's script;
// stopping short leaves room for the jobs already admitted to finish (their results, events, acks).
bool job_store_full(const RedisMemory& memory, int high_water_percent);

// POST /v1/files: a WAV (speaker reference or speech for a video), a PNG/JPEG portrait, or a video to
// lip-sync (MP4, MOV, WebM), stored by content. The checks; the gateway writes the file.
struct Upload {
  std::string id;                  // SHA-256 of the bytes, hex
  std::filesystem::path relative;  // under input_root: uploads/<id>.wav|.png|.jpg|.mp4|.mov|.webm
  size_t bytes = 0;
  std::optional<WavInfo> wav;
  std::optional<ImageHeader> image;
  std::optional<VideoHeader> video;
};
std::variant<Upload, ApiError> parse_upload(std::string_view content_type, std::string_view body,
                                            uint64_t max_image_pixels = 16777216, double max_video_s = 600);
nlohmann::json upload_json(const Upload& upload);

struct SubmitRequest {
  std::string kind;
  std::string model;
  int32_t priority = 0;
  std::optional<double> timeout_s;  // from submission to the end of the run
  nlohmann::json input;
  // A pipeline (video from text): its stages; kind, model and input above are then its first stage's.
  std::vector<PipelineStage> stages;
  std::string webhook;  // URL to POST the final record to; empty: none
};

using SubmitParse = std::variant<SubmitRequest, ApiError>;

// POST /v1/jobs: {"kind":"tts","model":"espeak","priority":0,"timeout_s":60,"webhook":"https://..",
//                 "input":{"text":..,"language":..,"speaker_wav":..}}
SubmitParse parse_job_submission(std::string_view content_type, std::string_view body, const Catalog& catalog,
                                 const Limits& limits);
// The same for a body already parsed as a JSON object.
SubmitParse parse_job_object(const nlohmann::json& json, const Catalog& catalog, const Limits& limits);

// POST /v1/jobs:batch: {"jobs":[<a POST /v1/jobs body, with an optional "idempotency_key">, ...]}, 1 to
// kMaxBatchJobs of them. The batch as a whole is refused only when its shape is wrong; each job is checked
// on its own and answered on its own.
inline constexpr size_t kMaxBatchJobs = 1000;
// One job to store: the checked request, and the idempotency key it came with (not yet made per API key)
// with the fingerprint of what was sent under it.
struct Submission {
  SubmitRequest request;
  std::string idempotency_key;  // empty: none
  std::string fingerprint;
};
// A batch's job: ready to store, or why it is refused.
using BatchItem = std::variant<Submission, ApiError>;
std::variant<std::vector<BatchItem>, ApiError> parse_job_batch(std::string_view content_type,
                                                               std::string_view body, const Catalog& catalog,
                                                               const Limits& limits);
// POST /tts/generate, the original service's shape: {"text":..,"language":..,"speaker_wav":..}
// POST /video/generate, the original service's planned shape:
// {"audio_path":..,"reference_image":..,"mode":..} (optionally "model"), on the default video model. With
// "text" (and optionally "language", "speaker_wav", "speaker", "tts_model", "tts") instead of "audio_path",
// the same on /v1/jobs: one job of two stages, speech then video (common/pipeline.hpp).
SubmitParse parse_video_generate(std::string_view content_type, std::string_view body, const Catalog& catalog,
                                 const Limits& limits);
SubmitParse parse_tts_generate(std::string_view content_type, std::string_view body, const Catalog& catalog,
                               const Limits& limits);
// POST /lipsync/generate, the original documentation's example of a new task:
// {"video":..,"audio_path":..} or {"video":..,"text":..} (optionally "model"): the uploaded video with its
// audio replaced by the speech and the mouth moved to it; the same as /v1/jobs kind "lipsync". The model is
// the default video model when it lip-syncs videos, else one that does.
SubmitParse parse_lipsync_generate(std::string_view content_type, std::string_view body,
                                   const Catalog& catalog, const Limits& limits);

// The Idempotency-Key header (nullopt: not sent): "" when absent, an error when malformed or sent empty (a
// client that means to send a key and sends none would otherwise make a new job on every retry).
std::variant<std::string, ApiError> parse_idempotency_key(std::optional<std::string_view> header);
// What identifies a request under an idempotency key: a repeat must match it.
std::string request_fingerprint(std::string_view route, std::string_view body);

// What GET /v1/jobs/{id}/result may serve of a result a worker reported: the file's path relative to its
// kind's folder in shared storage (tts/, video/) and a content type from an allow-list. A worker cannot make
// the gateway serve another folder's files or send a header of its choosing. nullopt: nothing to serve.
struct ServedResult {
  std::string folder;        // "tts" or "video"
  std::string path;          // as the worker reported it (absolute or relative to storage)
  std::string content_type;  // audio/wav or video/mp4
};
std::optional<ServedResult> served_result(const nlohmann::json& result, std::string_view kind);

// The public JSON of a job from its Redis hash.
nlohmann::json render_job(const std::vector<std::pair<std::string, std::string>>& fields);

// The API key that created a job, from its Redis hash ("" without keys).
std::string job_owner(const std::vector<std::pair<std::string, std::string>>& fields);

// A query parameter's value, percent-decoded ("a=1&b=x%20y", "b" -> "x y"); nullopt when absent.
std::optional<std::string> query_value(std::string_view query, std::string_view name);

// "?wait=2.5" and friends: the seconds to long-poll, clamped to [0, max_s]; an error for a malformed value.
std::variant<double, ApiError> parse_wait(std::string_view query, double max_s);

}  // namespace gpufleet::gateway
