#include "broker/submission_reader.hpp"

#include <spdlog/spdlog.h>

#include "broker/recovery.hpp"
#include "common/error.hpp"
#include "store/job_store.hpp"

namespace gpufleet::broker {

SubmissionReader::SubmissionReader(RedisEndpoint endpoint, zmq::context_t& context,
                                   const std::string& wake_endpoint, std::string start_after)
    : endpoint_(std::move(endpoint)),
      keys_(endpoint_.prefix),
      wake_(context, zmq::socket_type::push),
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
  std::vector<RedisArgs> commands;
  // What was read before is trimmed off in the same round trip: a submission's input lives in its job record,
  // and the stream entry, which repeats it, is only the announcement. The last entry read stays (MINID keeps
  // it), since a restarted broker follows on from it; "~" trims whole stream nodes, so up to one node's worth
  // (at most 100 entries) of read entries may wait for the next trim.
  if (!trim_before_.empty()) commands.push_back({"XTRIM", keys_.submissions(), "MINID", "~", trim_before_});
  // Blocks for at most 200 ms so that stopping is prompt; the client's own timeout is longer.
  commands.push_back({"XREAD", "COUNT", "4096", "BLOCK", "200", "STREAMS", keys_.submissions(), position_});
  auto replies = redis.pipeline(commands);
  if (commands.size() == 2 && replies.front().is_error()) throw RedisError("XTRIM: " + replies.front().str());
  trim_before_.clear();
  const auto& reply = replies.back();
  if (reply.is_error()) throw RedisError("XREAD: " + reply.str());
  std::vector<Submission> batch;
  const auto entries = reply.stream_entries();
  for (const auto& entry : entries) {
    position_ = entry.id;
    if (auto submission = submission_from_entry(entry.fields)) batch.push_back(std::move(*submission));
  }
  if (!entries.empty()) trim_before_ = position_;
  return batch;
}

std::optional<Submission> submission_from_entry(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  Submission submission;
  for (const auto& [field, value] : fields) {
    if (field == "op") submission.op = value == "cancel" ? Submission::Op::kCancel : Submission::Op::kSubmit;
    if (field == "id") submission.job_id = value;
  }
  if (submission.job_id.empty()) return std::nullopt;
  if (submission.op == Submission::Op::kSubmit) {
    // The entry carries the record's fields as job_store::submit wrote them; it is new, so queued.
    auto record = job_store::record_from_fields(fields);
    record.state = "queued";
    submission.job = job_from_record(submission.job_id, record);
    if (!submission.job) return std::nullopt;
  }
  return submission;
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
      for (int i = 0; i < 5 && !stop_.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace gpufleet::broker
