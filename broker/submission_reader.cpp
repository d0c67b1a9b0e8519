#include "broker/submission_reader.hpp"

#include <spdlog/spdlog.h>

#include "broker/recovery.hpp"
#include "common/error.hpp"
#include "common/job_store.hpp"

namespace gpufleet::broker {

SubmissionReader::SubmissionReader(RedisEndpoint endpoint, zmq::context_t& context, const std::string& wake_endpoint,
                                   std::string start_after)
    : endpoint_(std::move(endpoint)), keys_(endpoint_.prefix), wake_(context, zmq::socket_type::push),
      position_(std::move(start_after)) {
  wake_.set(zmq::sockopt::linger, 0);
  wake_.connect(wake_endpoint);
  thread_ = std::thread([this] { loop(); });
}

SubmissionReader::~SubmissionReader() {
  stop_.store(true);
  thread_.join();
}

std::vector<Submission> SubmissionReader::take() {
  std::lock_guard lock(mutex_);
  std::vector<Submission> taken;
  taken.swap(ready_);
  return taken;
}

std::vector<Submission> SubmissionReader::read_batch(RedisClient& redis) {
  // Blocks for at most 200 ms so that stopping is prompt; the client's own timeout is longer.
  auto reply = redis.command({"XREAD", "COUNT", "4096", "BLOCK", "200", "STREAMS", keys_.submissions(), position_});
  if (reply.is_error()) throw RedisError("XREAD: " + reply.str());
  std::vector<Submission> batch;
  std::vector<RedisArgs> reads;
  std::string position = position_;
  for (const auto& entry : reply.stream_entries()) {
    position = entry.id;
    Submission submission;
    for (const auto& [field, value] : entry.fields) {
      if (field == "op") submission.op = value == "cancel" ? Submission::Op::kCancel : Submission::Op::kSubmit;
      if (field == "id") submission.job_id = value;
    }
    if (submission.job_id.empty()) continue;
    if (submission.op == Submission::Op::kSubmit) {
      RedisArgs read{"HMGET", keys_.job(submission.job_id)};
      for (const auto& field : job_store::recovery_fields()) read.push_back(field);
      reads.push_back(std::move(read));
    }
    batch.push_back(std::move(submission));
  }
  auto replies = redis.pipeline(reads);
  size_t next = 0;
  for (auto& submission : batch) {
    if (submission.op != Submission::Op::kSubmit) continue;
    const auto values = replies[next++].strings();
    if (!values.empty() && recorded_state(values) == "queued") {
      submission.job = job_from_fields(submission.job_id, values);
    }
  }
  position_ = position;  // only now: a failure above reads the same entries again
  return batch;
}

void SubmissionReader::loop() {
  RedisClient redis(endpoint_, std::chrono::milliseconds(2000));
  bool healthy = true;
  while (!stop_.load()) {
    try {
      auto batch = read_batch(redis);
      if (!healthy) spdlog::info("submissions stream readable again at {}", position_);
      healthy = true;
      if (batch.empty()) continue;
      {
        std::lock_guard lock(mutex_);
        for (auto& submission : batch) ready_.push_back(std::move(submission));
      }
      wake_.send(zmq::message_t(), zmq::send_flags::dontwait);
    } catch (const RedisError& error) {
      if (healthy) spdlog::error("cannot read the submissions stream, retrying: {}", error.what());
      healthy = false;
      redis.disconnect();
      for (int i = 0; i < 5 && !stop_.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace gpufleet::broker
