#pragma once
// The gateway's connection to the broker: a DEALER socket that sends SUBMIT messages. ZeroMQ queues them
// while the broker is away and reconnects by itself; nothing is read back.

#include <mutex>
#include <string>
#include <zmq.hpp>

#include "common/protocol.hpp"

namespace gpufleet::gateway {

class BrokerLink {
 public:
  explicit BrokerLink(const std::string& endpoint);
  // False when the outgoing queue is full (the broker has been away long enough to fill it).
  bool submit(const protocol::Submit& submit);

 private:
  std::mutex mutex_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

}  // namespace gpufleet::gateway
