#pragma once
// Delivers webhooks: POSTs a job's final record, signed, to the URL its client gave, and retries with backoff
// until the receiver answers 2xx (or 410), or the attempts run out.
//
// Nothing is lost when a gateway stops or dies. Final states come from the completions stream through a
// consumer group (an entry a dead gateway read but did not schedule is claimed by another after a minute);
// scheduled deliveries live in the <prefix>:webhooks sorted set, and a sender leases one before sending, so
// a delivery whose sender died is taken again when its lease runs out. A receiver may therefore see a
// delivery twice (at least once, never never): X-Gpufleet-Delivery identifies the job, not the attempt.
//
// Runs on threads of its own with blocking Redis clients: one reads the stream, `concurrency` deliver.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/config.hpp"
#include "common/metrics.hpp"
#include "gateway/webhooks.hpp"

namespace gpufleet {
class RedisClient;
}

namespace gpufleet::gateway {

struct WebhookConfig {
  std::string secret;                      // WEBHOOK_SECRET(_FILE); empty: webhooks are refused at submission
  std::vector<std::string> allowed_hosts;  // WEBHOOK_ALLOWED_HOSTS; empty: any host
  WebhookRetryPolicy retry;  // WEBHOOK_MAX_ATTEMPTS, WEBHOOK_RETRY_BASE_MS, WEBHOOK_RETRY_MAX_MS
  std::chrono::milliseconds timeout{10000};  // WEBHOOK_TIMEOUT_MS: connect, send and answer, per attempt
  int concurrency = 4;                       // WEBHOOK_CONCURRENCY: deliveries in flight per gateway
  std::string ca_file;  // WEBHOOK_CA_FILE: trust these CAs for https (default: the system's)
  // How long an entry read by a gateway that died stays unscheduled before another gateway claims it.
  std::chrono::milliseconds claim_idle{60000};

  bool enabled() const { return !secret.empty(); }
  static WebhookConfig from_env();
};

// The answer of one POST: the HTTP status, or 0 and why there was none.
struct WebhookResponse {
  int status = 0;
  std::string error;
};

class WebhookSender {
 public:
  WebhookSender(WebhookConfig config, RedisEndpoint redis, MetricsRegistry& metrics);
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  void start();
  void stop();

  // Declares the sender's metrics (before the registry is first rendered).
  static void declare_metrics(MetricsRegistry& metrics);

 private:
  void schedule_loop();
  void deliver_loop(int index);
  // One attempt for job `id` under the lease until `lease_until_ms`.
  void deliver(RedisClient& redis, const std::string& id, int64_t lease_until_ms);
  bool sleep_for(std::chrono::milliseconds duration);  // false once stopping

  WebhookConfig config_;
  RedisEndpoint redis_;
  MetricsRegistry& metrics_;
  std::string consumer_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> threads_;
};

// POSTs `body` as JSON to `url` with `headers` (common/http_client.hpp: one deadline, https verified, no
// redirects); gives up at once when `cancel` turns true. Unless `private_allowed` (the host is listed in
// WEBHOOK_ALLOWED_HOSTS), only public addresses are connected to (webhook_address_public).
WebhookResponse post_webhook(const WebhookUrl& url,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body, std::chrono::milliseconds timeout,
                             const std::string& ca_file, const std::atomic<bool>* cancel = nullptr,
                             bool private_allowed = false);

}  // namespace gpufleet::gateway
