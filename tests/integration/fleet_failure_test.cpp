// The fleet when parts fail: a worker killed in the middle of a job, garbage on the broker's socket, and
// Redis going away. Each test runs its own fleet so that a failure cannot leak into the next.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <random>
#include <zmq.hpp>

#include "cli/local_stack.hpp"
#include "cli/process.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "protocol/protocol.hpp"
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

  ASSERT_TRUE(events.wait_final(id, std::chrono::seconds(5)));
  std::vector<std::string> states;
  for (const auto& event : events.events_for(id)) states.push_back(event["state"]);
  ASSERT_EQ(states, (std::vector<std::string>{"queued", "running", "queued", "running", "succeeded"}));
  auto requeue = events.events_for(id)[2];
  EXPECT_EQ(requeue["error"]["code"], "worker_lost");

  auto health = json::parse(fleet.get("/health").body);
  EXPECT_EQ(health["fleet"]["workers"], 1);
}

TEST(FleetFailure, HealthIsUnhealthyWhenNoWorkerServesTts) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  fleet.stack().worker(0).signal(SIGKILL);
  json health;
  int status = 0;
  for (int i = 0; i < 100 && status != 503; ++i) {
    auto response = fleet.get("/health");
    status = response.status;
    health = json::parse(response.body, nullptr, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(status, 503) << health.dump();
  EXPECT_EQ(health["status"], "unhealthy");
  EXPECT_EQ(health["models"]["tts"], false);
  EXPECT_EQ(health["fleet"]["workers"], 0);
  EXPECT_EQ(health["fleet"]["redis"], "up");
  // The model stays known with no capacity: jobs for it are still accepted and wait in the queue.
  auto submitted = fleet.post("/v1/jobs", R"({"model":"noop","input":{"text":"waiting"}})");
  EXPECT_EQ(submitted.status, 202) << submitted.body;
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
        case 0:
          frame = random_bytes(random() % 64);
          break;
        case 1:
          frame = protocol::encode_header(static_cast<protocol::MessageType>(random() % 11));
          break;
        case 2:
          frame = protocol::encode_body(protocol::JobResult{random_bytes(32), 1, true, "{}", "", "", 0});
          break;
        default:
          frame = protocol::encode_body(protocol::Cancel{"short", 1, "cancelled"});
          break;
      }
      attacker.send(zmq::buffer(frame), f + 1 < frames ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  // Well-formed messages the broker must refuse: a forged result and a Ready under someone else's name.
  attacker.send(zmq::buffer(protocol::encode_header(protocol::MessageType::kJobResult)),
                zmq::send_flags::sndmore);
  attacker.send(zmq::buffer(protocol::encode_body(
      protocol::JobResult{"0123456789abcdef0123456789abcdef", 1, true, "{}", "", "", 0})));
  protocol::Ready impostor;
  impostor.worker_id = "worker-1-" + std::to_string(fleet.stack().config().http_port);
  attacker.send(zmq::buffer(protocol::encode_header(protocol::MessageType::kReady)),
                zmq::send_flags::sndmore);
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

TEST(FleetFailure, WorkersAndGatewayFindARestartedBroker) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  fleet.stack().restart_broker(SIGKILL);
  // The worker notices the silence, reconnects and registers again; the gateway's socket reconnects.
  bool healthy = false;
  for (int i = 0; i < 100 && !healthy; ++i) {
    healthy = fleet.get("/health").status == 200 &&
              json::parse(fleet.get("/v1/models").body)["models"][0].value("workers", 0) == 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(healthy) << fleet.get("/health").body;
  const std::string id = fleet.submit({{"model", "noop"}, {"input", {{"text", "after restart"}}}});
  EXPECT_EQ(fleet.wait_job(id, 10)["state"], "succeeded");
}

// Guards the registry's promise: a model that fails to load is reported with its error and not announced,
// and the worker serves the others under their configured names.
TEST(FleetModels, AModelThatFailsToLoadIsReportedAndTheRestAreServed) {
  TempDir dir;
  const std::string registry = write_model_registry(dir.path(), R"({"models":[
        {"name":"speech","backend":"espeak","warmup":true},
        {"name":"broken","backend":"noop","files":{"weights":"missing.pt"}}]})");
  Fleet fleet(FleetOptions{1, "noop", 1, {{"WORKER_CONFIG", registry}}});
  auto models = json::parse(fleet.get("/v1/models").body)["models"];
  ASSERT_EQ(models.size(), 1u) << models.dump();
  EXPECT_EQ(models[0]["name"], "speech");
  auto failed = json::parse(fleet.get("/health").body)["fleet"]["failed_models"];
  ASSERT_EQ(failed.size(), 1u) << failed.dump();
  EXPECT_EQ(failed[0]["name"], "broken");
  EXPECT_NE(failed[0]["error"].get<std::string>().find("missing.pt"), std::string::npos);
  EXPECT_EQ(fleet.post("/v1/jobs", R"({"model":"broken","input":{"text":"x"}})").status, 404);
  const std::string id = fleet.submit({{"model", "speech"}, {"input", {{"text", "Configured by name."}}}});
  auto job = fleet.wait_job(id);
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_GT(job["result"]["duration_s"].get<double>(), 0.5);
}

// Guards the worker of a build without LibTorch (GPUFLEET_TORCH=OFF, the quick start's) or with a plugin that
// does not load: it serves what needs no LibTorch on the CPU, and a model that needs it is reported as failed
// with the reason, not left unexplained.
TEST(FleetModels, AWorkerWithoutTheLibTorchPluginServesTheRestOnTheCpu) {
  TempDir dir;
  std::ofstream(dir.path() / "config.json") << "{}";
  const std::string registry = write_model_registry(dir.path(), R"({"models":[
        {"name":"speech","backend":"espeak"},
        {"name":"clone","backend":"xtts","files":{"config":"config.json"},"warmup":false}]})");
  Fleet fleet(FleetOptions{
      1,
      "noop",
      1,
      {{"WORKER_CONFIG", registry}, {"GPUFLEET_TORCH_PLUGIN", "/nonexistent/libgpufleet_torch.so"}}});
  auto health = json::parse(fleet.get("/health").body);
  EXPECT_EQ(health["device"], "cpu") << health.dump();
  auto failed = health["fleet"]["failed_models"];
  ASSERT_EQ(failed.size(), 1u) << failed.dump();
  EXPECT_EQ(failed[0]["name"], "clone");
  const std::string error = failed[0]["error"].get<std::string>();
  EXPECT_NE(error.find("needs the worker's LibTorch plugin"), std::string::npos) << error;
  EXPECT_NE(error.find("cannot load the LibTorch plugin"), std::string::npos)
      << "the reason is given: " << error;
  const std::string id = fleet.submit({{"model", "speech"}, {"input", {{"text", "No LibTorch needed."}}}});
  EXPECT_EQ(fleet.wait_job(id)["state"], "succeeded");
}

// A worker told to use a GPU must not quietly run on the CPU because its plugin is missing.
TEST(FleetModels, AWorkerAskedForAGpuWithoutThePluginRefusesToStart) {
  TempDir dir;
  auto worker = cli::Process::spawn({bin_dir() + "/gpufleet-worker"},
                                    {{"DEVICE", "cuda"},
                                     {"GPUFLEET_TORCH_PLUGIN", "/nonexistent/libgpufleet_torch.so"},
                                     {"BROKER_URL", "tcp://127.0.0.1:1"},
                                     {"STORAGE_ROOT", (dir.path() / "storage").string()}},
                                    (dir.path() / "worker.log").string());
  const auto status = worker.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "the worker kept running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << *status;
  std::ifstream log(dir.path() / "worker.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("DEVICE=cuda needs the LibTorch plugin"), std::string::npos) << text;
}

TEST(FleetCommand, UpStartsTheStackAndSigtermStopsAllOfIt) {
  TempDir dir;
  const uint16_t http_port = cli::free_port();
  const uint16_t redis_port = cli::free_port();
  const uint16_t broker_port = cli::free_port();
  auto up = cli::Process::spawn({bin_dir() + "/gpufleet", "up"},
                                {{"HOST", "127.0.0.1"},
                                 {"PORT", std::to_string(http_port)},
                                 {"REDIS_PORT", std::to_string(redis_port)},
                                 {"BROKER_PORT", std::to_string(broker_port)},
                                 {"STATE_DIR", (dir.path() / "state").string()},
                                 {"STORAGE_ROOT", (dir.path() / "storage").string()},
                                 {"WORKER_MODELS", "espeak"}},
                                (dir.path() / "up.log").string());
  bool healthy = false;
  for (int i = 0; i < 300 && !healthy; ++i) {
    healthy = cli::http_request("GET", "127.0.0.1", http_port, "/health").status == 200;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(healthy);
  auto spoken =
      cli::http_request("POST", "127.0.0.1", http_port, "/tts/generate", R"({"text":"up and running"})");
  EXPECT_EQ(spoken.status, 200) << spoken.body;

  up.signal(SIGTERM);
  auto status = up.wait(std::chrono::seconds(30));
  ASSERT_TRUE(status) << "gpufleet up did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  // Every part is gone: nothing answers on the gateway's or Redis' port any more.
  EXPECT_EQ(
      cli::http_request("GET", "127.0.0.1", http_port, "/health", "", "", std::chrono::milliseconds(500))
          .status,
      0);
  RedisEndpoint redis;
  redis.port = redis_port;
  EXPECT_THROW(RedisClient(redis).command({"PING"}), RedisError);
  // Redis kept its data in an append-only file under STATE_DIR.
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "state" / "redis" / "appendonlydir"));
}

TEST(FleetCommand, UpRefusesToStartASecondRedisOnABusyPort) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});  // its Redis holds the port
  TempDir dir;
  auto up = cli::Process::spawn({bin_dir() + "/gpufleet", "up"},
                                {{"PORT", std::to_string(cli::free_port())},
                                 {"BROKER_PORT", std::to_string(cli::free_port())},
                                 {"REDIS_PORT", std::to_string(fleet.stack().config().redis_port)},
                                 {"STATE_DIR", (dir.path() / "state").string()}},
                                (dir.path() / "up.log").string());
  auto status = up.wait(std::chrono::seconds(20));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  auto log = read_file(dir.path() / "up.log", 1 << 20);
  ASSERT_TRUE(log);
  EXPECT_NE(log->find("already answers on port"), std::string::npos) << *log;
  EXPECT_NE(log->find("REDIS_URL="), std::string::npos);
}

}  // namespace
}  // namespace gpufleet::testing

namespace gpufleet::testing {
namespace {

// Guards the one-worker-per-GPU launch: GPUS lists indexes, each becomes a pinned worker's DEVICE, and a
// malformed list is refused before anything starts.
TEST(FleetCommand, GpusPinOneWorkerPerListedGpu) {
  EXPECT_EQ(cli::gpu_devices("0,1,3"), (std::vector<std::string>{"cuda:0", "cuda:1", "cuda:3"}));
  EXPECT_EQ(cli::gpu_devices("2"), std::vector<std::string>{"cuda:2"});
  for (const char* bad : {"", "0,,1", "a", "1,1", "-1", "0, 1", "64"}) {
    EXPECT_THROW(cli::gpu_devices(bad), ConfigError) << bad;
  }
}

}  // namespace
}  // namespace gpufleet::testing
