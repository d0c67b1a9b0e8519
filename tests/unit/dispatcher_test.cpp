// Guards the broker's scheduling decisions: order, capacity, model routing, and the fencing that refuses a
// result from a worker that no longer holds the job.
#include <gtest/gtest.h>

#include "broker/dispatcher.hpp"

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
  return QueuedJob{id, "tts", model, "{}", priority, 0, 0};
}

std::vector<std::string> ids(const std::vector<Assignment>& assignments) {
  std::vector<std::string> result;
  for (const auto& assignment : assignments) result.push_back(assignment.job.id);
  return result;
}

const auto kNow = SteadyClock::now();

TEST(Dispatcher, FifoWithinPriorityHigherFirst) {
  Dispatcher dispatcher;
  dispatcher.enqueue(job("low1", "espeak", 0));
  dispatcher.enqueue(job("high1", "espeak", 5));
  dispatcher.enqueue(job("low2", "espeak", 0));
  dispatcher.enqueue(job("high2", "espeak", 5));
  dispatcher.add_worker(worker("w", {"espeak"}, 4), {}, kNow);
  EXPECT_EQ(ids(dispatcher.dispatch()), (std::vector<std::string>{"high1", "high2", "low1", "low2"}));
}

TEST(Dispatcher, NothingGoesToAWorkerWithoutTheModelOrWithoutRoom) {
  Dispatcher dispatcher;
  dispatcher.add_worker(worker("w", {"espeak"}, 1), {}, kNow);
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
  dispatcher.add_worker(worker("w1", {"espeak"}, 2), {}, kNow);
  dispatcher.add_worker(worker("w2", {"espeak"}, 2), {}, kNow);
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
  dispatcher.add_worker(worker("w1", {"espeak"}), {}, kNow);
  dispatcher.enqueue(job("a"));
  auto first = dispatcher.dispatch();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].attempt, 1u);
  auto orphans = dispatcher.remove_worker("w1");
  ASSERT_EQ(orphans.size(), 1u);
  dispatcher.requeue(orphans[0]);
  dispatcher.add_worker(worker("w2", {"espeak"}), {}, kNow);
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
  dispatcher.add_worker(worker("w", {"espeak"}, 2), {}, kNow);
  dispatcher.enqueue(job("kept"));
  dispatcher.enqueue(job("lost"));
  ASSERT_EQ(dispatcher.dispatch().size(), 2u);
  auto orphans = dispatcher.add_worker(worker("w", {"espeak"}, 2), {"kept"}, kNow);
  ASSERT_EQ(orphans.size(), 1u);
  EXPECT_EQ(orphans[0].id, "lost");
  EXPECT_TRUE(dispatcher.complete("w", "kept", 1));
}

TEST(Dispatcher, SilentWorkersAreReportedAndDrainingOnesGetNothing) {
  Dispatcher dispatcher;
  dispatcher.add_worker(worker("old", {"espeak"}), {}, kNow);
  dispatcher.add_worker(worker("fresh", {"espeak"}), {}, kNow + std::chrono::seconds(5));
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
  dispatcher.add_worker(gpu, {}, kNow);
  dispatcher.add_worker(worker("c", {"espeak"}, 1), {}, kNow);
  auto models = dispatcher.models();
  EXPECT_EQ(models["espeak"].workers, 2u);
  EXPECT_EQ(models["espeak"].slots, 5u);
  EXPECT_EQ(models["espeak"].devices, (std::set<std::string>{"cpu", "cuda"}));
  EXPECT_EQ(models["xtts"].workers, 1u);
}

}  // namespace
}  // namespace gpufleet::broker
