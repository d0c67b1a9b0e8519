// Guards configuration parsing: bad values are errors with the variable's name, never silent defaults.
#include "common/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/error.hpp"

namespace gpufleet {
namespace {

TEST(RedisUrl, ParsesHostPortPasswordAndDb) {
  auto endpoint = parse_redis_url("redis://:secret@redis.internal:6380/2");
  EXPECT_EQ(endpoint.host, "redis.internal");
  EXPECT_EQ(endpoint.port, 6380);
  EXPECT_EQ(endpoint.password, "secret");
  EXPECT_EQ(endpoint.db, 2);
  auto plain = parse_redis_url("redis://localhost");
  EXPECT_EQ(plain.port, 6379);
  EXPECT_EQ(plain.db, 0);
}

TEST(RedisUrl, RejectsMalformed) {
  EXPECT_THROW(parse_redis_url("http://x"), ConfigError);
  EXPECT_THROW(parse_redis_url("redis://host:notaport"), ConfigError);
  EXPECT_THROW(parse_redis_url("redis://host:70000"), ConfigError);
  EXPECT_THROW(parse_redis_url("redis://:6379"), ConfigError);
  EXPECT_THROW(parse_redis_url("redis://host/x"), ConfigError);
}

TEST(EnvInt, ValidatesRangeAndSyntax) {
  ::setenv("GPUFLEET_TEST_INT", "42", 1);
  EXPECT_EQ(env_int("GPUFLEET_TEST_INT", 1, 0, 100), 42);
  ::setenv("GPUFLEET_TEST_INT", "420", 1);
  EXPECT_THROW(env_int("GPUFLEET_TEST_INT", 1, 0, 100), ConfigError);
  ::setenv("GPUFLEET_TEST_INT", "4x", 1);
  EXPECT_THROW(env_int("GPUFLEET_TEST_INT", 1, 0, 100), ConfigError);
  ::unsetenv("GPUFLEET_TEST_INT");
  EXPECT_EQ(env_int("GPUFLEET_TEST_INT", 7, 0, 100), 7);
}

// Guards comma-separated settings (CORS_ORIGINS, WEBHOOK_ALLOWED_HOSTS, WEBRTC_TURN_SERVERS): a space after a
// comma is not part of the next item, which would never match an origin or parse as a TURN URL.
TEST(SplitList, TrimsSpacesAndSkipsEmptyItems) {
  EXPECT_EQ(split_list("a, b,,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split_list(" turn://u:p@h:1 ,  turn://u:p@g:2 "),
            (std::vector<std::string>{"turn://u:p@h:1", "turn://u:p@g:2"}));
  EXPECT_TRUE(split_list("").empty());
  EXPECT_TRUE(split_list(" , ,").empty());
}

}  // namespace
}  // namespace gpufleet
