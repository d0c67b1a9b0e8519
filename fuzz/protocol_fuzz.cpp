// Fuzz target: everything a peer can put on the broker's or a worker's socket. Frames are the header (first
// 4 bytes) and the body (the rest); each body is decoded as every message type. Anything but a clean
// decode or a ProtocolError is a bug.
#include <cstdint>
#include <string_view>

#include "protocol/protocol.hpp"

namespace {

template <typename T>
void decode_as(std::string_view body) {
  try {
    gpufleet::protocol::decode_body<T>(body);
  } catch (const gpufleet::ProtocolError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpufleet::protocol;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    decode_header(bytes.substr(0, 4));
  } catch (const gpufleet::ProtocolError&) {
  }
  const std::string_view body = size > 4 ? bytes.substr(4) : std::string_view();
  decode_as<Ready>(body);
  decode_as<Heartbeat>(body);
  decode_as<Job>(body);
  decode_as<JobResult>(body);
  decode_as<Cancel>(body);
  decode_as<ResultAck>(body);
  decode_as<Reconnect>(body);
  decode_as<Goodbye>(body);
  return 0;
}
