// Guards CurveZMQ between broker and workers with the real binaries: a worker whose key is listed joins and
// serves only the models its key allows; a worker with an unlisted key, and one without CURVE, never
// register; and a broker refuses to listen on plain TCP beyond loopback unless told to.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "cli/process.hpp"
#include "protocol/curve.hpp"
#include "store/redis_client.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(FleetSecurity, CurveAdmitsListedWorkerKeysForTheirModelsOnly) {
  TempDir dir;
  const auto broker = generate_curve_keypair();
  const auto worker = generate_curve_keypair();
  const auto intruder = generate_curve_keypair();
  {
    std::ofstream clients(dir.path() / "clients");
    clients << "# the workers this broker admits\nspeech " << worker.public_key << " espeak\n";
  }
  Fleet fleet(FleetOptions{1,
                           "espeak,noop",
                           1,
                           {{"BROKER_CURVE_SECRET_KEY", broker.secret_key},
                            {"BROKER_CURVE_CLIENTS_FILE", (dir.path() / "clients").string()},
                            {"BROKER_CURVE_PUBLIC_KEY", broker.public_key},
                            {"WORKER_CURVE_SECRET_KEY", worker.secret_key}}});
  const std::string id = fleet.submit({{"input", {{"text", "Encrypted all the way."}}}});
  EXPECT_EQ(fleet.wait_job(id, 30)["state"], "succeeded");
  auto workers = json::parse(fleet.get("/v1/workers").body)["workers"];
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["models"], json::array({"espeak"}));
  ASSERT_EQ(workers[0]["failed_models"].size(), 1u) << workers.dump();
  EXPECT_EQ(workers[0]["failed_models"][0]["name"], "noop");
  EXPECT_NE(workers[0]["failed_models"][0]["error"].get<std::string>().find("may not serve"),
            std::string::npos);
  auto refused = fleet.post("/v1/jobs", json{{"model", "noop"}, {"input", {{"text", "x"}}}}.dump());
  EXPECT_EQ(refused.status, 404) << "a model no admitted worker may serve was accepted: " << refused.body;

  // An unlisted key, and a worker without CURVE: neither registers, the fleet keeps serving.
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(fleet.stack().config().broker_port);
  std::map<std::string, std::string> base{{"BROKER_URL", endpoint},
                                          {"WORKER_MODELS", "espeak"},
                                          {"DEVICE", "cpu"},
                                          {"HEARTBEAT_MS", "100"},
                                          {"STORAGE_ROOT", fleet.storage().string()},
                                          {"BROKER_CURVE_PUBLIC_KEY", ""},
                                          {"WORKER_CURVE_SECRET_KEY", ""}};
  auto stranger_env = base;
  stranger_env["WORKER_ID"] = "stranger";
  stranger_env["BROKER_CURVE_PUBLIC_KEY"] = broker.public_key;
  stranger_env["WORKER_CURVE_SECRET_KEY"] = intruder.secret_key;
  auto plain_env = base;
  plain_env["WORKER_ID"] = "plain";
  auto stranger = cli::Process::spawn({bin_dir() + "/gpufleet-worker"}, stranger_env,
                                      (dir.path() / "stranger.log").string());
  auto plain =
      cli::Process::spawn({bin_dir() + "/gpufleet-worker"}, plain_env, (dir.path() / "plain.log").string());
  // The stranger's handshake is refused (the broker says so); give both time to start and try.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (read_text(fleet.stack().log_path("broker")).find("refused a CURVE connection") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(read_text(fleet.stack().log_path("broker")).find("refused a CURVE connection"),
            std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  workers = json::parse(fleet.get("/v1/workers").body)["workers"];
  EXPECT_EQ(workers.size(), 1u) << workers.dump();
  const std::string after = fleet.submit({{"input", {{"text", "Still serving."}}}});
  EXPECT_EQ(fleet.wait_job(after, 30)["state"], "succeeded");
  stranger.stop(std::chrono::milliseconds(2000));
  plain.stop(std::chrono::milliseconds(2000));
}

// Guards worker ids across a broker restart: the binding of an id to the key that registered it lived in the
// broker's memory, so after a restart any listed key could take over a known worker's id (and its jobs'
// results). Now the binding is in Redis; a key taken out of the clients file frees its ids.
TEST(FleetSecurity, AWorkerIdStaysWithItsKeyAcrossABrokerRestart) {
  TempDir dir;
  const auto broker = generate_curve_keypair();
  const auto worker = generate_curve_keypair();
  const auto other = generate_curve_keypair();
  {
    std::ofstream clients(dir.path() / "clients");
    clients << "speech " << worker.public_key << " espeak\nother " << other.public_key << " espeak\n";
  }
  Fleet fleet(FleetOptions{1,
                           "espeak",
                           1,
                           {{"BROKER_CURVE_SECRET_KEY", broker.secret_key},
                            {"BROKER_CURVE_CLIENTS_FILE", (dir.path() / "clients").string()},
                            {"BROKER_CURVE_PUBLIC_KEY", broker.public_key},
                            {"WORKER_CURVE_SECRET_KEY", worker.secret_key}}});
  auto workers = json::parse(fleet.get("/v1/workers").body)["workers"];
  ASSERT_EQ(workers.size(), 1u);
  const std::string id = workers[0]["id"];
  RedisClient redis(fleet.redis_endpoint());
  const auto bound = [&] { return redis.command({"HGET", fleet.keys().worker_keys(), id}).str(); };
  EXPECT_EQ(bound(), "speech");

  // The real worker goes, the broker restarts, and another listed key comes with the same id.
  fleet.stack().worker(0).stop(std::chrono::milliseconds(5000));
  fleet.stack().restart_broker(SIGKILL);
  std::map<std::string, std::string> env{
      {"BROKER_URL", "tcp://127.0.0.1:" + std::to_string(fleet.stack().config().broker_port)},
      {"WORKER_MODELS", "espeak"},
      {"DEVICE", "cpu"},
      {"HEARTBEAT_MS", "100"},
      {"STORAGE_ROOT", fleet.storage().string()},
      {"WORKER_ID", id},
      {"BROKER_CURVE_PUBLIC_KEY", broker.public_key},
      {"WORKER_CURVE_SECRET_KEY", other.secret_key}};
  auto impostor =
      cli::Process::spawn({bin_dir() + "/gpufleet-worker"}, env, (dir.path() / "impostor.log").string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (read_text(fleet.stack().log_path("broker")).find("from another key") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(read_text(fleet.stack().log_path("broker")).find("from another key"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  workers = json::parse(fleet.get("/v1/workers").body)["workers"];
  EXPECT_EQ(workers.size(), 0u) << workers.dump();
  EXPECT_EQ(bound(), "speech");
  impostor.stop(std::chrono::milliseconds(2000));
}

TEST(FleetSecurity, APlainBrokerListensBeyondLoopbackOnlyWhenTold) {
  TempDir dir;
  std::map<std::string, std::string> env{{"BROKER_HOST", "0.0.0.0"},
                                         {"BROKER_PORT", std::to_string(cli::free_port())},
                                         {"BROKER_METRICS_PORT", "0"},
                                         {"REDIS_PORT", std::to_string(cli::free_port())}};
  auto refused =
      cli::Process::spawn({bin_dir() + "/gpufleet-broker"}, env, (dir.path() / "refused.log").string());
  const auto status = refused.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status) << "a plain broker on 0.0.0.0 kept running";
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(read_text((dir.path() / "refused.log").string()).find("refusing plain TCP"), std::string::npos);

  env["BROKER_ALLOW_PLAINTEXT"] = "1";
  auto allowed =
      cli::Process::spawn({bin_dir() + "/gpufleet-broker"}, env, (dir.path() / "allowed.log").string());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(allowed.running()) << read_text((dir.path() / "allowed.log").string());
  allowed.stop(std::chrono::milliseconds(3000));
}

}  // namespace
}  // namespace gpufleet::testing
