// SharedRead (gateway/shared_read.hpp), the single-flight read behind GET /health: a fake reader that the
// test completes by hand, and a clock the test moves.

#include "gateway/shared_read.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gpufleet::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = SharedRead<std::string>::Clock;

struct Harness {
  Clock::time_point now{};
  std::vector<SharedRead<std::string>::Done> pending;  // reads started, not yet answered
  SharedRead<std::string> read{
      [this](SharedRead<std::string>::Done done) { pending.push_back(std::move(done)); }, 50ms,
      [this] { return now; }};
};

// Guards against a read per request: requests that arrive while one read is in flight share it.
TEST(SharedRead, RequestsDuringAReadShareIt) {
  Harness h;
  std::vector<std::string> answers;
  for (int i = 0; i < 3; ++i) h.read.get([&](const std::string& value) { answers.push_back(value); });
  ASSERT_EQ(h.pending.size(), 1u);
  EXPECT_TRUE(answers.empty()) << "answered before the read came back";
  h.pending[0]("healthy");
  EXPECT_EQ(answers, (std::vector<std::string>{"healthy", "healthy", "healthy"}));
  EXPECT_EQ(h.read.reads(), 1u);
}

// Guards against stale answers: a value is reused only while younger than max_age, counted from when its
// read began, and a read that is slower than max_age still answers the requests that waited for it.
TEST(SharedRead, AValueIsReusedOnlyWhileYoungerThanMaxAgeFromItsReadsStart) {
  Harness h;
  std::string last;
  h.read.get([&](const std::string& value) { last = value; });
  h.now += 30ms;  // the read takes 30 ms
  h.pending.at(0)("first");
  h.now += 20ms;  // 50 ms after the read began: still fresh
  h.read.get([&](const std::string& value) { last = value; });
  EXPECT_EQ(h.pending.size(), 1u);
  EXPECT_EQ(last, "first");
  h.now += 1ms;  // 51 ms: stale, a new read
  last.clear();
  h.read.get([&](const std::string& value) { last = value; });
  ASSERT_EQ(h.pending.size(), 2u);
  EXPECT_TRUE(last.empty());
  h.now += 200ms;  // a slow read
  h.pending[1]("second");
  EXPECT_EQ(last, "second");
  EXPECT_EQ(h.read.reads(), 2u);
}

// Guards against a request lost when it arrives from inside an answer (a handler that asks again).
TEST(SharedRead, ARequestMadeFromAnAnswerIsServed) {
  Harness h;
  std::vector<std::string> answers;
  h.read.get([&](const std::string& value) {
    answers.push_back(value);
    h.read.get([&](const std::string& again) { answers.push_back("again " + again); });
  });
  h.pending.at(0)("v");
  EXPECT_EQ(answers, (std::vector<std::string>{"v", "again v"}));
  EXPECT_EQ(h.read.reads(), 1u);
}

}  // namespace
}  // namespace gpufleet::gateway
