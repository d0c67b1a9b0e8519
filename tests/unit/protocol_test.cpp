// Guards the wire format: round trips, and that no byte sequence a peer can send makes decoding crash,
// hang or allocate without bound.
#include "protocol/protocol.hpp"

#include <gtest/gtest.h>

#include <random>

#include "common/utf8.hpp"

namespace gpufleet::protocol {
namespace {

TEST(ProtocolHeader, RoundTripsEveryType) {
  for (auto type :
       {MessageType::kReady, MessageType::kHeartbeat, MessageType::kJob, MessageType::kJobResult,
        MessageType::kReconnect, MessageType::kGoodbye, MessageType::kCancel, MessageType::kResultAck}) {
    const auto header = decode_header(encode_header(type));
    EXPECT_EQ(header.type, type);
    EXPECT_EQ(header.version, kVersion);
  }
}

TEST(ProtocolHeader, RejectsWrongSizeMagicVersionAndType) {
  EXPECT_THROW(decode_header(""), ProtocolError);
  EXPECT_THROW(decode_header("GF\x01"), ProtocolError);
  EXPECT_THROW(decode_header(std::string("GF\x02\x02\x00", 5)), ProtocolError);
  EXPECT_THROW(decode_header(std::string("XF\x02\x02", 4)), ProtocolError);
  EXPECT_THROW(decode_header(std::string("GF\x01\x02", 4)), ProtocolError);  // version 1 peers
  EXPECT_THROW(decode_header(std::string("GF\x02\x00", 4)), ProtocolError);
  EXPECT_THROW(decode_header(std::string("GF\x02\x01", 4)), ProtocolError);  // retired SUBMIT
  EXPECT_THROW(decode_header(std::string("GF\x02\x63", 4)), ProtocolError);
}

TEST(ProtocolBody, ReadyRoundTripsWithModels) {
  Ready ready;
  ready.worker_id = "w1";
  ready.device = "cuda";
  ready.slots = 4;
  ready.models = {ModelInfo{"espeak", "tts", {"en", "de"}, false, 22050}};
  ready.held = {HeldJob{"abc", 3}};
  const auto decoded = decode_body<Ready>(encode_body(ready));
  EXPECT_EQ(decoded.worker_id, "w1");
  EXPECT_EQ(decoded.slots, 4u);
  ASSERT_EQ(decoded.models.size(), 1u);
  EXPECT_EQ(decoded.models[0].languages, (std::vector<std::string>{"en", "de"}));
  EXPECT_EQ(decoded.models[0].sample_rate, 22050u);
  ASSERT_EQ(decoded.held.size(), 1u);
  EXPECT_EQ(decoded.held[0].job_id, "abc");
  EXPECT_EQ(decoded.held[0].attempt, 3u);
}

TEST(ProtocolBody, JobResultRoundTrips) {
  JobResult result{"0123456789abcdef0123456789abcdef", 2, false, "", "model_error", "boom", 12.5};
  const auto decoded = decode_body<JobResult>(encode_body(result));
  EXPECT_EQ(decoded.attempt, 2u);
  EXPECT_FALSE(decoded.ok);
  EXPECT_EQ(decoded.error_message, "boom");
  EXPECT_DOUBLE_EQ(decoded.run_ms, 12.5);
}

TEST(ProtocolBody, MissingFieldsTakeDefaultsAndUnknownFieldsAreIgnored) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(2);
  packer.pack(std::string("job_id"));
  packer.pack(std::string("x"));
  packer.pack(std::string("future_field"));
  packer.pack(42);
  const auto job = decode_body<Job>(std::string_view(buffer.data(), buffer.size()));
  EXPECT_EQ(job.job_id, "x");
  EXPECT_EQ(job.attempt, 1u);
}

TEST(ProtocolBody, RejectsWrongTypesNonMapsAndGarbage) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(1);
  packer.pack(std::string("attempt"));
  packer.pack(std::string("not a number"));
  EXPECT_THROW(decode_body<Job>(std::string_view(buffer.data(), buffer.size())), ProtocolError);
  EXPECT_THROW(decode_body<Job>(encode_body(std::vector<int>{1, 2, 3})), ProtocolError);
  EXPECT_THROW(decode_body<Job>(""), ProtocolError);
  EXPECT_THROW(decode_body<Job>("\xc1"), ProtocolError);  // a reserved byte
}

TEST(ProtocolBody, HugeDeclaredSizesAreRefusedWithoutAllocating) {
  // An array header claiming 2^32-1 elements in five bytes.
  EXPECT_THROW(decode_body<Job>(std::string("\xdd\xff\xff\xff\xff", 5)), ProtocolError);
  // A map claiming 2^32-1 pairs.
  EXPECT_THROW(decode_body<Job>(std::string("\xdf\xff\xff\xff\xff", 5)), ProtocolError);
  // Deep nesting.
  EXPECT_THROW(decode_body<Job>(std::string(64, '\x91')), ProtocolError);
}

// Every byte string decodes to a Job or is refused with ProtocolError: no other exception, and whatever
// decodes is a Job with UTF-8 strings that encodes and decodes to itself. Both outcomes must occur, so the
// loop is known to reach the decoder's refusals and its successes (a broken generator would test nothing).
TEST(ProtocolBody, RandomAndTruncatedBytesDecodeOrAreRefused) {
  std::mt19937 random(1234);
  const Job original{"0123456789abcdef0123456789abcdef", 1, "tts", "espeak", "{}", 1, 2, 3};
  const std::string valid = encode_body(original);
  ASSERT_EQ(decode_body<Job>(valid).job_id, original.job_id);
  size_t refused = 0, decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes;
    if (round % 2 == 0) {
      bytes = valid.substr(0, random() % (valid.size() + 1));  // truncated
      if (!bytes.empty()) bytes[random() % bytes.size()] = static_cast<char>(random());
    } else {
      bytes.resize(random() % 64);
      for (auto& byte : bytes) byte = static_cast<char>(random());
    }
    try {
      const Job job = decode_body<Job>(bytes);
      ++decoded;
      for (const std::string* text : {&job.job_id, &job.kind, &job.model, &job.input_json}) {
        EXPECT_TRUE(utf8_valid(*text)) << "round " << round;
      }
      const Job again = decode_body<Job>(encode_body(job));
      EXPECT_EQ(again.job_id, job.job_id);
      EXPECT_EQ(again.attempt, job.attempt);
      EXPECT_EQ(again.input_json, job.input_json);
      EXPECT_EQ(again.lease_ms, job.lease_ms);
    } catch (const ProtocolError&) {
      ++refused;
    } catch (const std::exception& error) {
      ADD_FAILURE() << "round " << round << ": " << error.what() << " is not a ProtocolError";
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(decoded, 0u);
}

}  // namespace
}  // namespace gpufleet::protocol
