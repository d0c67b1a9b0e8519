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

inline constexpr uint8_t kVersion = 1;
inline constexpr char kMagic0 = 'G';
inline constexpr char kMagic1 = 'F';
inline constexpr size_t kHeaderSize = 4;
inline constexpr size_t kMaxBodyBytes = 16 * 1024 * 1024;

enum class MessageType : uint8_t {
  kSubmit = 1,      // gateway -> broker: a new job (already recorded in Redis)
  kReady = 2,       // worker -> broker: I am here, this is what I serve
  kHeartbeat = 3,   // both ways, from timers
  kJob = 4,         // broker -> worker: run this job
  kJobResult = 5,   // worker -> broker: finished (ok or error)
  kReconnect = 6,   // broker -> worker: I do not know you, send Ready again
  kGoodbye = 7,     // worker -> broker: leaving; requeue nothing of mine that I did not finish
};

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
  MSGPACK_DEFINE_MAP(name, kind, languages, cloning, sample_rate)
};

struct Submit {
  std::string job_id;
  std::string kind;
  std::string model;
  int32_t priority = 0;
  std::string input_json;  // the validated client input, passed through untouched
  int64_t created_ms = 0;
  MSGPACK_DEFINE_MAP(job_id, kind, model, priority, input_json, created_ms)
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
  std::vector<std::string> running_jobs;  // on a reconnect: the jobs it still holds
  MSGPACK_DEFINE_MAP(worker_id, host, pid, device, device_name, slots, models, version, heartbeat_ms, running_jobs)
};

struct Heartbeat {
  uint32_t active = 0;    // jobs the sender is running (worker) or has assigned to the peer (broker)
  bool draining = false;  // worker: finishing what it holds, send nothing new
  MSGPACK_DEFINE_MAP(active, draining)
};

struct Job {
  std::string job_id;
  uint32_t attempt = 1;  // fencing token: a result must carry the attempt it was given
  std::string kind;
  std::string model;
  std::string input_json;
  int64_t created_ms = 0;
  MSGPACK_DEFINE_MAP(job_id, attempt, kind, model, input_json, created_ms)
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

// Unpacks a body with bounded sizes and nesting; throws ProtocolError on anything malformed.
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
