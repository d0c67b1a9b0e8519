// Guards the broker's scheduling decisions: order, capacity, model routing, the fencing that refuses a
// result from a worker that no longer holds the job, leases, removal by id, deadlines, and the adoption of
// jobs a previous broker left running.
#include "broker/dispatcher.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gpufleet::broker {
namespace {

protocol::Ready worker(const std::string& id, std::vector<std::string> models, uint32_t slots = 1) {
  protocol::Ready ready;
  ready.worker_id = id;
  ready.slots = slots;
  ready.device = "cpu";
  for (auto& name : models) ready.models.push_back(protocol::ModelInfo{name, "tts", {}, false, 0});
  return ready;
}

QueuedJob job(const std::string& id, const std::string& model = "espeak", int32_t priority = 0) {
  QueuedJob queued;
  queued.id = id;
  queued.kind = "tts";
  queued.model = model;
  queued.input_json = "{}";
  queued.priority = priority;
  return queued;
}

std::vector<std::string> ids(const std::vector<Assignment>& assignments) {
  std::vector<std::string> result;
  for (const auto& assignment : assignments) result.push_back(assignment.job.id);
  return result;
}

const auto kNow = SteadyClock::now();
const std::chrono::milliseconds kLease{1000};

Registration add(Dispatcher& dispatcher, const protocol::Ready& ready, SteadyClock::time_point now = kNow) {
  return dispatcher.add_worker(ready, now, kLease);
}

// Dispatches and confirms every assignment, as the broker does once the job store has recorded them.
std::vector<Assignment> dispatch_confirmed(Dispatcher& dispatcher, SteadyClock::time_point now = kNow) {
  auto assignments = dispatcher.dispatch();
  for (auto& assignment : assignments) {
    EXPECT_TRUE(
        dispatcher.confirm(assignment.worker_id, assignment.job.id, assignment.attempt, now + kLease));
  }
  return assignments;
}

TEST(Dispatcher, FifoWithinPriorityHigherFirst) {
  Dispatcher dispatcher;
  dispatcher.enqueue(job("low1", "espeak", 0));
  dispatcher.enqueue(job("high1", "espeak", 5));
  dispatcher.enqueue(job("low2", "espeak", 0));
  dispatcher.enqueue(job("high2", "espeak", 5));
  add(dispatcher, worker("w", {"espeak"}, 4));
  EXPECT_EQ(ids(dispatcher.dispatch()), (std::vector<std::string>{"high1", "high2", "low1", "low2"}));
}

TEST(Dispatcher, NothingGoesToAWorkerWithoutTheModelOrWithoutRoom) {
  Dispatcher dispatcher;
  add(dispatcher, worker("w", {"espeak"}, 1));
  dispatcher.enqueue(job("a", "xtts"));
  EXPECT_TRUE(dispatcher.dispatch().empty());
  dispatcher.enqueue(job("b", "espeak"));
  dispatcher.enqueue(job("c", "espeak"));
  EXPECT_EQ(ids(dispatcher.dispatch()), std::vector<std::string>{"b"});
  EXPECT_TRUE(dispatcher.dispatch().empty());  // its one slot is taken
  EXPECT_EQ(dispatcher.queued(), 2u);
  ASSERT_TRUE(dispatcher.complete("w", "b", 1));
  EXPECT_EQ(ids(dispatcher.dispatch()), std::vector<std::string>{"c"});
}

TEST(Dispatcher, SpreadsToTheLeastLoadedWorker) {
  Dispatcher dispatcher;
  add(dispatcher, worker("w1", {"espeak"}, 2));
  add(dispatcher, worker("w2", {"espeak"}, 2));
  for (auto id : {"a", "b", "c", "d"}) dispatcher.enqueue(job(id));
  auto assignments = dispatcher.dispatch();
  ASSERT_EQ(assignments.size(), 4u);
  int on_w1 = 0;
  for (const auto& assignment : assignments) on_w1 += assignment.worker_id == "w1";
  EXPECT_EQ(on_w1, 2);
}

TEST(Dispatcher, RepeatedSubmitIsIgnored) {
  Dispatcher dispatcher;
  EXPECT_TRUE(dispatcher.enqueue(job("a")));
  EXPECT_FALSE(dispatcher.enqueue(job("a")));
  EXPECT_EQ(dispatcher.queued(), 1u);
}

TEST(Dispatcher, LostWorkerGivesItsJobsBackAndTheyRunAgainWithANewAttempt) {
  Dispatcher dispatcher;
  add(dispatcher, worker("w1", {"espeak"}));
  dispatcher.enqueue(job("a"));
  auto first = dispatcher.dispatch();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].attempt, 1u);
  auto orphans = dispatcher.remove_worker("w1");
  ASSERT_EQ(orphans.size(), 1u);
  orphans[0].job.attempts = orphans[0].attempt;
  dispatcher.requeue(orphans[0].job);
  add(dispatcher, worker("w2", {"espeak"}));
  auto second = dispatcher.dispatch();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].worker_id, "w2");
  EXPECT_EQ(second[0].attempt, 2u);
  // The lost worker's late result is refused; the current holder's is taken once.
  EXPECT_FALSE(dispatcher.complete("w1", "a", 1));
  EXPECT_FALSE(dispatcher.complete("w2", "a", 1));
  EXPECT_TRUE(dispatcher.complete("w2", "a", 2));
  EXPECT_FALSE(dispatcher.complete("w2", "a", 2));
}

TEST(Dispatcher, ReRegistrationKeepsJobsTheWorkerStillRuns) {
  Dispatcher dispatcher;
  add(dispatcher, worker("w", {"espeak"}, 2));
  dispatcher.enqueue(job("kept"));
  dispatcher.enqueue(job("lost"));
  ASSERT_EQ(dispatch_confirmed(dispatcher).size(), 2u);
  auto again = worker("w", {"espeak"}, 2);
  again.held = {protocol::HeldJob{"kept", 1}, protocol::HeldJob{"stranger", 4}};
  auto registration = add(dispatcher, again);
  ASSERT_EQ(registration.lost.size(), 1u);
  EXPECT_EQ(registration.lost[0].job.id, "lost");
  EXPECT_EQ(registration.lost[0].attempt, 1u);
  ASSERT_EQ(registration.unknown.size(), 1u);  // not its job: the broker cancels it there
  EXPECT_EQ(registration.unknown[0].job_id, "stranger");
  EXPECT_TRUE(dispatcher.complete("w", "kept", 1));
}

TEST(Dispatcher, SilentWorkersAreReportedAndDrainingOnesGetNothing) {
  Dispatcher dispatcher;
  add(dispatcher, worker("old", {"espeak"}));
  add(dispatcher, worker("fresh", {"espeak"}), kNow + std::chrono::seconds(5));
  EXPECT_EQ(dispatcher.silent_workers(kNow + std::chrono::seconds(5), std::chrono::seconds(3)),
            std::vector<std::string>{"old"});
  dispatcher.set_draining("fresh", true);
  dispatcher.set_draining("old", true);
  dispatcher.enqueue(job("a"));
  EXPECT_TRUE(dispatcher.dispatch().empty());
  dispatcher.set_draining("fresh", false);
  EXPECT_EQ(dispatcher.dispatch().size(), 1u);
}

TEST(Dispatcher, ModelSummaryCountsWorkersSlotsAndDevices) {
  Dispatcher dispatcher;
  auto gpu = worker("g", {"espeak", "xtts"}, 4);
  gpu.device = "cuda";
  add(dispatcher, gpu);
  add(dispatcher, worker("c", {"espeak"}, 1));
  auto models = dispatcher.models();
  EXPECT_EQ(models["espeak"].workers, 2u);
  EXPECT_EQ(models["espeak"].slots, 5u);
  EXPECT_EQ(models["espeak"].devices, (std::set<std::string>{"cpu", "cuda"}));
  EXPECT_EQ(models["xtts"].workers, 1u);
}

TEST(Dispatcher, ALeaseThatIsNotRenewedExpiresAndTheRevokedJobKeepsItsSlotBusy) {
  Dispatcher dispatcher;
  add(dispatcher, worker("w", {"espeak"}, 1));
  dispatcher.enqueue(job("a"));
  dispatcher.enqueue(job("b"));
  auto first = dispatch_confirmed(dispatcher);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(dispatcher.expired_leases(kNow + kLease / 2).empty());
  dispatcher.renew("w", {"a"}, kNow + kLease * 2);
  EXPECT_TRUE(dispatcher.expired_leases(kNow + kLease).empty());
  auto expired = dispatcher.expired_leases(kNow + kLease * 2);
  ASSERT_EQ(expired.size(), 1u);
  ASSERT_TRUE(dispatcher.revoke("w", "a"));
  // The hung call still occupies the worker's only slot: nothing new goes there.
  EXPECT_TRUE(dispatcher.dispatch().empty());
  // Its late result is not the job's any more, but it frees the slot.
  EXPECT_FALSE(dispatcher.complete("w", "a", 1));
  EXPECT_EQ(ids(dispatcher.dispatch()), std::vector<std::string>{"b"});
}

TEST(Dispatcher, UnconfirmedAssignmentsHaveNoLeaseAndCanBeRetracted) {
  Dispatcher dispatcher;
  add(dispatcher, worker("w", {"espeak"}, 2));
  dispatcher.enqueue(job("gone"));
  dispatcher.enqueue(job("stale"));
  auto assignments = dispatcher.dispatch();
  ASSERT_EQ(assignments.size(), 2u);
  EXPECT_TRUE(dispatcher.expired_leases(kNow + kLease * 100).empty());
  dispatcher.retract("w", "gone", 1, std::nullopt);  // no longer queued in the store: dropped
  dispatcher.retract("w", "stale", 1, 3u);           // the store counts 3 attempts: queued again with that
  auto again = dispatcher.dispatch();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job.id, "stale");
  EXPECT_EQ(again[0].attempt, 4u);
}

TEST(Dispatcher, RemovedAndExpiredQueuedJobsAreSkippedAndCountedOut) {
  Dispatcher dispatcher;
  dispatcher.enqueue(job("a"));
  auto late = job("late");
  late.deadline_ms = 1000;
  dispatcher.enqueue(late);
  dispatcher.enqueue(job("c"));
  EXPECT_TRUE(dispatcher.remove_queued("a"));
  EXPECT_FALSE(dispatcher.remove_queued("a"));
  EXPECT_EQ(dispatcher.queue_depths()["espeak"], 2u);
  EXPECT_TRUE(dispatcher.take_expired_queued(999).empty());
  auto expired = dispatcher.take_expired_queued(1000);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, "late");
  EXPECT_EQ(dispatcher.queued(), 1u);
  EXPECT_EQ(dispatcher.queue_depths()["espeak"], 1u);
  add(dispatcher, worker("w", {"espeak"}, 4));
  EXPECT_EQ(ids(dispatcher.dispatch()), std::vector<std::string>{"c"});
  // A removed job may come back (a requeue): the new entry is the live one.
  dispatcher.enqueue(job("a"));
  EXPECT_EQ(ids(dispatcher.dispatch()), std::vector<std::string>{"a"});
}

TEST(Dispatcher, ARestartedBrokerAdoptsOrphansFromTheirWorkerOrGivesThemBack) {
  Dispatcher dispatcher;
  Assignment adopted{"w", job("mine"), 2, true, {}};
  Assignment never_arrived{"w", job("unsent"), 1, true, {}};
  Assignment abandoned{"gone", job("theirs"), 1, true, {}};
  dispatcher.add_orphan(adopted, kNow + kLease);
  dispatcher.add_orphan(never_arrived, kNow + kLease);
  dispatcher.add_orphan(abandoned, kNow + kLease);
  EXPECT_FALSE(dispatcher.enqueue(job("mine")));  // a stale submission of a running job is ignored
  auto ready = worker("w", {"espeak"}, 2);
  ready.held = {protocol::HeldJob{"mine", 2}};
  auto registration = add(dispatcher, ready);
  ASSERT_EQ(registration.lost.size(),
            1u);  // the worker does not hold it: requeued at once, not after a lease
  EXPECT_EQ(registration.lost[0].job.id, "unsent");
  EXPECT_TRUE(registration.unknown.empty());
  EXPECT_EQ(dispatcher.orphans(), 1u);
  auto expired = dispatcher.take_expired_orphans(kNow + kLease);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].job.id, "theirs");
  EXPECT_TRUE(dispatcher.complete("w", "mine", 2));
}

TEST(Dispatcher, AfterOutOfMemoryAJobPrefersAnotherWorkerButUsesTheSameOneIfItIsTheOnlyOne) {
  Dispatcher dispatcher;
  add(dispatcher, worker("a", {"xtts"}, 4));
  add(dispatcher, worker("b", {"xtts"}, 1));
  auto retry = job("j", "xtts");
  retry.avoid_worker = "a";
  dispatcher.enqueue(retry);
  auto assignments = dispatcher.dispatch();
  ASSERT_EQ(assignments.size(), 1u);
  EXPECT_EQ(assignments[0].worker_id, "b");

  Dispatcher alone;
  add(alone, worker("a", {"xtts"}, 4));
  alone.enqueue(retry);
  assignments = alone.dispatch();
  ASSERT_EQ(assignments.size(), 1u);
  EXPECT_EQ(assignments[0].worker_id, "a");
}

TEST(Dispatcher, DeadlinesOfRunningJobsAreReported) {
  Dispatcher dispatcher;
  add(dispatcher, worker("w", {"espeak"}, 2));
  auto timed = job("timed");
  timed.deadline_ms = 5000;
  dispatcher.enqueue(timed);
  dispatcher.enqueue(job("untimed"));
  dispatch_confirmed(dispatcher);
  EXPECT_TRUE(dispatcher.past_deadline(4999).empty());
  auto late = dispatcher.past_deadline(5000);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].job.id, "timed");
}

}  // namespace
}  // namespace gpufleet::broker

namespace gpufleet::broker {
namespace {

// Guards dynamic batching's capacity: a worker that batches a model gets slots x max_batch of its jobs
// (its batches could not fill otherwise), while a model it does not batch still gets only its slots.
TEST(Dispatcher, ABatchingModelGetsSlotsTimesMaxBatchOthersTheirSlots) {
  Dispatcher dispatcher;
  auto ready = worker("w1", {"voice", "espeak"}, 2);
  ready.models[0].max_batch = 4;
  add(dispatcher, ready);
  for (int i = 0; i < 10; ++i) dispatcher.enqueue(job("v" + std::to_string(i), "voice"));
  EXPECT_EQ(dispatcher.dispatch().size(), 8u);
  dispatcher.enqueue(job("e1", "espeak"));
  EXPECT_TRUE(dispatcher.dispatch().empty()) << "a non-batching model must not overcommit the slots";

  Dispatcher plain;
  add(plain, worker("w1", {"espeak"}, 2));
  for (int i = 0; i < 3; ++i) plain.enqueue(job("e" + std::to_string(i), "espeak"));
  EXPECT_EQ(plain.dispatch().size(), 2u);
}

// Guards against a corrupt READY: an absurd max_batch is bounded, not trusted.
TEST(Dispatcher, AnnouncedMaxBatchIsBounded) {
  Dispatcher dispatcher;
  auto ready = worker("w1", {"voice"}, 1);
  ready.models[0].max_batch = 4000000000u;
  add(dispatcher, ready);
  for (int i = 0; i < 300; ++i) dispatcher.enqueue(job("v" + std::to_string(i), "voice"));
  EXPECT_EQ(dispatcher.dispatch().size(), 256u);
}

// Guards voice affinity: a job whose voice a worker holds in memory goes there rather than to the
// least-loaded worker, but never waits for it: with the warm worker full, a cold one takes it. Voices a
// worker stops listing, or lists for a model it does not serve, attract nothing.
TEST(Dispatcher, AJobGoesToTheWorkerHoldingItsVoiceWhenThatWorkerHasRoom) {
  Dispatcher dispatcher;
  add(dispatcher, worker("a", {"xtts"}, 2));
  add(dispatcher, worker("b", {"xtts"}, 1));  // by load alone, "a" (2 free slots) would win
  dispatcher.set_voices("b", {protocol::ModelVoices{"xtts", {"uploads/alice.wav"}},
                              protocol::ModelVoices{"espeak", {"uploads/bob.wav"}}});
  auto cloned = [](const std::string& id, const std::string& reference) {
    QueuedJob queued = job(id, "xtts");
    queued.input_json = nlohmann::json{{"text", "hi"}, {"speaker_wav", reference}}.dump();
    return queued;
  };
  dispatcher.enqueue(cloned("alice1", "uploads/alice.wav"));
  auto first = dispatch_confirmed(dispatcher);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].worker_id, "b");
  EXPECT_EQ(first[0].job.reference, "uploads/alice.wav");

  // "b" is full now: the next job with the same voice does not wait for it.
  dispatcher.enqueue(cloned("alice2", "uploads/alice.wav"));
  auto second = dispatch_confirmed(dispatcher);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].worker_id, "a");

  // A voice listed under a model the worker does not serve, or no longer listed, attracts nothing.
  ASSERT_TRUE(dispatcher.complete("b", "alice1", first[0].attempt));
  ASSERT_TRUE(dispatcher.complete("a", "alice2", second[0].attempt));
  EXPECT_FALSE(dispatcher.workers().at("b").holds_voice("espeak", "uploads/bob.wav"));
  dispatcher.set_voices("b", {});
  dispatcher.enqueue(cloned("alice3", "uploads/alice.wav"));
  auto third = dispatch_confirmed(dispatcher);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].worker_id, "a");
}

}  // namespace
}  // namespace gpufleet::broker
