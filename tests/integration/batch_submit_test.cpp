// Guards POST /v1/jobs:batch against the real gateway, Redis, broker and workers: each job of a batch is
// accepted or refused on its own, in the order sent; accepted jobs run to completion; an idempotency key
// per job makes a retried batch return the same jobs; a batch is refused whole only for its shape.
#include <gtest/gtest.h>

#include <csignal>
#include <set>

#include "tests/support/fleet_fixture.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

json noop(const std::string& text) {
  return {{"model", "noop"}, {"input", {{"text", text}}}};
}

TEST(BatchSubmit, EachJobIsAnsweredOnItsOwnAndAcceptedJobsRun) {
  Fleet fleet(FleetOptions{1, "noop", 4, {}});
  json keyed = noop("keyed");
  keyed["idempotency_key"] = "order-1";
  json conflicting = noop("other content");
  conflicting["idempotency_key"] = "order-1";
  const json jobs = json::array({noop("first"), json{{"model", "nope"}, {"input", {{"text", "x"}}}}, 42,
                                 keyed, keyed, conflicting, json{{"model", "noop"}}, noop("last")});
  auto answer = fleet.post("/v1/jobs:batch", json{{"jobs", jobs}}.dump());
  ASSERT_EQ(answer.status, 200) << answer.body;
  const auto body = json::parse(answer.body);
  ASSERT_EQ(body["jobs"].size(), jobs.size()) << body.dump();
  EXPECT_EQ(body["accepted"], 4);
  EXPECT_EQ(body["refused"], 4);
  const auto& items = body["jobs"];
  const std::vector<int> statuses{202, 404, 400, 202, 202, 422, 400, 202};
  for (size_t i = 0; i < statuses.size(); ++i)
    EXPECT_EQ(items[i]["status"], statuses[i]) << i << ": " << items[i];
  EXPECT_EQ(items[1]["error"]["code"], "unknown_model");
  EXPECT_EQ(items[5]["error"]["code"], "idempotency_conflict");
  EXPECT_EQ(items[6]["error"]["code"], "missing_field");
  // The second copy of the keyed job is the first one's, replayed.
  EXPECT_EQ(items[4]["id"], items[3]["id"]);
  EXPECT_EQ(items[4]["replayed"], true);
  EXPECT_FALSE(items[3].contains("replayed"));
  for (const size_t i : {0, 3, 7}) {
    const std::string id = items[i]["id"];
    EXPECT_EQ(items[i]["links"]["self"], "/v1/jobs/" + id);
    auto job = fleet.wait_job(id, 20);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
  }

  // The same batch again: the keyed jobs are the same, the others new.
  auto again = json::parse(fleet.post("/v1/jobs:batch", json{{"jobs", jobs}}.dump()).body);
  EXPECT_EQ(again["jobs"][3]["id"], items[3]["id"]);
  EXPECT_EQ(again["jobs"][3]["replayed"], true);
  EXPECT_NE(again["jobs"][0]["id"], items[0]["id"]);
  // A job sent alone with the key of a batch job is another request: the key is the batch job's.
  auto alone = fleet.request("POST", "/v1/jobs", noop("keyed").dump(), {{"Idempotency-Key", "order-1"}});
  EXPECT_EQ(alone.status, 422) << alone.body;
}

TEST(BatchSubmit, AWrongShapeRefusesTheWholeBatchAndAThousandJobsAllRun) {
  Fleet fleet(FleetOptions{2, "noop", 8, {}});
  auto code = [](const cli::HttpResult& response) {
    return json::parse(response.body)["error"]["code"].get<std::string>();
  };
  EXPECT_EQ(code(fleet.post("/v1/jobs:batch", "{not json")), "invalid_json");
  EXPECT_EQ(code(fleet.post("/v1/jobs:batch", R"({"jobs":[]})")), "invalid_request");
  auto with_header = fleet.request("POST", "/v1/jobs:batch", json{{"jobs", {noop("a")}}}.dump(),
                                   {{"Idempotency-Key", "whole-batch"}});
  EXPECT_EQ(with_header.status, 400) << with_header.body;
  EXPECT_EQ(fleet.request("GET", "/v1/jobs:batch", "").status, 405);

  json too_many = json::array();
  for (int i = 0; i < 1001; ++i) too_many.push_back(noop(std::to_string(i)));
  auto refused = fleet.post("/v1/jobs:batch", json{{"jobs", too_many}}.dump());
  EXPECT_EQ(refused.status, 400) << refused.body.substr(0, 200);

  too_many.erase(too_many.end() - 1);
  auto accepted = fleet.post("/v1/jobs:batch", json{{"jobs", too_many}}.dump());
  ASSERT_EQ(accepted.status, 200) << accepted.body.substr(0, 300);
  const auto body = json::parse(accepted.body);
  EXPECT_EQ(body["accepted"], 1000);
  std::set<std::string> ids;
  for (const auto& item : body["jobs"]) ids.insert(item["id"].get<std::string>());
  EXPECT_EQ(ids.size(), 1000u);
  for (const auto& id : ids) {
    auto job = fleet.wait_job(id, 60);
    ASSERT_EQ(job["state"], "succeeded") << job.dump();
  }
}

// Guards the answer each job of a batch gets when the batch is recorded in several script calls (64 jobs to
// a call): refused items between stored ones, and a queue that fills in the middle of a call, must not shift
// any answer onto another job.
TEST(BatchSubmit, AcrossScriptCallsEachJobKeepsItsOwnAnswer) {
  Fleet fleet(FleetOptions{1, "noop", 1, {{"MAX_QUEUED_PER_MODEL", "100"}}});
  fleet.stack().stop_broker(SIGTERM);  // nothing leaves the queue
  json jobs = json::array();
  for (int i = 0; i < 160; ++i)
    jobs.push_back(i % 9 == 4 ? json{{"model", "noop"}} : noop("job " + std::to_string(i)));
  auto answer = fleet.post("/v1/jobs:batch", json{{"jobs", jobs}}.dump());
  ASSERT_EQ(answer.status, 200) << answer.body.substr(0, 300);
  const auto items = json::parse(answer.body)["jobs"];
  ASSERT_EQ(items.size(), jobs.size());
  int stored = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto& item = items[i];
    if (!jobs[i].contains("input")) {
      EXPECT_EQ(item["status"], 400) << i << ": " << item;
      continue;
    }
    if (++stored <= 100) {
      ASSERT_EQ(item["status"], 202) << i << ": " << item;
      auto job = json::parse(fleet.get("/v1/jobs/" + item["id"].get<std::string>()).body);
      EXPECT_EQ(job["input"]["text"], jobs[i]["input"]["text"]) << "item " << i << " names another job";
    } else {
      EXPECT_EQ(item["status"], 429) << i << ": " << item;
      EXPECT_EQ(item["error"]["code"], "queue_full") << item;
    }
  }
  EXPECT_GT(stored, 128) << "the batch did not span three script calls";
}

}  // namespace
}  // namespace gpufleet::testing
