#pragma once
// The fleet's error vocabulary. Every error that crosses a process boundary (HTTP answer, job record,
// protocol message) carries one of these codes plus a human-readable message.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gpufleet {

enum class ErrorCode {
  kInvalidRequest,
  kInvalidJson,
  kMissingField,
  kTextTooLong,
  kUnsupportedLanguage,
  kUnknownModel,
  kUnsupportedMediaType,
  kPayloadTooLarge,
  kNotFound,
  kMethodNotAllowed,
  kNotReady,
  kJobFailed,
  kCannotClone,
  kInvalidInput,
  kModelError,
  kWorkerLost,
  kStorageError,
  kUnavailable,
  kTimeout,
  kInternal,
  kCancelled,            // the job was cancelled by a client
  kDeadlineExceeded,     // the job's timeout ran out (in the queue or while running)
  kQueueFull,            // the model's queue is at its bound: retry later
  kIdempotencyConflict,  // an Idempotency-Key reused with a different request
  kOutOfMemory,          // the device ran out of memory; retried elsewhere within MAX_ATTEMPTS
  kLeaseExpired,         // the worker stopped renewing the job's lease (hung or cut off)
  kAlreadyFinal,         // the job has already ended; nothing to cancel
  kUnauthorized,         // no API key, or one the gateway does not know
  kRateLimited,          // the API key's request rate is used up: retry later
  kForbidden,            // the API key may not use this endpoint (it needs an operator key)
  kGone,                 // the job's result file was swept after its retention ran out
  kPoison,               // the job's attempts ended with its worker lost too often: not offered again
  kTooManyWaits,         // the API key holds its limit of open long-polls, streams and synchronous waits
  kNoFace,               // a video model found no face to move in the portrait or in any frame of the video
  kUnreadableMedia,      // a video (or its container) cannot be read, or holds no video stream
  kMediaTooLong,         // a video or its speech lasts longer than the limit
  kInvalidSdp,       // a WHEP offer is not SDP the gateway can answer (no receiving Opus audio, no ICE...)
  kTooManySessions,  // the API key (or the gateway) holds its limit of WebRTC sessions
  kIceRestartUnsupported,  // a trickle ICE PATCH with other ICE credentials: WebRTC sessions do not restart
};

std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> parse_error_code(std::string_view text);

// Base of the fleet's exceptions: used for real failures only (a bad config, a lost connection, a model
// that throws), never for control flow on the hot path.
class FleetError : public std::runtime_error {
 public:
  FleetError(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// A configuration value (environment variable, config file) that cannot be used.
class ConfigError : public FleetError {
 public:
  explicit ConfigError(const std::string& message) : FleetError(ErrorCode::kInvalidRequest, message) {}
};

// A frame or message that does not follow docs/protocol.md.
class ProtocolError : public FleetError {
 public:
  explicit ProtocolError(const std::string& message) : FleetError(ErrorCode::kInvalidRequest, message) {}
};

// Redis could not be reached or answered with an error.
class RedisError : public FleetError {
 public:
  explicit RedisError(const std::string& message) : FleetError(ErrorCode::kUnavailable, message) {}
};

// A model refused or failed a job; the code says why (kInvalidInput, kUnsupportedLanguage, kModelError, ...).
class ModelError : public FleetError {
 public:
  using FleetError::FleetError;
};

}  // namespace gpufleet
