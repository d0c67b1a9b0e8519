#include "gateway/webhook_sender.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <random>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/http_client.hpp"
#include "common/json_text.hpp"
#include "gateway/api.hpp"
#include "store/job_store.hpp"
#include "store/redis_client.hpp"

namespace gpufleet::gateway {

WebhookConfig WebhookConfig::from_env() {
  WebhookConfig config;
  if (auto file = env_value("WEBHOOK_SECRET_FILE")) {
    auto text = read_file(*file, 1 << 16);
    if (!text) throw ConfigError("WEBHOOK_SECRET_FILE: cannot read " + *file);
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
    config.secret = std::move(*text);
  } else {
    config.secret = env_string("WEBHOOK_SECRET", "");
  }
  if (!config.secret.empty() && config.secret.size() < 16) {
    throw ConfigError("WEBHOOK_SECRET must be at least 16 characters (receivers check signatures with it)");
  }
  config.allowed_hosts = split_list(env_string("WEBHOOK_ALLOWED_HOSTS", ""));
  config.retry.max_attempts =
      static_cast<int>(env_int("WEBHOOK_MAX_ATTEMPTS", config.retry.max_attempts, 1, 100));
  config.retry.first_delay = std::chrono::milliseconds(
      env_int("WEBHOOK_RETRY_BASE_MS", config.retry.first_delay.count(), 1, 3600000));
  config.retry.max_delay = std::chrono::milliseconds(
      env_int("WEBHOOK_RETRY_MAX_MS", config.retry.max_delay.count(), 1, 24LL * 3600000));
  config.timeout =
      std::chrono::milliseconds(env_int("WEBHOOK_TIMEOUT_MS", config.timeout.count(), 100, 600000));
  config.concurrency = static_cast<int>(env_int("WEBHOOK_CONCURRENCY", config.concurrency, 1, 256));
  config.ca_file = env_string("WEBHOOK_CA_FILE", "");
  config.claim_idle =
      std::chrono::milliseconds(env_int("WEBHOOK_CLAIM_IDLE_MS", config.claim_idle.count(), 100, 3600000));
  return config;
}

namespace {

std::string consumer_name() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return std::string("gateway-") + host + "-" + std::to_string(::getpid());
}

}  // namespace

WebhookResponse post_webhook(const WebhookUrl& url,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body, std::chrono::milliseconds timeout,
                             const std::string& ca_file, const std::atomic<bool>* cancel,
                             bool private_allowed) {
  std::vector<std::pair<std::string, std::string>> all{
      {"Content-Type", "application/json"}, {"User-Agent", "gpufleet-webhook/1"}, {"Connection", "close"}};
  all.insert(all.end(), headers.begin(), headers.end());
  HttpCallOptions options;
  options.timeout = timeout;
  options.ca_file = ca_file;
  options.max_body_bytes =
      size_t{64} * 1024;  // the answer's body is not used: a receiver cannot make us read much of it
  options.cancel = cancel;
  // Checked on the resolved addresses and connected to those very addresses: no DNS-rebinding window.
  if (!private_allowed) options.address_allowed = webhook_address_public;
  const auto result =
      http_call(HttpEndpoint{url.tls, url.host, url.port}, "POST", url.target, all, body, options);
  return WebhookResponse{result.status, result.error};
}

WebhookSender::WebhookSender(WebhookConfig config, RedisEndpoint redis, MetricsRegistry& metrics)
    : config_(std::move(config)), redis_(std::move(redis)), metrics_(metrics), consumer_(consumer_name()) {}

WebhookSender::~WebhookSender() {
  stop();
}

void WebhookSender::declare_metrics(MetricsRegistry& metrics) {
  metrics.counter(
      "gpufleet_webhook_attempts_total",
      "Webhook deliveries tried, by outcome (delivered, retry: to be tried again, failed: given up)");
  metrics.histogram("gpufleet_webhook_duration_seconds",
                    "Time from sending a webhook to the receiver's answer",
                    MetricsRegistry::duration_buckets());
}

void WebhookSender::start() {
  if (!threads_.empty()) return;
  threads_.emplace_back([this] { schedule_loop(); });
  for (int i = 0; i < config_.concurrency; ++i) threads_.emplace_back([this, i] { deliver_loop(i); });
}

void WebhookSender::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

bool WebhookSender::sleep_for(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, duration, [this] { return stopping_.load(); });
  return !stopping_;
}

void WebhookSender::schedule_loop() {
  RedisClient redis(redis_, std::chrono::milliseconds(5000));
  const RedisKeys keys = redis.keys();
  bool group_ready = false;
  auto last_claim = std::chrono::steady_clock::now() - config_.claim_idle;
  bool warned = false;
  while (!stopping_) {
    try {
      if (!group_ready) {
        // At "$": final states from before the first webhook-enabled gateway started have no webhooks anyway.
        auto reply = redis.command(
            {"XGROUP", "CREATE", keys.completions(), job_store::kWebhookGroup, "$", "MKSTREAM"});
        if (reply.is_error() && reply.str().find("BUSYGROUP") == std::string::npos)
          throw RedisError(reply.str());
        group_ready = true;
      }
      std::vector<RedisReply::StreamEntry> entries;
      // Entries a gateway read and then died before scheduling stay pending in the group: take them over.
      if (std::chrono::steady_clock::now() - last_claim >= config_.claim_idle / 2) {
        last_claim = std::chrono::steady_clock::now();
        auto reply = redis.command({"XAUTOCLAIM", keys.completions(), job_store::kWebhookGroup, consumer_,
                                    std::to_string(config_.claim_idle.count()), "0-0", "COUNT", "1000"});
        if (!reply.is_error()) entries = reply.stream_entries_at(1);
      }
      if (entries.empty()) {
        auto reply = redis.command({"XREADGROUP", "GROUP", job_store::kWebhookGroup, consumer_, "COUNT",
                                    "500", "BLOCK", "1000", "STREAMS", keys.completions(), ">"});
        if (reply.is_error()) {
          group_ready = false;  // NOGROUP: the stream was deleted; make the group again
          throw RedisError(reply.str());
        }
        entries = reply.stream_entries();
      }
      if (entries.empty()) continue;
      const int64_t now = unix_ms();
      for (const auto& entry : entries) {
        std::string id;
        for (const auto& [field, value] : entry.fields) {
          if (field == "id") id = value;
        }
        redis.append(job_store::webhook_schedule_command(keys, entry.id, id, now));
      }
      for (auto& reply : redis.flush()) {
        if (reply.is_error()) spdlog::warn("webhooks: scheduling refused: {}", reply.str());
      }
      if (warned) spdlog::info("webhooks: Redis reachable again");
      warned = false;
    } catch (const std::exception& error) {
      if (!warned) spdlog::warn("webhooks: cannot read completions: {}", error.what());
      warned = true;
      redis.disconnect();
      sleep_for(std::chrono::milliseconds(1000));
    }
  }
}

void WebhookSender::deliver_loop(int index) {
  RedisClient redis(redis_);
  redis.enable_job_store_scripts();
  const RedisKeys keys = redis.keys();
  // A lease outlives the attempt it covers, so that a live sender never loses its delivery to another.
  const auto lease = config_.timeout + std::chrono::milliseconds(5000);
  bool warned = false;
  while (!stopping_) {
    std::chrono::milliseconds idle(250 + 50 * index);  // spread the senders' polls
    try {
      const int64_t now = unix_ms();
      const int64_t lease_until = now + lease.count();
      auto reply = redis.command(job_store::webhook_claim_command(keys, now, lease_until));
      if (reply.is_error() || reply.size() != 2) throw RedisError("webhook claim: " + reply.str());
      warned = false;
      const std::string id = reply.element_str(0);
      if (!id.empty()) {
        deliver(redis, id, lease_until);
        continue;
      }
      if (const std::string next = reply.element_str(1); !next.empty()) {
        const int64_t wait_ms = static_cast<int64_t>(std::strtod(next.c_str(), nullptr)) - now;
        idle = std::chrono::milliseconds(std::clamp<int64_t>(wait_ms, 1, idle.count()));
      }
    } catch (const std::exception& error) {
      if (!warned) spdlog::warn("webhooks: cannot reach Redis: {}", error.what());
      warned = true;
      redis.disconnect();
      idle = std::chrono::milliseconds(1000);
    }
    sleep_for(idle);
  }
}

void WebhookSender::deliver(RedisClient& redis, const std::string& id, int64_t lease_until_ms) {
  const RedisKeys keys = redis.keys();
  job_store::WebhookOutcome outcome;
  outcome.id = id;
  outcome.lease_until_ms = lease_until_ms;
  const auto fields = redis.command({"HGETALL", keys.job(id)}).pairs();
  std::string url_text;
  int done_attempts = 0;
  for (const auto& [field, value] : fields) {
    if (field == job_field::kWebhook) url_text = value;
    if (field == job_field::kWebhookAttempts) {
      std::from_chars(value.data(), value.data() + value.size(), done_attempts);  // unreadable: 0, as none
    }
  }
  outcome.attempts = done_attempts + 1;
  auto parsed = parse_webhook_url(url_text);
  if (fields.empty() || std::holds_alternative<std::string>(parsed)) {
    // The record expired (or holds no usable URL, which the gateway never stores): nothing to send.
    outcome.kind = job_store::WebhookOutcome::Kind::kFailed;
    outcome.attempts = done_attempts;
    outcome.last_error = fields.empty() ? "the job record is gone" : std::get<std::string>(parsed);
    outcome.now_ms = unix_ms();
    redis.command(job_store::webhook_settle_command(keys, outcome));
    return;
  }
  const auto& url = std::get<WebhookUrl>(parsed);

  nlohmann::json job = render_job(fields);
  job.erase("webhook");  // the delivery's own bookkeeping, which this very delivery changes
  const nlohmann::json payload{{"event", "job.finished"}, {"attempt", outcome.attempts}, {"job", job}};
  const std::string body = dump_json(payload);
  const int64_t sent_ms = unix_ms();
  const std::vector<std::pair<std::string, std::string>> headers{
      {"X-Gpufleet-Event", "job.finished"},
      {"X-Gpufleet-Delivery", id},
      {"X-Gpufleet-Attempt", std::to_string(outcome.attempts)},
      {"X-Gpufleet-Signature", webhook_signature(config_.secret, sent_ms / 1000, body)}};
  const bool listed = webhook_host_listed(config_.allowed_hosts, url.host);
  const auto response =
      post_webhook(url, headers, body, config_.timeout, config_.ca_file, &stopping_, listed);
  // Stopped mid-delivery: the lease runs out and a gateway that still runs sends it again.
  if (stopping_) return;
  outcome.now_ms = unix_ms();
  outcome.last_status = response.status;
  metrics_.observe("gpufleet_webhook_duration_seconds", {},
                   static_cast<double>(outcome.now_ms - sent_ms) / 1000.0);

  const WebhookVerdict verdict =
      response.status == 0 ? WebhookVerdict::kRetry : webhook_verdict(response.status);
  if (verdict == WebhookVerdict::kDelivered) {
    outcome.kind = job_store::WebhookOutcome::Kind::kDelivered;
  } else {
    // The record (which the job's owner reads) says only that there was no answer; why stays in the log, so
    // that webhooks cannot be used to probe what the gateway can reach.
    outcome.last_error = response.status == 0 ? "no answer" : "HTTP " + std::to_string(response.status);
    if (response.status == 0) spdlog::info("job {}: webhook to {}: {}", id, url.text, response.error);
    if (verdict == WebhookVerdict::kGone || outcome.attempts >= config_.retry.max_attempts) {
      outcome.kind = job_store::WebhookOutcome::Kind::kFailed;
    } else {
      thread_local std::mt19937 random{std::random_device{}()};
      const double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(random);
      outcome.kind = job_store::WebhookOutcome::Kind::kRetry;
      outcome.next_due_ms =
          outcome.now_ms + webhook_retry_delay(config_.retry, outcome.attempts, jitter).count();
    }
  }
  const char* label = outcome.kind == job_store::WebhookOutcome::Kind::kDelivered ? "delivered"
                      : outcome.kind == job_store::WebhookOutcome::Kind::kRetry   ? "retry"
                                                                                  : "failed";
  metrics_.increment("gpufleet_webhook_attempts_total", {{"outcome", label}});
  if (outcome.kind == job_store::WebhookOutcome::Kind::kFailed) {
    spdlog::warn("job {}: webhook to {} given up after {} attempts: {}", id, url.text, outcome.attempts,
                 outcome.last_error);
  } else if (outcome.kind == job_store::WebhookOutcome::Kind::kRetry) {
    spdlog::info("job {}: webhook attempt {} failed ({}); next in {} ms", id, outcome.attempts,
                 outcome.last_error, outcome.next_due_ms - outcome.now_ms);
  }
  auto settled = redis.command(job_store::webhook_settle_command(keys, outcome));
  if (settled.is_integer() && settled.integer() == 0) {
    spdlog::warn("job {}: webhook lease ran out during delivery; another sender repeats it", id);
  }
}

}  // namespace gpufleet::gateway
