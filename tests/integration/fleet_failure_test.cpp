// The fleet when parts fail: a worker killed in the middle of a job, garbage on the broker's socket, and
// Redis going away. Each test runs its own fleet so that a failure cannot leak into the next.
#include <gtest/gtest.h>
#include <signal.h>

#include <random>
#include <zmq.hpp>

#include "common/error.hpp"
#include "common/protocol.hpp"
#include "tests/support/fleet_fixture.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

TEST(FleetFailure, AJobOfAKilledWorkerIsFinishedByAnother) {
  Fleet fleet(FleetOptions{2, "noop", 1, {}});
  EventRecorder events(fleet.redis_endpoint(), fleet.keys().job_events());
  const std::string id = fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", 2000}}}});

  // Wait until it runs, then kill its worker without a chance to say goodbye.
  std::string victim;
  for (int i = 0; i < 100 && victim.empty(); ++i) {
    auto job = fleet.wait_job(id, 0);
    if (job.value("state", "") == "running") victim = job.value("worker", "");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(victim.empty()) << "the job never started";
  const size_t index = victim.rfind("worker-1", 0) == 0 ? 0 : 1;
  fleet.stack().worker(index).signal(SIGKILL);

  auto job = fleet.wait_job(id, 30);
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["attempts"], 2);
  EXPECT_NE(job["worker"], victim);

  std::vector<std::string> states;
  for (const auto& event : events.events_for(id)) states.push_back(event["state"]);
  ASSERT_EQ(states, (std::vector<std::string>{"queued", "running", "queued", "running", "succeeded"}));
  auto requeue = events.events_for(id)[2];
  EXPECT_EQ(requeue["error"]["code"], "worker_lost");

  auto health = json::parse(fleet.get("/health").body);
  EXPECT_EQ(health["fleet"]["workers"], 1);
}

TEST(FleetFailure, BrokerSurvivesGarbageFramesAndKeepsServing) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  zmq::context_t context;
  zmq::socket_t attacker(context, zmq::socket_type::dealer);
  attacker.set(zmq::sockopt::linger, 0);
  attacker.connect("tcp://127.0.0.1:" + std::to_string(fleet.stack().config().broker_port));
  std::mt19937 random(7);
  auto random_bytes = [&](size_t size) {
    std::string bytes(size, '\0');
    for (auto& byte : bytes) byte = static_cast<char>(random());
    return bytes;
  };
  for (int i = 0; i < 2000; ++i) {
    const int frames = static_cast<int>(random() % 4) + 1;
    for (int f = 0; f < frames; ++f) {
      std::string frame;
      switch (random() % 4) {
        case 0: frame = random_bytes(random() % 64); break;
        case 1: frame = protocol::encode_header(static_cast<protocol::MessageType>(random() % 9)); break;
        case 2: frame = protocol::encode_body(protocol::JobResult{random_bytes(32), 1, true, "{}", "", "", 0}); break;
        default: frame = protocol::encode_body(protocol::Submit{"short", "tts", "", 0, "", 0}); break;
      }
      attacker.send(zmq::buffer(frame), f + 1 < frames ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  // Well-formed messages the broker must refuse: a forged result and a Ready under someone else's name.
  attacker.send(zmq::buffer(protocol::encode_header(protocol::MessageType::kJobResult)), zmq::send_flags::sndmore);
  attacker.send(zmq::buffer(protocol::encode_body(protocol::JobResult{"0123456789abcdef0123456789abcdef", 1, true, "{}", "", "", 0})));
  protocol::Ready impostor;
  impostor.worker_id = "worker-1-" + std::to_string(fleet.stack().config().http_port);
  attacker.send(zmq::buffer(protocol::encode_header(protocol::MessageType::kReady)), zmq::send_flags::sndmore);
  attacker.send(zmq::buffer(protocol::encode_body(impostor)));

  ASSERT_TRUE(fleet.stack().broker().running()) << "the broker died";
  const std::string id = fleet.submit({{"model", "noop"}, {"input", {{"text", "still here"}}}});
  EXPECT_EQ(fleet.wait_job(id)["state"], "succeeded");
  EXPECT_TRUE(fleet.stack().broker().running());
}

TEST(FleetFailure, WithoutRedisHealthIsUnhealthyAndSubmissionsAre503) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  RedisClient redis(fleet.redis_endpoint());
  try {
    redis.command({"SHUTDOWN", "NOSAVE"});
  } catch (const RedisError&) {
    // Redis closes the connection instead of answering SHUTDOWN.
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  auto health = fleet.get("/health");
  EXPECT_EQ(health.status, 503);
  auto body = json::parse(health.body);
  EXPECT_EQ(body["status"], "unhealthy");
  EXPECT_EQ(body["fleet"]["redis"], "down");

  auto submitted = fleet.post("/v1/jobs", R"({"model":"noop","input":{"text":"x"}})");
  EXPECT_EQ(submitted.status, 503) << submitted.body;
  EXPECT_EQ(json::parse(submitted.body)["error"]["code"], "unavailable");
  EXPECT_EQ(submitted.headers["retry-after"], "1");
  EXPECT_TRUE(fleet.stack().gateway().running());
  EXPECT_TRUE(fleet.stack().broker().running());
}

}  // namespace
}  // namespace gpufleet::testing
