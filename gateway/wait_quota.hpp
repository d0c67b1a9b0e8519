#pragma once
// How many requests each API key may hold open at once while they wait: long-polls (?wait=), synchronous
// generates, event streams and audio streams each keep a socket, a timer and Redis reads alive for up to
// minutes, so a key that opens them without bound (or abandons them) could take the gateway's memory and
// file descriptors from every other key. Pure bookkeeping: the gateway asks for a slot before it starts a
// wait and holds the returned lease for as long as the wait lasts. Event loop only (not thread-safe).

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

namespace gpufleet::gateway {

class WaitQuota {
 public:
  // `per_key`: open waits one key may hold (MAX_WAITS_PER_KEY); requests without a key (no API keys
  // configured) share one count under the empty name.
  explicit WaitQuota(size_t per_key);

  // Returns the slot back when it goes out of scope; may outlive the quota (then it does nothing).
  class Lease {
   public:
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

   private:
    friend class WaitQuota;
    Lease(std::weak_ptr<std::unordered_map<std::string, size_t>> counts, std::string key);
    std::weak_ptr<std::unordered_map<std::string, size_t>> counts_;
    std::string key_;
  };

  // A slot for `key`, or nothing when the key holds its limit already.
  std::shared_ptr<Lease> acquire(const std::string& key);
  size_t open(const std::string& key) const;
  size_t open_total() const;
  size_t per_key() const { return per_key_; }

 private:
  size_t per_key_;
  // Keys with no open wait are erased, so the map holds at most one entry per key that is waiting.
  std::shared_ptr<std::unordered_map<std::string, size_t>> counts_;
};

}  // namespace gpufleet::gateway
