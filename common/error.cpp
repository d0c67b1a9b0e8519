#include "common/error.hpp"

#include <array>
#include <utility>

namespace gpufleet {
namespace {

constexpr std::array<std::pair<ErrorCode, std::string_view>, 39> kNames{{
    {ErrorCode::kInvalidRequest, "invalid_request"},
    {ErrorCode::kInvalidJson, "invalid_json"},
    {ErrorCode::kMissingField, "missing_field"},
    {ErrorCode::kTextTooLong, "text_too_long"},
    {ErrorCode::kUnsupportedLanguage, "unsupported_language"},
    {ErrorCode::kUnknownModel, "unknown_model"},
    {ErrorCode::kUnsupportedMediaType, "unsupported_media_type"},
    {ErrorCode::kPayloadTooLarge, "payload_too_large"},
    {ErrorCode::kNotFound, "not_found"},
    {ErrorCode::kMethodNotAllowed, "method_not_allowed"},
    {ErrorCode::kNotReady, "not_ready"},
    {ErrorCode::kJobFailed, "job_failed"},
    {ErrorCode::kCannotClone, "cannot_clone"},
    {ErrorCode::kInvalidInput, "invalid_input"},
    {ErrorCode::kModelError, "model_error"},
    {ErrorCode::kWorkerLost, "worker_lost"},
    {ErrorCode::kStorageError, "storage_error"},
    {ErrorCode::kUnavailable, "unavailable"},
    {ErrorCode::kTimeout, "timeout"},
    {ErrorCode::kInternal, "internal"},
    {ErrorCode::kCancelled, "cancelled"},
    {ErrorCode::kDeadlineExceeded, "deadline_exceeded"},
    {ErrorCode::kQueueFull, "queue_full"},
    {ErrorCode::kIdempotencyConflict, "idempotency_conflict"},
    {ErrorCode::kOutOfMemory, "out_of_memory"},
    {ErrorCode::kLeaseExpired, "lease_expired"},
    {ErrorCode::kAlreadyFinal, "already_final"},
    {ErrorCode::kUnauthorized, "unauthorized"},
    {ErrorCode::kRateLimited, "rate_limited"},
    {ErrorCode::kForbidden, "forbidden"},
    {ErrorCode::kGone, "gone"},
    {ErrorCode::kPoison, "poison"},
    {ErrorCode::kTooManyWaits, "too_many_waits"},
    {ErrorCode::kInvalidSdp, "invalid_sdp"},
    {ErrorCode::kTooManySessions, "too_many_sessions"},
    {ErrorCode::kIceRestartUnsupported, "ice_restart_unsupported"},
    {ErrorCode::kNoFace, "no_face"},
    {ErrorCode::kUnreadableMedia, "unreadable_media"},
    {ErrorCode::kMediaTooLong, "media_too_long"},
}};

}  // namespace

std::string_view to_string(ErrorCode code) {
  for (const auto& [c, name] : kNames) {
    if (c == code) return name;
  }
  return "internal";
}

std::optional<ErrorCode> parse_error_code(std::string_view text) {
  for (const auto& [c, name] : kNames) {
    if (name == text) return c;
  }
  return std::nullopt;
}

}  // namespace gpufleet
