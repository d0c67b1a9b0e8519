// Guards the worker's dynamic batching policy: which jobs run together, and when a batch stops waiting.
#include "worker/batch_queue.hpp"

#include <gtest/gtest.h>

namespace gpufleet::worker {
namespace {

using std::chrono::milliseconds;

const auto kStart = SteadyClock::now();

PendingJob pending(const std::string& id, const std::string& model,
                   milliseconds arrived_after = milliseconds(0)) {
  PendingJob job;
  job.job.job_id = id;
  job.job.model = model;
  job.context = std::make_shared<models::JobContext>();
  job.arrived = kStart + arrived_after;
  return job;
}

std::vector<std::string> ids(const std::optional<std::vector<PendingJob>>& batch) {
  std::vector<std::string> result;
  if (batch) {
    for (const auto& job : *batch) result.push_back(job.job.job_id);
  }
  return result;
}

// Guards the default: a model without batching runs each job alone and at once.
TEST(BatchQueue, WithoutAPolicyJobsRunOneAtATimeInArrivalOrder) {
  BatchQueue queue;
  queue.push(pending("a", "espeak"));
  queue.push(pending("b", "espeak"));
  SteadyClock::time_point next;
  EXPECT_EQ(ids(queue.take(kStart, &next)), std::vector<std::string>{"a"});
  EXPECT_EQ(ids(queue.take(kStart, &next)), std::vector<std::string>{"b"});
  EXPECT_FALSE(queue.take(kStart, &next));
  EXPECT_EQ(next, SteadyClock::time_point::max());
}

// Guards the delay: a lone job waits for company until its max delay, not longer, and the caller learns when.
TEST(BatchQueue, ALoneJobWaitsForItsMaxDelayThenRunsAlone) {
  BatchQueue queue({{"voice", BatchPolicy{4, milliseconds(50)}}});
  queue.push(pending("a", "voice"));
  SteadyClock::time_point next;
  EXPECT_FALSE(queue.take(kStart + milliseconds(10), &next));
  EXPECT_EQ(next, kStart + milliseconds(50));
  EXPECT_EQ(ids(queue.take(kStart + milliseconds(50), &next)), std::vector<std::string>{"a"});
}

// Guards the batch bound: a full batch goes at once, without waiting, and holds no more than max_batch.
TEST(BatchQueue, AFullBatchGoesAtOnceAndTheRestWaits) {
  BatchQueue queue({{"voice", BatchPolicy{3, milliseconds(1000)}}});
  for (const char* id : {"a", "b", "c", "d"}) queue.push(pending(id, "voice"));
  SteadyClock::time_point next;
  EXPECT_EQ(ids(queue.take(kStart, &next)), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(queue.take(kStart, &next));
  EXPECT_EQ(queue.size(), 1u);
}

// Guards fairness between models: a batch never mixes models, and a model still filling its batch does not
// hold up another model's job.
TEST(BatchQueue, ModelsBatchApartAndAFillingBatchHoldsUpNoOtherModel) {
  BatchQueue queue({{"voice", BatchPolicy{4, milliseconds(100)}}});
  queue.push(pending("v1", "voice"));
  queue.push(pending("e1", "espeak", milliseconds(1)));
  queue.push(pending("v2", "voice", milliseconds(2)));
  SteadyClock::time_point next;
  EXPECT_EQ(ids(queue.take(kStart + milliseconds(5), &next)), std::vector<std::string>{"e1"});
  EXPECT_FALSE(queue.take(kStart + milliseconds(5), &next));
  EXPECT_EQ(ids(queue.take(kStart + milliseconds(100), &next)), (std::vector<std::string>{"v1", "v2"}));
}

// Guards shutdown: take_any hands out what is left without waiting for batches to fill.
TEST(BatchQueue, TakeAnyEmptiesTheQueueWithoutWaiting) {
  BatchQueue queue({{"voice", BatchPolicy{4, milliseconds(10000)}}});
  queue.push(pending("v1", "voice"));
  EXPECT_EQ(ids(queue.take_any()), std::vector<std::string>{"v1"});
  EXPECT_FALSE(queue.take_any());
}

// Guards continuous batching's side of the queue: a running batch takes newcomers at once, as many as it has
// room for, and while it takes them no second batch of its model starts beside it.
TEST(BatchQueue, ARunningBatchTakesItsModelsNewcomersAndNoSecondBatchStarts) {
  BatchQueue queue({{"xtts", BatchPolicy{4, milliseconds(0)}}});
  queue.push(pending("x1", "xtts"));
  queue.push(pending("e1", "espeak"));
  queue.push(pending("x2", "xtts"));
  queue.push(pending("x3", "xtts"));
  queue.open_join("xtts");
  SteadyClock::time_point next;
  EXPECT_EQ(ids(queue.take(kStart, &next)), std::vector<std::string>{"e1"}) << "another model is not held up";
  EXPECT_FALSE(queue.take(kStart + milliseconds(1000), &next)) << "xtts's jobs are left to its running batch";
  EXPECT_EQ(next, SteadyClock::time_point::max());
  std::vector<std::string> joined;
  for (auto& job : queue.join("xtts", 2)) joined.push_back(job.job.job_id);
  EXPECT_EQ(joined, (std::vector<std::string>{"x1", "x2"}));
  EXPECT_TRUE(queue.join("espeak", 0).empty());
  queue.close_join("xtts");
  EXPECT_EQ(ids(queue.take(kStart, &next)), std::vector<std::string>{"x3"}) << "closed: any executor's again";
  EXPECT_TRUE(queue.join("xtts", 4).empty());
}

}  // namespace
}  // namespace gpufleet::worker
