// Guards the fleet on Redis Cluster (#16): with a hash-tagged REDIS_PREFIX, every command the gateway and the
// broker send and every job-store script (which declares its keys and is held to their slot by its shebang)
// keeps to one slot, on a real redis-server in cluster mode, where a command or script that strays into a
// second slot is refused as on a cluster of many nodes. And the check can fail: under an untagged prefix the
// same scripts are refused.
#include <gtest/gtest.h>
#include <signal.h>

#include "common/pipeline.hpp"
#include "store/job_store.hpp"
#include "tests/support/fleet_fixture.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

class RedisClusterFleet : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FleetOptions options{2, "noop", 1, {}};
    options.redis_prefix = "{gpufleet}";
    options.redis_cluster = true;
    fleet_ = new Fleet(options);
  }
  static void TearDownTestSuite() {
    delete fleet_;
    fleet_ = nullptr;
  }

  // A client of the fleet's Redis under another prefix, for the scripts no job of a noop fleet runs.
  static std::unique_ptr<RedisClient> client(const std::string& prefix) {
    RedisEndpoint endpoint = fleet_->redis_endpoint();
    endpoint.prefix = prefix;
    auto redis = std::make_unique<RedisClient>(endpoint);
    redis->enable_job_store_scripts();
    return redis;
  }

  static json noop(const std::string& text, int sleep_ms = 0) {
    json input{{"text", text}};
    if (sleep_ms > 0) input["sleep_ms"] = sleep_ms;
    return {{"model", "noop"}, {"input", input}};
  }

  // Waits until the job is in `state`.
  static bool wait_state(const std::string& id, const std::string& state) {
    for (int i = 0; i < 250; ++i) {
      if (fleet_->wait_job(id, 0).value("state", "") == state) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static inline Fleet* fleet_ = nullptr;
};

TEST_F(RedisClusterFleet, EveryJobPathRunsOnAClusterNodeUnderAHashTaggedPrefix) {
  auto client_owner = client("{gpufleet}");
  RedisClient& redis = *client_owner;
  ASSERT_NE(redis.command({"CLUSTER", "INFO"}).str().find("cluster_state:ok"), std::string::npos);
  ASSERT_EQ(redis.command({"CONFIG", "RESETSTAT"}).str(), "OK");

  // Submit, dispatch, finish; the same job again under an idempotency key; a batch.
  const std::string first = fleet_->submit(noop("one"));
  EXPECT_EQ(fleet_->wait_job(first)["state"], "succeeded");
  const auto keyed = [] {
    auto answer =
        fleet_->request("POST", "/v1/jobs", noop("keyed").dump(), {{"Idempotency-Key", "cluster-1"}});
    EXPECT_EQ(answer.status, 202) << answer.body;
    return json::parse(answer.body, nullptr, false).value("id", "");
  };
  const std::string once = keyed();
  EXPECT_FALSE(once.empty());
  EXPECT_EQ(keyed(), once);
  auto batch = fleet_->post("/v1/jobs:batch", json{{"jobs", {noop("a"), noop("b"), noop("c")}}}.dump());
  ASSERT_EQ(batch.status, 200) << batch.body;
  for (const auto& item : json::parse(batch.body)["jobs"]) {
    EXPECT_EQ(fleet_->wait_job(item.value("id", ""))["state"], "succeeded") << item;
  }

  // Both workers busy: a third job waits and is cancelled in its queue; a running one is cancelled on its
  // worker; the other running one loses its worker and is finished by the one left.
  const std::string cancelled_running = fleet_->submit(noop("long", 3000));
  const std::string orphan = fleet_->submit(noop("long", 1500));
  ASSERT_TRUE(wait_state(cancelled_running, "running"));
  ASSERT_TRUE(wait_state(orphan, "running"));
  const std::string queued = fleet_->submit(noop("waits"));
  EXPECT_EQ(fleet_->request("DELETE", "/v1/jobs/" + queued).status, 200);
  EXPECT_EQ(fleet_->wait_job(queued)["state"], "cancelled");
  EXPECT_EQ(fleet_->request("DELETE", "/v1/jobs/" + cancelled_running).status, 202);
  EXPECT_EQ(fleet_->wait_job(cancelled_running)["state"], "cancelled");
  const std::string victim = fleet_->wait_job(orphan, 0).value("worker", "");
  fleet_->stack().worker(victim.rfind("worker-1", 0) == 0 ? 0 : 1).signal(SIGKILL);
  const auto recovered = fleet_->wait_job(orphan);
  EXPECT_EQ(recovered["state"], "succeeded") << recovered.dump();
  EXPECT_EQ(recovered["attempts"], 2);

  EXPECT_EQ(fleet_->get("/v1/models").status, 200);
  EXPECT_EQ(fleet_->get("/v1/workers").status, 200);

  // Not one command of the fleet's was refused for its slots (nor for anything else).
  const std::string errors = redis.command({"INFO", "errorstats"}).str();
  EXPECT_EQ(errors.find("CROSSSLOT"), std::string::npos) << errors;
  EXPECT_EQ(errors.find("errorstat_ERR"), std::string::npos) << errors;
  const std::string commands = redis.command({"INFO", "commandstats"}).str();
  EXPECT_NE(commands.find("cmdstat_evalsha"), std::string::npos) << commands;
}

// The scripts a noop fleet does not run (a pipeline's advance, progress, webhook deliveries), called as the
// broker and the gateway call them, under a tagged prefix of their own.
TEST_F(RedisClusterFleet, ThePipelineProgressAndWebhookScriptsKeepToTheirSlot) {
  auto client_owner = client("{cluster-store}");
  RedisClient& redis = *client_owner;
  const RedisKeys keys = redis.keys();
  job_store::NewJob job;
  job.id = new_job_id();
  job.kind = "tts";
  job.model = "espeak";
  job.input_json = R"({"text":"Hi"})";
  job.created_ms = 1'000'000;
  job.pipeline = pipeline_to_json({{"tts", "espeak", {{"text", "Hi"}}, {}},
                                   {"video", "portrait", {{"size", 256}}, {{"audio_path", "audio_path"}}}});
  job.stage_count = 2;
  job.webhook = "https://example.invalid/hook";
  auto submitted = redis.command(job_store::submit_command(keys, job));
  ASSERT_EQ(submitted.element_str(0), "created") << submitted.str();

  const auto dispatch = [&](uint32_t attempt) {
    auto command = job_store::batch_command(keys, job_store::Batch::kDispatch);
    for (auto& arg : job_store::dispatch_group(job.id, attempt, "w1", 2'000'000 + attempt, "{}")) {
      command.push_back(arg);
    }
    auto reply = redis.command(command);
    EXPECT_EQ(reply.element_integer(0), 1) << attempt << ": " << reply.str();
  };
  dispatch(1);
  EXPECT_EQ(redis.command(job_store::progress_command(keys, job.id, 1, 3, 10, "{}")).integer(), 1);

  job_store::Advance step;
  step.id = job.id;
  step.attempt = 1;
  step.worker = "w1";
  step.now_ms = 2'500'000;
  step.next_kind = "video";
  step.next_model = "portrait";
  step.next_input = R"({"size":256})";
  step.stage_result = R"({"audio_path":"/a.wav"})";
  step.queued_event = step.cancelled_event = "{}";
  auto advanced = redis.command(job_store::advance_command(keys, step));
  EXPECT_EQ(job_store::parse_advance_verdict(advanced.integer()), job_store::AdvanceVerdict::kAdvanced)
      << advanced.str();

  dispatch(2);
  auto requeued = redis.command(
      job_store::requeue_command(keys, job.id, 2, 2'700'000, "{}", "{}", 60, "worker_lost", "gone"));
  EXPECT_EQ(job_store::parse_requeue_verdict(requeued.integer()), job_store::RequeueVerdict::kRequeued)
      << requeued.str();
  dispatch(3);
  job_store::Completion completion;
  completion.id = job.id;
  completion.attempt = 3;
  completion.worker = "w1";
  completion.now_ms = 3'000'000;
  completion.event = "{}";
  completion.fields = {{"result", R"({"video_path":"/v.mp4"})"}};
  auto finish = job_store::batch_command(keys, job_store::Batch::kFinish);
  for (auto& arg : job_store::finish_group(completion)) finish.push_back(arg);
  EXPECT_EQ(redis.command(finish).element_integer(0), 1);

  auto scheduled = redis.command(job_store::webhook_schedule_command(keys, "1-1", job.id, 3'000'000));
  EXPECT_EQ(scheduled.integer(), 1) << scheduled.str();
  auto claimed = redis.command(job_store::webhook_claim_command(keys, 3'000'001, 3'010'000));
  ASSERT_EQ(claimed.element_str(0), job.id) << claimed.str();
  job_store::WebhookOutcome delivered;
  delivered.id = job.id;
  delivered.lease_until_ms = 3'010'000;
  delivered.now_ms = 3'000'002;
  delivered.attempts = 1;
  delivered.last_status = 200;
  EXPECT_EQ(redis.command(job_store::webhook_settle_command(keys, delivered)).integer(), 1);
  EXPECT_EQ(redis.command({"HGET", keys.job(job.id), "webhook_state"}).str(), "delivered");

  auto cancel = redis.command(job_store::cancel_command(keys, job.id, 3'100'000, 60));
  EXPECT_EQ(cancel.element_str(0), "final") << cancel.str();
}

TEST_F(RedisClusterFleet, WithoutAHashTagTheScriptsAreRefusedForTheirSlots) {
  // What the tagged prefix prevents: a store whose keys spread over slots. Refused, and nothing written.
  auto client_owner = client("untagged");
  RedisClient& redis = *client_owner;
  job_store::NewJob job;
  job.id = new_job_id();
  job.kind = "tts";
  job.model = "noop";
  job.input_json = R"({"text":"Hi"})";
  auto refused = redis.command(job_store::submit_command(redis.keys(), job));
  ASSERT_TRUE(refused.is_error()) << refused.str();
  EXPECT_EQ(refused.str().rfind("CROSSSLOT", 0), 0u) << refused.str();
  EXPECT_EQ(redis.command({"EXISTS", redis.keys().job(job.id)}).integer(), 0);
}

}  // namespace
}  // namespace gpufleet::testing
