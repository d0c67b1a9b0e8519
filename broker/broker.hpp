#pragma once
// The broker process: one ROUTER socket that workers connect to, a reader that follows the job store's
// submissions stream, and a poll loop that lets the Dispatcher decide, records every decision in the job
// store before acting on it, and sends jobs, cancellations and acknowledgements. Heartbeats and lease
// checks run from a timer, independent of traffic. On start it rebuilds its queues from Redis.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "broker/admission.hpp"
#include "broker/dispatcher.hpp"
#include "broker/retry_policy.hpp"
#include "broker/status_writer.hpp"
#include "broker/submission_reader.hpp"
#include "common/config.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "protocol/curve.hpp"

namespace gpufleet::broker {

struct BrokerConfig {
  std::string bind_endpoint = "tcp://*:5555";
  std::chrono::milliseconds heartbeat{1000};
  int liveness = 3;                        // heartbeats a worker may miss before its jobs are requeued
  std::chrono::milliseconds lease{30000};  // a running job without progress this long is taken back
  std::chrono::milliseconds reconcile{
      10000};                 // how often queued jobs in Redis that it does not hold are looked for
  uint32_t max_attempts = 3;  // a job lost (or out of memory) this many times fails instead of looping
  // A job whose worker was lost this many times while running it fails as `poison` (POISON_AFTER): a job that
  // crashes its worker would otherwise take down one worker after another.
  uint32_t poison_after = 2;
  int64_t retention_s = kDefaultJobTtlS;  // JOB_TTL
  RedisEndpoint redis;
  // Prometheus metrics on http://metrics_host:metrics_port/metrics (docs/operations.md); port 0: none.
  std::string metrics_host = "127.0.0.1";
  uint16_t metrics_port = 0;
  // CurveZMQ (docs/operations.md): the broker's secret key (Z85) and the worker keys it admits, with the
  // models each may serve. Empty secret: plain TCP, which is allowed on loopback only unless allow_plaintext.
  std::string curve_secret_key;
  std::string curve_clients_text;
  bool allow_plaintext = false;

  static BrokerConfig from_env();
};

class Broker {
 public:
  explicit Broker(BrokerConfig config);
  ~Broker();
  // Serves until `stop` becomes true. Throws only when the socket cannot be bound.
  void run(const std::atomic<bool>& stop);

 private:
  RetryLimits retry_limits() const { return {config_.max_attempts, config_.poison_after}; }
  bool recover();
  void handle(std::vector<zmq::message_t>& frames);
  void on_submission(Submission submission);
  void on_ready(const std::string& identity, const protocol::Ready& ready);
  void on_heartbeat(const std::string& identity, const protocol::Heartbeat& heartbeat);
  void on_result(const std::string& identity, const protocol::JobResult& result);
  void advance(const QueuedJob& job, const protocol::JobResult& result, const std::string& identity,
               QueuedJob next, std::function<void(bool accepted)> acknowledge);
  void on_goodbye(const std::string& identity);
  void lose_worker(const std::string& worker_id, const std::string& reason);
  void requeue_or_fail(Assignment assignment, ErrorCode code, const std::string& reason);
  void dispatch();
  void tick();
  void reconcile();
  void send_cancel(const Assignment& assignment, ErrorCode reason);
  void declare_metrics();
  void answer_zap();
  // With CURVE: the admitted client a message came from (its ZAP user id); empty without CURVE.
  std::string curve_user(zmq::message_t& frame) const;
  void update_gauges();
  template <typename T>
  void send(const std::string& identity, protocol::MessageType type, const T& body);

  BrokerConfig config_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  zmq::socket_t wake_;  // the submission reader's nudges
  zmq::socket_t zap_;   // CURVE's authentication requests (ZAP), answered in the poll loop
  Dispatcher dispatcher_;
  StatusWriter status_;
  std::unique_ptr<SubmissionReader> reader_;
  bool recovered_ = false;
  SteadyClock::time_point next_recovery_attempt_{};
  SteadyClock::time_point next_tick_{};
  SteadyClock::time_point next_reconcile_{};
  uint64_t dropped_frames_ = 0;
  MetricsRegistry metrics_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::map<std::string, double> mean_run_s_;  // by model: recent successful runs, for the backlog estimate
  CurveClients curve_clients_;
  Admission admission_{nullptr};  // over curve_clients_ with CURVE
};

}  // namespace gpufleet::broker
