#pragma once
// The broker process: one ROUTER socket that gateways and workers connect to, a poll loop that reads
// messages in batches, lets the Dispatcher decide, sends jobs, and hands state changes to the StatusWriter.
// Heartbeats go out from a timer, independent of traffic.

#include <atomic>
#include <chrono>
#include <string>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "broker/dispatcher.hpp"
#include "broker/status_writer.hpp"

namespace gpufleet::broker {

struct BrokerConfig {
  std::string bind_endpoint = "tcp://*:5555";
  std::chrono::milliseconds heartbeat{1000};
  int liveness = 3;          // heartbeats a worker may miss before its jobs are requeued
  uint32_t max_attempts = 3;  // a job whose workers were lost this many times fails with worker_lost
  int64_t retention_s = 7 * 24 * 3600;
  RedisEndpoint redis;

  static BrokerConfig from_env();
};

class Broker {
 public:
  explicit Broker(BrokerConfig config);
  // Serves until `stop` becomes true. Throws only when the socket cannot be bound.
  void run(const std::atomic<bool>& stop);

 private:
  void handle(std::vector<zmq::message_t>& frames);
  void on_submit(const protocol::Submit& submit);
  void on_ready(const std::string& identity, const protocol::Ready& ready);
  void on_result(const std::string& identity, const protocol::JobResult& result);
  void on_goodbye(const std::string& identity);
  void lose_worker(const std::string& worker_id, const std::string& reason);
  void requeue_or_fail(QueuedJob job, const std::string& reason);
  void dispatch();
  void tick();
  template <typename T>
  void send(const std::string& identity, protocol::MessageType type, const T& body);

  BrokerConfig config_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  Dispatcher dispatcher_;
  StatusWriter status_;
  SteadyClock::time_point next_tick_{};
  uint64_t dropped_frames_ = 0;
};

}  // namespace gpufleet::broker
