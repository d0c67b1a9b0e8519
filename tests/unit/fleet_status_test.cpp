// Guards what /health, /v1/models and /v1/workers say about the fleet, from the broker's records alone: when
// the fleet counts as healthy (the original service's callers poll it), how GPUs and devices are counted, and
// that a malformed record (a worker's JSON, a failed-model entry that is no object, a depth that is no
// number) is passed over instead of failing the whole answer.
#include "gateway/fleet_status.hpp"

#include <gtest/gtest.h>

namespace gpufleet::gateway {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1'800'000'000'000;

Catalog catalog_with(std::vector<CatalogModel> models) {
  Catalog catalog;
  for (auto& model : models) catalog.add(std::move(model));
  return catalog;
}

CatalogModel served(std::string name, std::string kind, uint32_t workers,
                    std::vector<std::string> modes = {}) {
  CatalogModel model;
  model.name = std::move(name);
  model.kind = std::move(kind);
  model.workers = workers;
  model.modes = std::move(modes);
  return model;
}

FleetRecords up_fleet() {
  FleetRecords records;
  records.broker = {{"alive_ms", std::to_string(kNow - 500)}, {"heartbeat_ms", "1000"}};
  records.workers = {
      {"w1", json{{"id", "w1"}, {"device", "cuda"}, {"host", "gpu-a"}, {"device_name", "cuda:0"}}.dump()},
      {"w2", json{{"id", "w2"}, {"device", "cuda"}, {"host", "gpu-a"}, {"device_name", "cuda:0"}}.dump()},
      {"w3", json{{"id", "w3"}, {"device", "cuda"}, {"host", "gpu-b"}, {"device_name", "cuda:0"}}.dump()},
      {"w4", json{{"id", "w4"}, {"device", "cpu"}, {"host", "laptop"}}.dump()}};
  records.queues = {{"espeak", "3"}, {"xtts", "4"}};
  return records;
}

TEST(FleetStatus, HealthyWithRedisABrokerThatBeatsAndATtsWorker) {
  const auto catalog = catalog_with({served("espeak", "tts", 1), served("portrait", "video", 1)});
  const auto report = health_report(up_fleet(), catalog, kNow);
  EXPECT_TRUE(report.healthy);
  EXPECT_EQ(report.status_code(), 200u);
  EXPECT_EQ(report.body["status"], "healthy");
  EXPECT_EQ(report.body["device"], "cuda");
  EXPECT_EQ(report.body["capabilities"]["cuda"], true);
  EXPECT_EQ(report.body["capabilities"]["mps"], false);
  EXPECT_EQ(report.body["models"], (json{{"tts", true}, {"video", true}, {"lipsync", true}}));
  const auto& fleet = report.body["fleet"];
  EXPECT_EQ(fleet["broker"], "up");
  EXPECT_EQ(fleet["redis"], "up");
  EXPECT_EQ(fleet["workers"], 4);
  EXPECT_EQ(fleet["workers_by_device"], (json{{"cuda", 3}, {"cpu", 1}}));
  EXPECT_EQ(fleet["gpus"], (json{{"cuda", 2}}));  // two workers share gpu-a's cuda:0
  EXPECT_EQ(fleet["queue_depth"], 7);
  EXPECT_EQ(fleet["queues"], (json{{"espeak", 3}, {"xtts", 4}}));
}

// A fleet without a TTS worker cannot do what the original service did: unhealthy, though everything runs.
TEST(FleetStatus, UnhealthyWithoutATtsWorkerOrWithASilentBroker) {
  auto records = up_fleet();
  const auto no_tts =
      catalog_with({served("espeak", "tts", 0), served("portrait", "video", 2, {"talking_head"})});
  auto report = health_report(records, no_tts, kNow);
  EXPECT_FALSE(report.healthy);
  EXPECT_EQ(report.status_code(), 503u);
  EXPECT_EQ(report.body["models"], (json{{"tts", false}, {"video", true}, {"lipsync", false}}));

  const auto catalog = catalog_with({served("espeak", "tts", 1)});
  records.broker = {{"alive_ms", std::to_string(kNow - 4001)}, {"heartbeat_ms", "1000"}};
  report = health_report(records, catalog, kNow);
  EXPECT_FALSE(report.healthy);
  EXPECT_EQ(report.body["fleet"]["broker"], "down");
  records.broker.clear();
  EXPECT_EQ(health_report(records, catalog, kNow).body["fleet"]["broker"], "unknown");
}

TEST(FleetStatus, BrokerStateFollowsItsHeartbeat) {
  EXPECT_EQ(broker_state({}, kNow), BrokerState::kUnknown);
  EXPECT_EQ(broker_state({{"alive_ms", "0"}}, kNow), BrokerState::kUnknown);
  EXPECT_EQ(broker_state({{"alive_ms", std::to_string(kNow - 4000)}}, kNow), BrokerState::kUp);
  EXPECT_EQ(broker_state({{"alive_ms", std::to_string(kNow - 4001)}}, kNow), BrokerState::kDown);
  // A slower heartbeat allows a longer silence.
  EXPECT_EQ(broker_state({{"alive_ms", std::to_string(kNow - 9000)}, {"heartbeat_ms", "3000"}}, kNow),
            BrokerState::kUp);
  EXPECT_EQ(broker_state({{"alive_ms", "garbage"}}, kNow), BrokerState::kUnknown);
}

TEST(FleetStatus, RedisDownIsUnavailableWithItsReason) {
  FleetRecords records;
  records.redis_ok = false;
  records.redis_failure = "connection refused";
  const auto report = health_report(records, catalog_with({served("espeak", "tts", 1)}), kNow);
  EXPECT_FALSE(report.healthy);
  EXPECT_EQ(report.body["fleet"]["redis"], "down");
  EXPECT_EQ(report.body["device"], "none");
  EXPECT_EQ(report.body["models"]["tts"], false);  // the catalog may be stale: nothing is claimed
  EXPECT_EQ(report.body["error"], (json{{"code", "unavailable"}, {"message", "connection refused"}}));
}

// Guards /health against a record it cannot use: it answered 500 for a worker whose failed_models held a
// number (nlohmann's value() throws on a non-object), and showed the worker's file paths to anyone.
TEST(FleetStatus, MalformedRecordsArePassedOverAndPathsRedacted) {
  auto records = up_fleet();
  records.workers.push_back({"bad", "{not json"});
  records.workers.push_back({"list", "[1,2]"});
  records.workers.push_back(
      {"w5", json{{"id", "w5"},
                  {"device", "cpu"},
                  {"failed_models", json::array({1, "x",
                                                 json{{"name", "xtts"},
                                                      {"error", "cannot open /srv/models/xtts/model.pth"}}})}}
                 .dump()});
  // Fields of the wrong type threw out of value() too: such a record is no worker.
  records.workers.push_back({"typed", json{{"id", "w6"}, {"device", 5}, {"host", json::array()}}.dump()});
  records.queues.push_back({"portrait", "many"});
  const auto report = health_report(records, catalog_with({served("espeak", "tts", 1)}), kNow);
  const auto& fleet = report.body["fleet"];
  EXPECT_EQ(fleet["workers"], 5);
  EXPECT_EQ(fleet["queues"]["portrait"], 0);
  ASSERT_EQ(fleet["failed_models"].size(), 1u);
  EXPECT_EQ(fleet["failed_models"][0]["worker"], "w5");
  EXPECT_EQ(fleet["failed_models"][0]["name"], "xtts");
  const std::string error = fleet["failed_models"][0]["error"];
  EXPECT_EQ(error.find("/srv/models"), std::string::npos) << error;
}

TEST(FleetStatus, ModelsListMarksTheDefaultOfEachKind) {
  const auto listing = models_listing(
      catalog_with({served("espeak", "tts", 1), served("xtts", "tts", 2), served("portrait", "video", 1)}),
      "xtts", "portrait");
  ASSERT_EQ(listing["models"].size(), 3u);
  for (const auto& model : listing["models"]) {
    EXPECT_EQ(model["default"], model["name"] != "espeak") << model["name"];
  }
}

TEST(FleetStatus, QueuesShowDepthAndTheOldestJobsAge) {
  const auto summary = queues_summary({{"espeak", 2, static_cast<double>(kNow - 1500)},
                                       {"xtts", 0, std::nullopt},
                                       {"future", 1, kNow + 10.0}},
                                      kNow);
  EXPECT_EQ(summary["espeak"], (json{{"depth", 2}, {"oldest_age_s", 1.5}}));
  EXPECT_EQ(summary["xtts"], (json{{"depth", 0}, {"oldest_age_s", 0.0}}));
  EXPECT_EQ(summary["future"]["oldest_age_s"], 0.0);  // a clock ahead of ours is no negative age
}

}  // namespace
}  // namespace gpufleet::gateway
