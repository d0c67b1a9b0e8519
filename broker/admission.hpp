#pragma once
// Who may speak for a worker on a CURVE broker, and what it may serve. Each worker id belongs to the key that
// first registered it (kept across broker restarts through Redis, and after the worker leaves), so another
// admitted key cannot take over its route; a key binds at most kMaxIdsPerKey ids, so it cannot mint ids
// without bound; and a worker's models are cut down to those its key may serve. Pure (no sockets, no Redis):
// the broker asks, applies the verdicts and records new bindings. Without CURVE every message is admitted.

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "protocol/curve.hpp"
#include "protocol/protocol.hpp"

namespace gpufleet::broker {

class Admission {
 public:
  static constexpr size_t kMaxIdsPerKey = 1024;

  enum class Verdict {
    kAdmit,
    kForeignKey,  // no key, or the id belongs to another key: dropped
    kTooManyIds,  // a READY for a new id from a key that holds kMaxIdsPerKey already: dropped
  };

  // `clients`: the admitted keys; nullptr for a broker without CURVE. Must outlive this object.
  explicit Admission(const CurveClients* clients) : clients_(clients) {}

  bool curve() const { return clients_ != nullptr; }

  // At start: the bindings Redis kept (worker id, key name). Those of keys no longer listed are not kept, and
  // are returned so the broker clears them in Redis (rotating a worker's key frees its ids).
  std::vector<std::string> restore(std::map<std::string, std::string> bindings);

  // Any message from `worker_id` under key `user` (the ZAP user id; empty: none).
  Verdict check_sender(const std::string& worker_id, const std::string& user) const;

  struct ReadyVerdict {
    Verdict verdict = Verdict::kAdmit;
    bool newly_bound = false;  // the broker records the binding (worker id, user) in Redis
  };
  // A READY that passed check_sender: the models `user` may not serve move to ready.failed_models, and a new
  // id is bound to `user` within its limit.
  ReadyVerdict admit_ready(const std::string& worker_id, const std::string& user, protocol::Ready& ready);

  // How many ids `user` holds.
  size_t ids_of(const std::string& user) const;

 private:
  const CurveClients* clients_;
  std::map<std::string, std::string> owners_;  // worker id -> the key that registered it
};

}  // namespace gpufleet::broker
