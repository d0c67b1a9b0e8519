// Input from outside that once crashed a component: bytes that are not UTF-8, JSON nested deep enough to
// exhaust the stack, peers' MessagePack strings. Each test names the failure it guards.

#include <gtest/gtest.h>

#include <string>

#include "common/json_text.hpp"
#include "common/utf8.hpp"
#include "protocol/protocol.hpp"

namespace gpufleet {
namespace {

TEST(Utf8, WellFormedTextPassesAndEveryKindOfIllFormedByteIsCaught) {
  EXPECT_TRUE(utf8_valid("plain ascii"));
  EXPECT_TRUE(
      utf8_valid("Gr\xC3\xBC\xC3\x9F"
                 "e \xE2\x82\xAC \xF0\x9F\x8E\x99"));  // ü ß € 🎙
  EXPECT_FALSE(utf8_valid("\xFF"));                    // never a UTF-8 byte
  EXPECT_FALSE(utf8_valid("\xC3"));                    // cut short
  EXPECT_FALSE(utf8_valid("\xC0\xAF"));                // overlong '/'
  EXPECT_FALSE(utf8_valid("\xE0\x80\xAF"));            // overlong, three bytes
  EXPECT_FALSE(utf8_valid("\xED\xA0\x80"));            // a surrogate
  EXPECT_FALSE(utf8_valid("\xF4\x90\x80\x80"));        // past U+10FFFF
  EXPECT_FALSE(
      utf8_valid("a\x80"
                 "b"));  // a lone continuation byte
}

TEST(Utf8, RepairReplacesEachBadByteAndKeepsTheRest) {
  EXPECT_EQ(utf8_repair("ok"), "ok");
  EXPECT_EQ(utf8_repair("a\xFF"
                        "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_TRUE(utf8_valid(utf8_repair("\xC3\x28\xE2\x82")));
}

// A worker's error message was cut at 2,000 bytes inside a multi-byte character, stored in Redis and later
// threw in the gateway on every read of the job.
TEST(Utf8, TruncationNeverSplitsACharacter) {
  const std::string euros = "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC";  // 9 bytes, 3 characters
  for (size_t limit = 0; limit <= euros.size(); ++limit) {
    const auto cut = utf8_truncate(euros, limit);
    EXPECT_TRUE(utf8_valid(cut)) << limit;
    EXPECT_LE(cut.size(), limit);
    EXPECT_EQ(cut.size(), limit / 3 * 3);
  }
  EXPECT_EQ(utf8_truncate("short", 100), "short");
}

// A 500 KB body of brackets ended the gateway: nlohmann's copies of the parsed value recurse.
TEST(BoundedJson, DeepNestingIsRefusedBeforeAnythingParsesIt) {
  const std::string deep = std::string(250'000, '[') + std::string(250'000, ']');
  EXPECT_GT(json_nesting_depth(deep), kMaxJsonDepth);
  EXPECT_FALSE(parse_json_bounded(deep).has_value());
  std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_EQ(json_nesting_depth(ok), kMaxJsonDepth);
  EXPECT_TRUE(parse_json_bounded(ok).has_value());
}

TEST(BoundedJson, BracketsInsideStringsDoNotCount) {
  EXPECT_EQ(json_nesting_depth(R"({"text":"[[[[[[[[\"{{{{"})"), 1u);
  EXPECT_TRUE(parse_json_bounded(R"({"a":"]]]]"})", 1).has_value());
}

TEST(BoundedJson, IllFormedUtf8IsRefusedAndDumpingNeverThrows) {
  EXPECT_FALSE(parse_json_bounded("{\"text\":\"\xFF\"}").has_value());
  nlohmann::json value{{"message", std::string("cut \xE2\x82")}};
  std::string text;
  EXPECT_NO_THROW(text = dump_json(value));
  EXPECT_TRUE(utf8_valid(text));
}

// A worker READY whose host name was not UTF-8 made the broker exit.
TEST(ProtocolStrings, AMessageWithANonUtf8StringIsAProtocolError) {
  protocol::Ready ready;
  ready.worker_id = "w1";
  ready.host = "host\xFF";
  const std::string body = protocol::encode_body(ready);
  EXPECT_THROW(protocol::decode_body<protocol::Ready>(body), ProtocolError);
  ready.host = "h\xC3\xB6st";  // ö
  EXPECT_EQ(protocol::decode_body<protocol::Ready>(protocol::encode_body(ready)).host, ready.host);
  protocol::JobResult result;
  result.job_id = "0123456789abcdef0123456789abcdef";
  result.error_message = std::string(1999, 'x') + "\xE2";
  EXPECT_THROW(protocol::decode_body<protocol::JobResult>(protocol::encode_body(result)), ProtocolError);
}

}  // namespace
}  // namespace gpufleet
