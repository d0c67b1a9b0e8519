#include "protocol/protocol.hpp"

#include "common/utf8.hpp"

namespace gpufleet::protocol {
namespace {

// Every string a peer sends ends up in JSON (Redis records, events, logs): one that is not UTF-8 is refused
// here, at the edge, instead of throwing later in whichever component serialises it.
bool strings_are_utf8(const msgpack::object& object) {
  switch (object.type) {
    case msgpack::type::STR:
      return utf8_valid(std::string_view(object.via.str.ptr, object.via.str.size));
    case msgpack::type::ARRAY:
      for (uint32_t i = 0; i < object.via.array.size; ++i) {
        if (!strings_are_utf8(object.via.array.ptr[i])) return false;
      }
      return true;
    case msgpack::type::MAP:
      for (uint32_t i = 0; i < object.via.map.size; ++i) {
        if (!strings_are_utf8(object.via.map.ptr[i].key) || !strings_are_utf8(object.via.map.ptr[i].val))
          return false;
      }
      return true;
    default:
      return true;
  }
}

}  // namespace

std::string_view to_string(MessageType type) {
  switch (type) {
    case MessageType::kReady:
      return "READY";
    case MessageType::kHeartbeat:
      return "HEARTBEAT";
    case MessageType::kJob:
      return "JOB";
    case MessageType::kJobResult:
      return "JOB_RESULT";
    case MessageType::kReconnect:
      return "RECONNECT";
    case MessageType::kGoodbye:
      return "GOODBYE";
    case MessageType::kCancel:
      return "CANCEL";
    case MessageType::kResultAck:
      return "RESULT_ACK";
  }
  return "UNKNOWN";
}

std::string encode_header(MessageType type) {
  return std::string{kMagic0, kMagic1, static_cast<char>(kVersion), static_cast<char>(type)};
}

Header decode_header(std::string_view frame) {
  if (frame.size() != kHeaderSize) {
    throw ProtocolError("header frame has " + std::to_string(frame.size()) + " bytes, expected 4");
  }
  if (frame[0] != kMagic0 || frame[1] != kMagic1) throw ProtocolError("header frame has no GF magic");
  Header header;
  header.version = static_cast<uint8_t>(frame[2]);
  if (header.version != kVersion) {
    throw ProtocolError("unsupported protocol version " + std::to_string(header.version));
  }
  auto raw = static_cast<uint8_t>(frame[3]);
  if (raw < kFirstMessageType || raw > kLastMessageType) {
    throw ProtocolError("unknown message type " + std::to_string(raw));
  }
  header.type = static_cast<MessageType>(raw);
  return header;
}

msgpack::object_handle unpack_body(std::string_view body) {
  if (body.size() > kMaxBodyBytes) throw ProtocolError("message body over " + std::to_string(kMaxBodyBytes));
  // Bounds on element counts keep a 10-byte frame from announcing a 4-billion-entry array.
  const msgpack::unpack_limit limits(/*array=*/4096, /*map=*/256, /*str=*/kMaxBodyBytes,
                                     /*bin=*/kMaxBodyBytes,
                                     /*ext=*/0, /*depth=*/8);
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(body.data(), body.size(), nullptr, nullptr, limits);
  } catch (const std::exception& error) {
    throw ProtocolError(std::string("malformed MessagePack body: ") + error.what());
  }
  if (!strings_are_utf8(handle.get())) throw ProtocolError("a string in the message body is not UTF-8");
  return handle;
}

}  // namespace gpufleet::protocol
