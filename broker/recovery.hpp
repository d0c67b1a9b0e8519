#pragma once
// What a starting broker reads back from the job store: every queued job and every running one with the
// worker and attempt that hold it, plus the position in the submissions stream to follow from. Together
// with the stream this is the broker's whole state: it keeps nothing on disk of its own.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/dispatcher.hpp"
#include "store/job_store.hpp"
#include "store/redis_client.hpp"

namespace gpufleet::broker {

struct RecoveredState {
  std::string stream_position = "0-0";             // read submissions after this entry
  std::vector<QueuedJob> queued;                   // oldest first
  std::vector<Assignment> running;                 // worker_id and attempt as recorded
  std::map<std::string, std::string> worker_keys;  // worker id -> the CURVE key name bound to it
};

// Throws RedisError when Redis cannot be read.
RecoveredState recover_state(RedisClient& redis, const RedisKeys& keys);

// Queued jobs in the job store that `known` says the broker does not hold, older than `min_age_ms` (younger
// ones may still be on their way through the submissions stream). Only models whose queue set holds more
// than `depths` says the broker has are scanned. Throws RedisError.
std::vector<QueuedJob> find_unknown_queued(RedisClient& redis, const RedisKeys& keys,
                                           const std::map<std::string, size_t>& depths,
                                           const std::function<bool(const std::string&)>& known,
                                           int64_t min_age_ms);

// The job its record describes; nullopt when the record is gone (no state) or names no model.
std::optional<QueuedJob> job_from_record(const std::string& id, const job_store::JobRecord& record);

}  // namespace gpufleet::broker
