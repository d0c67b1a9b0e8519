#pragma once
// Follows the job store's submissions stream on a thread of its own (a blocking XREAD needs its own
// connection) and hands new jobs and cancellations to the broker's loop, waking it through an inproc socket.
// Redis going away is waited out: the reader reconnects and goes on from the last entry it read. Entries it
// has read are trimmed off the stream, so a submission's input is kept once, in its job record.

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "broker/dispatcher.hpp"
#include "store/redis_client.hpp"

namespace gpufleet::broker {

struct Submission {
  enum class Op { kSubmit, kCancel } op = Op::kSubmit;
  std::string job_id;
  std::optional<QueuedJob> job;  // kSubmit: the job as submitted (the job store decides at dispatch whether
                                 // it is still queued)
};

// A stream entry's fields as a submission; nullopt for an entry without an id or with a malformed job.
std::optional<Submission> submission_from_entry(
    const std::vector<std::pair<std::string, std::string>>& fields);

class SubmissionReader {
 public:
  // `wake_endpoint`: an inproc PULL socket of the broker's, which gets one empty message per batch.
  SubmissionReader(RedisEndpoint endpoint, zmq::context_t& context, const std::string& wake_endpoint,
                   std::string start_after);
  ~SubmissionReader();
  SubmissionReader(const SubmissionReader&) = delete;
  SubmissionReader& operator=(const SubmissionReader&) = delete;

  // Everything read since the last call, in stream order.
  std::vector<Submission> take();

 private:
  void loop();
  std::vector<Submission> read_batch(RedisClient& redis);

  RedisEndpoint endpoint_;
  RedisKeys keys_;
  zmq::socket_t wake_;
  std::string position_;
  std::string trim_before_;  // the stream's entries before this id have been read; empty: nothing to trim
  std::mutex mutex_;
  std::vector<Submission> ready_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace gpufleet::broker
