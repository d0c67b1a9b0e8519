#pragma once
// The wire protocol between gateways, the broker and workers (docs/protocol.md is the reference).
//
// Every message is two ZeroMQ frames after any routing frames:
//   frame 1, header: 4 bytes  'G' 'F' <version> <MessageType>
//   frame 2, body:   one MessagePack map (field names below; unknown fields are ignored)
// Decoding never trusts the peer: sizes are bounded and every failure is a ProtocolError.

#include <cstdint>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace gpufleet::protocol {

// 2: submissions moved to the Redis stream (no SUBMIT), leases, CANCEL and RESULT_ACK.
inline constexpr uint8_t kVersion = 2;
inline constexpr char kMagic0 = 'G';
inline constexpr char kMagic1 = 'F';
inline constexpr size_t kHeaderSize = 4;
inline constexpr size_t kMaxBodyBytes = 16 * 1024 * 1024;

// Type 1 (SUBMIT in version 1) is retired: gateways hand jobs to the broker through Redis (docs/redis.md).
enum class MessageType : uint8_t {
  kReady = 2,      // worker -> broker: I am here, this is what I serve and what I still hold
  kHeartbeat = 3,  // both ways, from timers; a worker's also renews the leases of jobs that progress
  kJob = 4,        // broker -> worker: run this job
  kJobResult = 5,  // worker -> broker: finished (ok or error); repeated until acknowledged
  kReconnect = 6,  // broker -> worker: I do not know you, send Ready again
  kGoodbye = 7,    // worker -> broker: leaving; requeue whatever of mine is unfinished
  kCancel = 8,     // broker -> worker: stop this job (client cancel, deadline, or lease taken away)
  kResultAck = 9,  // broker -> worker: this result is recorded (or refused); forget it
};
inline constexpr uint8_t kFirstMessageType = 2;
inline constexpr uint8_t kLastMessageType = 9;

std::string_view to_string(MessageType type);

struct Header {
  uint8_t version = kVersion;
  MessageType type = MessageType::kHeartbeat;
};

std::string encode_header(MessageType type);
// Throws ProtocolError on a wrong size, magic, version or unknown type.
Header decode_header(std::string_view frame);

// What a worker serves, as announced in Ready.
struct ModelInfo {
  std::string name;
  std::string kind;                    // "tts", "video", "noop"
  std::vector<std::string> languages;  // empty: any
  bool cloning = false;                // accepts a speaker reference
  uint32_t sample_rate = 0;
  // Jobs a worker runs together (dynamic batching); the broker lets a worker hold slots x max_batch of them.
  uint32_t max_batch = 1;
  // The input fields of the model's own (XTTS's "temperature", a drill's "sleep_ms"), beyond those the fleet
  // defines for every model of its kind; the gateway refuses any other field (docs/security.md).
  std::vector<std::string> parameters;
  // A video model's modes ("talking_head", "lip_sync"): /health's models.video and models.lipsync say
  // whether any served model offers each.
  std::vector<std::string> modes;
  MSGPACK_DEFINE_MAP(name, kind, languages, cloning, sample_rate, max_batch, parameters, modes)
};

// A model a worker was configured with but could not load (or warm up): reported, not served.
struct FailedModel {
  std::string name;
  std::string error;
  MSGPACK_DEFINE_MAP(name, error)
};

// A job a worker holds: running, or finished with its result not yet acknowledged.
struct HeldJob {
  std::string job_id;
  uint32_t attempt = 0;
  MSGPACK_DEFINE_MAP(job_id, attempt)
};

struct Ready {
  std::string worker_id;
  std::string host;
  int32_t pid = 0;
  std::string device;       // "cuda", "mps", "cpu"
  std::string device_name;  // e.g. "cuda:0 NVIDIA H100"
  uint32_t slots = 1;       // jobs it runs at once
  std::vector<ModelInfo> models;
  std::string version;
  uint32_t heartbeat_ms = 1000;
  std::vector<HeldJob> held;  // on a reconnect: the jobs it still holds
  std::vector<FailedModel> failed_models;
  MSGPACK_DEFINE_MAP(worker_id, host, pid, device, device_name, slots, models, version, heartbeat_ms, held,
                     failed_models)
};

// The speaker references whose voices a worker's model holds in memory (names as in the jobs' speaker_wav).
struct ModelVoices {
  std::string model;
  std::vector<std::string> references;
  MSGPACK_DEFINE_MAP(model, references)
};
inline constexpr size_t kMaxAdvertisedVoices = 256;  // per model and heartbeat

// How far a running job has come (video: frames rendered of the total), reported when it changed.
struct JobProgress {
  std::string job_id;
  uint32_t attempt = 0;
  uint64_t done = 0;
  uint64_t total = 0;
  MSGPACK_DEFINE_MAP(job_id, attempt, done, total)
};

struct Heartbeat {
  uint32_t active = 0;  // jobs the sender is running (worker) or has assigned to the peer (broker)
  bool draining =
      false;  // worker: finishing what it holds, send nothing new; broker: drain seen, nothing comes
  std::vector<std::string> renew;  // worker: jobs whose leases it renews (they made progress, or are done)
  // Worker: the voices it holds in memory now, in full (absent in older workers' heartbeats: none). The
  // broker prefers this worker for jobs with these references.
  std::vector<ModelVoices> voices;
  std::vector<JobProgress> progress;  // worker: running jobs whose progress changed since its last heartbeat
  MSGPACK_DEFINE_MAP(active, draining, renew, voices, progress)
};

struct Job {
  std::string job_id;
  uint32_t attempt = 1;  // fencing token: a result must carry the attempt it was given
  std::string kind;
  std::string model;
  std::string input_json;
  int64_t created_ms = 0;
  int64_t deadline_ms = 0;  // unix ms after which the job is worthless; 0: none
  uint32_t lease_ms = 0;    // the lease lasts this long after each renewal
  MSGPACK_DEFINE_MAP(job_id, attempt, kind, model, input_json, created_ms, deadline_ms, lease_ms)
};

struct JobResult {
  std::string job_id;
  uint32_t attempt = 1;
  bool ok = false;
  std::string result_json;  // on success: a JSON object (audio_path, duration_s, ...)
  std::string error_code;   // on failure: an ErrorCode name
  std::string error_message;
  double run_ms = 0;
  MSGPACK_DEFINE_MAP(job_id, attempt, ok, result_json, error_code, error_message, run_ms)
};

struct Cancel {
  std::string job_id;
  uint32_t attempt = 0;
  std::string reason;  // an ErrorCode name: cancelled, deadline_exceeded, lease_expired
  MSGPACK_DEFINE_MAP(job_id, attempt, reason)
};

struct ResultAck {
  std::string job_id;
  uint32_t attempt = 0;
  bool accepted = false;  // false: the attempt was no longer the job's; its output must be discarded
  MSGPACK_DEFINE_MAP(job_id, attempt, accepted)
};

struct Reconnect {
  std::string reason;
  MSGPACK_DEFINE_MAP(reason)
};

struct Goodbye {
  std::string reason;
  MSGPACK_DEFINE_MAP(reason)
};

template <typename T>
std::string encode_body(const T& message) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, message);
  return std::string(buffer.data(), buffer.size());
}

// Unpacks a body with bounded sizes and nesting; throws ProtocolError on anything malformed, a string that
// is not UTF-8 included.
msgpack::object_handle unpack_body(std::string_view body);

template <typename T>
T decode_body(std::string_view body) {
  auto handle = unpack_body(body);
  if (handle.get().type != msgpack::type::MAP) throw ProtocolError("message body is not a map");
  try {
    T message;
    handle.get().convert(message);
    return message;
  } catch (const std::exception& error) {
    throw ProtocolError(std::string("message body does not match its type: ") + error.what());
  }
}

}  // namespace gpufleet::protocol
