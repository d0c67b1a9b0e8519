// The guarantees of docs/reliability.md, each against a real fleet: accepted jobs survive a broker killed
// with SIGKILL and a Redis restart; a hung model loses its lease and its late result is refused;
// cancellation, deadlines, priorities, the queue bound and idempotency keys behave as documented;
// out-of-memory is retried on another worker. Each test says which failure it guards.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>

#include "common/clock.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

// Counts the final-state events per job: more than one is a job completed twice.
std::map<std::string, int> finals_by_job(EventRecorder& events, const std::vector<std::string>& ids) {
  std::map<std::string, int> finals;
  for (const auto& id : ids) {
    for (const auto& event : events.events_for(id)) {
      const std::string state = event.value("state", "");
      if (state == "succeeded" || state == "failed" || state == "cancelled" || state == "expired")
        ++finals[id];
    }
  }
  return finals;
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// Submits a `noop` job that sleeps `sleep_ms` and waits until it runs: it keeps a one-slot worker busy.
std::string start_blocker(Fleet& fleet, int sleep_ms) {
  const std::string id =
      fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", sleep_ms}}}});
  EXPECT_TRUE(
      wait_for([&] { return fleet.wait_job(id, 0)["state"] == "running"; }, std::chrono::seconds(10)));
  return id;
}

// Guards against losing queued jobs when the broker dies: the queue lives in Redis, not in the broker.
TEST(Reliability, ABrokerKilledWithQueuedJobsRebuildsItsQueuesAndEveryJobCompletesOnce) {
  Fleet fleet(FleetOptions{1, "noop", 2, {}});
  EventRecorder events(fleet.redis_endpoint(), fleet.keys().job_events());
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back(fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", 30}}}}));
  }
  fleet.stack().stop_broker(SIGKILL);
  // Accepted while no broker runs at all: Redis has them, that is what 202 promises.
  for (int i = 0; i < 20; ++i) ids.push_back(fleet.submit({{"model", "noop"}, {"input", {{"text", "y"}}}}));
  fleet.stack().start_broker();
  for (const auto& id : ids) {
    auto job = fleet.wait_job(id, 30);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
  }
  auto finals = finals_by_job(events, ids);
  for (const auto& id : ids) EXPECT_EQ(finals[id], 1) << "job " << id << " ended " << finals[id] << " times";
}

// Guards against jobs lost or run twice across a Redis restart (AOF on): every component reconnects.
TEST(Reliability, ARedisRestartLosesNoJobAndEveryComponentReconnects) {
  Fleet fleet(FleetOptions{2, "noop", 2, {}});
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    ids.push_back(fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", 50}}}}));
  }
  ASSERT_TRUE(fleet.stack().restart_redis(std::chrono::milliseconds(300)));
  // The gateway answers again once Redis is back, and new work flows.
  ASSERT_TRUE(wait_for(
      [&] { return fleet.post("/v1/jobs", R"({"model":"noop","input":{"text":"z"}})").status == 202; },
      std::chrono::seconds(20)));
  for (const auto& id : ids) {
    auto job = fleet.wait_job(id, 30);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
  }
}

// Guards the visibility-timeout failure of other queues: a hung model call loses its lease (heartbeats
// alone would keep it forever), the job is retried, and after MAX_ATTEMPTS it fails instead of looping.
// The hung worker's late result is refused: one final state, no second completion.
TEST(Reliability, AHungModelLosesItsLeaseAndTheLateResultIsRefused) {
  Fleet fleet(FleetOptions{2, "noop", 1, {{"LEASE_MS", "300"}, {"MAX_ATTEMPTS", "2"}}});
  EventRecorder events(fleet.redis_endpoint(), fleet.keys().job_events());
  const std::string id = fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"hang_ms", 1500}}}});
  auto job = fleet.wait_job(id, 30);
  EXPECT_EQ(job["state"], "failed") << job.dump();
  EXPECT_EQ(job["error"]["code"], "lease_expired");
  EXPECT_EQ(job["attempts"], 2);
  // The record is written and the event published in one script, but the subscriber reads it a moment later.
  EXPECT_TRUE(events.wait_final(id, std::chrono::seconds(5)));
  std::vector<std::string> states;
  for (const auto& event : events.events_for(id)) states.push_back(event["state"]);
  EXPECT_EQ(states, (std::vector<std::string>{"queued", "running", "queued", "running", "failed"}));
  EXPECT_NE(events.events_for(id)[1]["worker"], events.events_for(id)[3]["worker"]);
  // Both hung calls end and report; both reports are refused and the record stays as it was.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(finals_by_job(events, {id})[id], 1);
  EXPECT_EQ(fleet.wait_job(id, 0)["error"]["code"], "lease_expired");
  // The workers stayed up and their slots are free again.
  const std::string next = fleet.submit({{"model", "noop"}, {"input", {{"text", "after"}}}});
  EXPECT_EQ(fleet.wait_job(next, 10)["state"], "succeeded");
}

// Guards cancellation that only works on one host: a running job is stopped on its worker via the broker.
TEST(Reliability, CancellationEndsQueuedJobsAtOnceAndStopsRunningOnes) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  const std::string running = start_blocker(fleet, 20000);
  const std::string queued = fleet.submit({{"model", "noop"}, {"input", {{"text", "y"}}}});

  auto cancel_queued = fleet.request("DELETE", "/v1/jobs/" + queued);
  EXPECT_EQ(cancel_queued.status, 200) << cancel_queued.body;
  EXPECT_EQ(fleet.wait_job(queued, 0)["state"], "cancelled");

  const auto started = std::chrono::steady_clock::now();
  auto cancel_running = fleet.request("DELETE", "/v1/jobs/" + running);
  EXPECT_EQ(cancel_running.status, 202) << cancel_running.body;
  EXPECT_EQ(json::parse(cancel_running.body)["cancel_requested"], true);
  auto job = fleet.wait_job(running, 10);
  EXPECT_EQ(job["state"], "cancelled") << job.dump();
  EXPECT_EQ(job["error"]["code"], "cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));

  auto again = fleet.request("DELETE", "/v1/jobs/" + running);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(json::parse(again.body)["error"]["code"], "already_final");
  EXPECT_EQ(fleet.request("DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef").status, 404);
  // The worker's slot is free: the next job runs.
  const std::string next = fleet.submit({{"model", "noop"}, {"input", {{"text", "z"}}}});
  EXPECT_EQ(fleet.wait_job(next, 10)["state"], "succeeded");
}

// Guards deadlines and priorities: expiry in the queue and at run time end in `expired`; higher priority
// runs first, FIFO within a level.
TEST(Reliability, DeadlinesExpireJobsAndPrioritiesOrderTheQueue) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  start_blocker(fleet, 800);
  const std::string doomed =
      fleet.submit({{"model", "noop"}, {"timeout_s", 0.2}, {"input", {{"text", "late"}}}});
  const std::string low1 = fleet.submit({{"model", "noop"}, {"input", {{"text", "low1"}}}});
  const std::string low2 = fleet.submit({{"model", "noop"}, {"input", {{"text", "low2"}}}});
  const std::string high = fleet.submit({{"model", "noop"}, {"priority", 10}, {"input", {{"text", "high"}}}});

  auto expired = fleet.wait_job(doomed, 10);
  EXPECT_EQ(expired["state"], "expired") << expired.dump();
  EXPECT_EQ(expired["error"]["code"], "deadline_exceeded");
  EXPECT_EQ(expired["attempts"], 0);

  auto started = [&](const std::string& id) {
    return fleet.wait_job(id, 10)["started_at_ms"].get<int64_t>();
  };
  EXPECT_LE(started(high), started(low1));
  EXPECT_LE(started(low1), started(low2));

  auto overrun = fleet.wait_job(
      fleet.submit({{"model", "noop"}, {"timeout_s", 0.3}, {"input", {{"text", "x"}, {"sleep_ms", 10000}}}}),
      10);
  EXPECT_EQ(overrun["state"], "expired") << overrun.dump();
  EXPECT_EQ(overrun["attempts"], 1);
  auto bad = fleet.post("/v1/jobs", R"({"model":"noop","timeout_s":-1,"input":{"text":"x"}})");
  EXPECT_EQ(bad.status, 400);
}

// Guards the graceful drain: SIGTERM lets a worker finish what it runs (same attempt, no requeue), it takes
// nothing new meanwhile, and it leaves once its results are acknowledged.
TEST(Reliability, ASigtermedWorkerFinishesItsJobTakesNothingNewAndLeaves) {
  Fleet fleet(FleetOptions{1, "noop", 2, {}});
  const std::string running = start_blocker(fleet, 1500);
  fleet.stack().worker(0).signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // its draining heartbeat reaches the broker
  const std::string later = fleet.submit({{"model", "noop"}, {"input", {{"text", "later"}}}});
  auto job = fleet.wait_job(running, 10);
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["attempts"], 1);
  EXPECT_TRUE(fleet.stack().worker(0).wait(std::chrono::seconds(5))) << "the drained worker did not exit";
  EXPECT_EQ(fleet.wait_job(later, 0)["state"], "queued");  // the draining worker had a free slot, unused
  fleet.stack().add_worker();
  EXPECT_EQ(fleet.wait_job(later, 10)["state"], "succeeded");
}

// Guards the drain's edge, which CI once hit: a job recorded as dispatched but still unread by its worker
// when SIGTERM arrives must be run by the draining worker (one attempt), not dropped and left for a lease to
// find. The worker is frozen (SIGSTOP) while the job is dispatched to it, so the job is always unread at the
// signal.
TEST(Reliability, AJobOnTheWireWhenAWorkerIsSigtermedIsRunOnce) {
  // Liveness 20 beats: the frozen worker is not declared lost while the test waits for the dispatch.
  Fleet fleet(FleetOptions{1, "noop", 2, {{"HEARTBEAT_LIVENESS", "20"}}});
  for (size_t round = 0; round < 3; ++round) {
    auto& worker = fleet.stack().worker(round);
    worker.signal(SIGSTOP);
    const std::string id =
        fleet.submit({{"model", "noop"}, {"input", {{"text", "edge"}, {"sleep_ms", 100}}}});
    ASSERT_TRUE(
        wait_for([&] { return fleet.wait_job(id, 0)["state"] == "running"; }, std::chrono::seconds(5)));
    worker.signal(SIGTERM);
    worker.signal(SIGCONT);
    auto job = fleet.wait_job(id, 10);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
    EXPECT_EQ(job["attempts"], 1) << job.dump();
    EXPECT_TRUE(worker.wait(std::chrono::seconds(5))) << "the drained worker did not exit";
    fleet.stack().add_worker();
    ASSERT_TRUE(fleet.wait_workers(1)) << "the next worker did not register";
  }
}

// Guards leases under batching, where a job can be alive without progress of its own: one waiting in its
// worker's queue behind a running job, and one waiting for its turn in a batch that a model runs job after
// job (noop's). A lease is lost after about two lease periods without renewal, so 2 s waits against a
// 600 ms lease take both back unless waiting counts as alive.
TEST(Reliability, JobsWaitingInAWorkerOrInABatchKeepTheirLeases) {
  TempDir dir;
  const std::string registry = write_model_registry(
      dir.path(), R"({"models":[{"name":"noop","backend":"noop","max_batch":2,"max_queue_delay_ms":100}]})");
  Fleet fleet(FleetOptions{1, "noop", 1, {{"WORKER_CONFIG", registry}, {"LEASE_MS", "600"}}});
  auto slow = [](int sleep_ms) {
    return json{{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", sleep_ms}}}};
  };
  // The worker holds slots x max_batch = 2 jobs: the second arrives while the first runs, and waits there.
  const std::string running = fleet.submit(slow(2000));
  ASSERT_TRUE(
      wait_for([&] { return fleet.wait_job(running, 0)["state"] == "running"; }, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the queue delay: its batch has started
  const std::string queued_in_worker = fleet.submit(slow(100));
  // Two that arrive together form one batch; noop runs them one after the other.
  const std::string batch_first = fleet.submit(slow(2000));
  const std::string batch_second = fleet.submit(slow(100));
  for (const auto& id : {running, queued_in_worker, batch_first, batch_second}) {
    auto job = fleet.wait_job(id, 30);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
    EXPECT_EQ(job["attempts"], 1) << "lost its lease while alive: " << job.dump();
  }
}

// Guards memory under overload: past the per-model bound the gateway answers 429 with Retry-After.
TEST(Reliability, AFullQueueAnswers429WithRetryAfter) {
  Fleet fleet(FleetOptions{1, "noop", 1, {{"MAX_QUEUED_PER_MODEL", "2"}}});
  start_blocker(fleet, 3000);
  fleet.submit({{"model", "noop"}, {"input", {{"text", "1"}}}});
  fleet.submit({{"model", "noop"}, {"input", {{"text", "2"}}}});
  auto refused = fleet.post("/v1/jobs", R"({"model":"noop","input":{"text":"3"}})");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "queue_full");
  EXPECT_EQ(refused.headers["retry-after"], "1");
  EXPECT_EQ(fleet.request("POST", "/tts/generate", R"({"text":"sync too","model":"noop"})").status, 429);
}

// Guards duplicate work from client retries: the same Idempotency-Key and body give the same job.
TEST(Reliability, AnIdempotencyKeyReturnsTheSameJobForARepeatedRequest) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  const std::string body = R"({"model":"noop","input":{"text":"once"}})";
  auto first = fleet.request("POST", "/v1/jobs", body, {{"Idempotency-Key", "order-42"}});
  auto second = fleet.request("POST", "/v1/jobs", body, {{"Idempotency-Key", "order-42"}});
  ASSERT_EQ(first.status, 202) << first.body;
  ASSERT_EQ(second.status, 202) << second.body;
  EXPECT_EQ(json::parse(first.body)["id"], json::parse(second.body)["id"]);
  EXPECT_EQ(second.headers["idempotent-replayed"], "true");
  auto other = fleet.request("POST", "/v1/jobs", R"({"model":"noop","input":{"text":"twice"}})",
                             {{"Idempotency-Key", "order-42"}});
  EXPECT_EQ(other.status, 422);
  EXPECT_EQ(json::parse(other.body)["error"]["code"], "idempotency_conflict");
  EXPECT_EQ(fleet.request("POST", "/v1/jobs", body, {{"Idempotency-Key", std::string(300, 'k')}}).status,
            400);
  auto fresh = fleet.request("POST", "/v1/jobs", body, {{"Idempotency-Key", "order-43"}});
  EXPECT_NE(json::parse(fresh.body)["id"], json::parse(first.body)["id"]);
}

// Guards the out-of-memory path: the job is retried on another worker, and fails with its own code once
// MAX_ATTEMPTS is spent; the workers stay up.
TEST(Reliability, OutOfMemoryIsRetriedOnAnotherWorkerThenFailsWithItsCode) {
  Fleet fleet(FleetOptions{2, "noop", 1, {{"MAX_ATTEMPTS", "2"}}});
  EventRecorder events(fleet.redis_endpoint(), fleet.keys().job_events());
  const std::string id =
      fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"fail", "out_of_memory"}}}});
  auto job = fleet.wait_job(id, 20);
  EXPECT_EQ(job["state"], "failed") << job.dump();
  EXPECT_EQ(job["error"]["code"], "out_of_memory");
  EXPECT_EQ(job["attempts"], 2);
  EXPECT_TRUE(events.wait_final(id, std::chrono::seconds(5)));
  std::set<std::string> workers;
  for (const auto& event : events.events_for(id)) {
    if (event["state"] == "running") workers.insert(event["worker"].get<std::string>());
  }
  EXPECT_EQ(workers.size(), 2u) << "the retry ran on the same worker";
  EXPECT_FALSE(fleet.stack().exited_component());
}

// Guards the poison pill: a job that killed every worker it ran on was retried until MAX_ATTEMPTS workers had
// died. Now it fails as `poison` after POISON_AFTER losses and the remaining worker never gets it.
TEST(Reliability, AJobThatKillsItsWorkersFailsAsPoisonAfterTwoLosses) {
  Fleet fleet(FleetOptions{3, "noop", 1, {{"MAX_ATTEMPTS", "5"}, {"POISON_AFTER", "2"}}});
  const std::string id = fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"crash", true}}}});
  auto job = fleet.wait_job(id, 20);
  EXPECT_EQ(job["state"], "failed") << job.dump();
  EXPECT_EQ(job["error"]["code"], "poison") << job.dump();
  EXPECT_EQ(job["attempts"], 2);
  EXPECT_TRUE(fleet.wait_workers(1, std::chrono::seconds(10)));
  const std::string after = fleet.submit({{"model", "noop"}, {"input", {{"text", "still serving"}}}});
  EXPECT_EQ(fleet.wait_job(after, 20)["state"], "succeeded");
}

// Guards the poison count against a broker restart: it was kept in the broker's memory, so a job could take
// down POISON_AFTER workers per broker lifetime. Now the record counts the losses and recovery reads them.
TEST(Reliability, APoisonCountSurvivesABrokerRestart) {
  Fleet fleet(FleetOptions{1, "noop", 1, {{"MAX_ATTEMPTS", "5"}, {"POISON_AFTER", "2"}}});
  RedisClient redis(fleet.redis_endpoint());
  const std::string id = fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"crash", true}}}});
  // The only worker dies with it; the job waits in its queue with one loss on record.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<std::string> fields;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fields = redis.command({"HMGET", fleet.keys().job(id), "state", "worker_losses"}).strings();
  } while ((fields.size() != 2 || fields[0] != "queued" || fields[1] != "1") &&
           std::chrono::steady_clock::now() < end);
  ASSERT_EQ(fields, (std::vector<std::string>{"queued", "1"}));
  fleet.stack().restart_broker(SIGKILL);
  fleet.stack().add_worker();  // the second worker it takes down is its last
  auto job = fleet.wait_job(id, 20);
  EXPECT_EQ(job["state"], "failed") << job.dump();
  EXPECT_EQ(job["error"]["code"], "poison") << job.dump();
  EXPECT_EQ(job["attempts"], 2);
}

// Guards "gateway restart has no effect": queued and running jobs finish while no gateway runs.
TEST(Reliability, AGatewayRestartDoesNotTouchQueuedOrRunningJobs) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", 100}}}}));
  }
  fleet.stack().restart_gateway(SIGKILL);
  ASSERT_TRUE(fleet.stack().wait_healthy(std::chrono::seconds(10)));
  for (const auto& id : ids) EXPECT_EQ(fleet.wait_job(id, 20)["state"], "succeeded");
}

// Guards against a job that sits in its queue set unseen by the broker (its stream entry trimmed before the
// broker read it, or lost with the stream's tail): the periodic reconciliation finds and runs it.
TEST(Reliability, AQueuedJobTheBrokerNeverHeardOfIsFoundAndRun) {
  Fleet fleet(FleetOptions{1, "noop", 1, {{"RECONCILE_MS", "200"}}});
  RedisClient redis(fleet.redis_endpoint());
  const auto keys = fleet.keys();
  const std::string id = "feedfacefeedfacefeedfacefeedface";
  const std::string created = std::to_string(unix_ms() - 5000);
  redis.command({"HSET",        keys.job(id),
                 "id",          id,
                 "kind",        "tts",
                 "model",       "noop",
                 "state",       "queued",
                 "priority",    "0",
                 "input",       R"({"text":"x","language":"en"})",
                 "created_ms",  created,
                 "updated_ms",  created,
                 "attempts",    "0",
                 "deadline_ms", "0"});
  redis.command({"ZADD", keys.queue("noop"), created, id});
  redis.command({"SADD", keys.queue_models(), "noop"});
  auto job = fleet.wait_job(id, 10);
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["attempts"], 1);
}

// Sends `bytes` and keeps the connection open (a client that stalls), then reads until the server closes it.
// Returns the answer and how long the server took to close.
std::pair<std::string, std::chrono::milliseconds> stalled_exchange(uint16_t port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval limit{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  const auto started = std::chrono::steady_clock::now();
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return {answer,
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)};
}

// Guards against slow clients tying up the gateway: a stalled header or body is cut off with 408 after its
// deadline, and everyone else is served meanwhile.
TEST(Reliability, SlowClientsAreCutOffAfterTheirDeadlineWhileOthersAreServed) {
  Fleet fleet(FleetOptions{1, "noop", 1, {{"HEADER_TIMEOUT_MS", "400"}, {"BODY_TIMEOUT_MS", "400"}}});
  const uint16_t port = fleet.stack().config().http_port;
  std::pair<std::string, std::chrono::milliseconds> header, body;
  std::thread slow_header([&] { header = stalled_exchange(port, "GET /health HTTP/1.1\r\nHost: x\r\n"); });
  std::thread slow_body([&] {
    body = stalled_exchange(port,
                            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: 100\r\n\r\n{\"model\":");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(fleet.get("/health").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
  slow_header.join();
  slow_body.join();
  EXPECT_NE(header.first.find("408"), std::string::npos) << header.first;
  EXPECT_NE(body.first.find("408"), std::string::npos) << body.first;
  EXPECT_LT(header.second, std::chrono::seconds(3));
  EXPECT_LT(body.second, std::chrono::seconds(3));
  EXPECT_TRUE(fleet.stack().gateway().running());
}

}  // namespace
}  // namespace gpufleet::testing
