// Guards webhooks on completion with a real fleet and real receivers: the final record is POSTed, signed with
// HMAC-SHA256 over the timestamp and body; failed deliveries are tried again with growing delays and given up
// after WEBHOOK_MAX_ATTEMPTS (at once on 410); a cancelled job is notified too; https verifies the receiver's
// certificate; and no delivery is lost when the gateway dies mid-retry or between reading a final state and
// scheduling its delivery.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <csignal>

#include "common/files.hpp"
#include "common/utf8.hpp"
#include "store/job_store.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/http_sink.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kSecret = "test-secret-for-webhooks-0123456789";

// The receiver's side of the signature, computed here with OpenSSL directly rather than through gpufleet.
bool signature_valid(const ReceivedRequest& request) {
  const std::string header =
      request.headers.count("x-gpufleet-signature") ? request.headers.at("x-gpufleet-signature") : "";
  const auto comma = header.find(",v1=");
  if (header.rfind("t=", 0) != 0 || comma == std::string::npos) return false;
  const std::string stamp = header.substr(2, comma - 2);
  const std::string message = stamp + "." + request.body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kSecret, static_cast<int>(std::strlen(kSecret)),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  char hex[2 * EVP_MAX_MD_SIZE + 1] = {};
  for (unsigned int i = 0; i < length; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  const long long age_s = std::time(nullptr) - std::stoll(stamp);
  return header.substr(comma + 4) == hex && age_s >= 0 && age_s < 60;
}

class WebhooksTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TempDir();
    trusted_ = new SinkTls(make_self_signed_certificate(certs_->path(), "trusted"));
    FleetOptions options;
    options.env = {{"WEBHOOK_SECRET", kSecret},
                   {"WEBHOOK_RETRY_BASE_MS", "300"},
                   {"WEBHOOK_RETRY_MAX_MS", "2000"},
                   {"WEBHOOK_MAX_ATTEMPTS", "4"},
                   {"WEBHOOK_TIMEOUT_MS", "3000"},
                   {"WEBHOOK_CLAIM_IDLE_MS", "1000"},
                   {"WEBHOOK_CA_FILE", trusted_->certificate.string()},
                   {"WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,*.example.com"}};
    fleet_ = new Fleet(options);
  }
  static void TearDownTestSuite() {
    delete fleet_;
    delete trusted_;
    delete certs_;
  }
  void TearDown() override {
    if (HasFailure()) fleet_->dump_logs();
  }

  static std::string submit_noop(const std::string& webhook, int sleep_ms = 0) {
    return fleet_->submit(
        {{"model", "noop"}, {"webhook", webhook}, {"input", {{"text", "hook"}, {"sleep_ms", sleep_ms}}}});
  }
  // The job's record once its webhook reached `state` (or as it is after `timeout`).
  static json wait_webhook_state(const std::string& id, const std::string& state, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json job;
    do {
      job = json::parse(fleet_->get("/v1/jobs/" + id).body, nullptr, false);
      if (job.is_object() && job.contains("webhook") && job["webhook"]["state"] == state) return job;
      std::this_thread::sleep_for(milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return job;
  }

  static TempDir* certs_;
  static SinkTls* trusted_;
  static Fleet* fleet_;
};
TempDir* WebhooksTest::certs_ = nullptr;
SinkTls* WebhooksTest::trusted_ = nullptr;
Fleet* WebhooksTest::fleet_ = nullptr;

TEST_F(WebhooksTest, DeliversTheSignedFinalRecordAndRetriesWithGrowingDelays) {
  HttpSink sink({500, 503, 200});
  const std::string url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/hooks/jobs?source=test";
  const std::string id = submit_noop(url);
  ASSERT_TRUE(sink.wait_requests(3, std::chrono::seconds(20))) << sink.requests().size() << " requests";

  const auto requests = sink.requests();
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE("attempt " + std::to_string(i + 1));
    const auto& request = requests[i];
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/hooks/jobs?source=test");
    EXPECT_EQ(request.headers.at("content-type"), "application/json");
    EXPECT_EQ(request.headers.at("x-gpufleet-event"), "job.finished");
    EXPECT_EQ(request.headers.at("x-gpufleet-delivery"), id);
    EXPECT_EQ(request.headers.at("x-gpufleet-attempt"), std::to_string(i + 1));
    EXPECT_TRUE(signature_valid(request)) << request.headers.at("x-gpufleet-signature");
    const json body = json::parse(request.body);
    EXPECT_EQ(body["event"], "job.finished");
    EXPECT_EQ(body["attempt"], i + 1);
    EXPECT_EQ(body["job"]["id"], id);
    EXPECT_EQ(body["job"]["state"], "succeeded");
    EXPECT_TRUE(body["job"].contains("result"));
    EXPECT_TRUE(body["job"]["timings"].contains("total_ms"));
  }
  // A tampered body fails the check the receiver makes.
  auto tampered = requests[0];
  tampered.body += " ";
  EXPECT_FALSE(signature_valid(tampered));

  // Waits of 300 ms and then 600 ms (each up to a fifth longer), measured at the receiver.
  const auto first_gap = std::chrono::duration_cast<milliseconds>(requests[1].at - requests[0].at).count();
  const auto second_gap = std::chrono::duration_cast<milliseconds>(requests[2].at - requests[1].at).count();
  EXPECT_GE(first_gap, 280);
  EXPECT_GE(second_gap, 580);
  EXPECT_GT(second_gap, first_gap);

  const json job = wait_webhook_state(id, "delivered", std::chrono::seconds(5));
  EXPECT_EQ(job["webhook"]["attempts"], 3) << job.dump();
  EXPECT_EQ(job["webhook"]["last_status"], "2xx");
  EXPECT_EQ(job["webhook"]["url"], url);
  EXPECT_TRUE(job["webhook"].contains("delivered_at_ms"));
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(sink.requests().size(), 3u) << "a delivered webhook was sent again";
}

TEST_F(WebhooksTest, GivesUpAfterMaxAttemptsAndAt410AtOnce) {
  HttpSink failing({}, 500);
  HttpSink gone({}, 410);
  const std::string failing_id = submit_noop("http://127.0.0.1:" + std::to_string(failing.port()) + "/");
  const std::string gone_id = submit_noop("http://127.0.0.1:" + std::to_string(gone.port()) + "/");

  const json failed = wait_webhook_state(failing_id, "failed", std::chrono::seconds(20));
  EXPECT_EQ(failed["webhook"]["attempts"], 4) << failed.dump();
  EXPECT_EQ(failed["webhook"]["last_status"], "5xx");
  EXPECT_FALSE(failed["webhook"].contains("last_error"));
  const json stopped = wait_webhook_state(gone_id, "failed", std::chrono::seconds(10));
  EXPECT_EQ(stopped["webhook"]["attempts"], 1) << stopped.dump();
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(failing.requests().size(), 4u);
  EXPECT_EQ(gone.requests().size(), 1u);
}

TEST_F(WebhooksTest, ACancelledJobIsNotified) {
  HttpSink sink;
  const std::string id = submit_noop("http://127.0.0.1:" + std::to_string(sink.port()) + "/", 5000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fleet_->wait_job(id, 0)["state"] != "running" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_EQ(fleet_->request("DELETE", "/v1/jobs/" + id).status, 202);
  ASSERT_TRUE(sink.wait_requests(1, std::chrono::seconds(15)));
  const json body = json::parse(sink.requests()[0].body);
  EXPECT_EQ(body["job"]["state"], "cancelled");
  EXPECT_EQ(body["job"]["error"]["code"], "cancelled");
}

TEST_F(WebhooksTest, HttpsVerifiesTheReceiversCertificate) {
  HttpSink trusted({}, 200, *trusted_);
  const std::string ok_id = submit_noop("https://127.0.0.1:" + std::to_string(trusted.port()) + "/tls");
  ASSERT_TRUE(trusted.wait_requests(1, std::chrono::seconds(15)));
  EXPECT_TRUE(signature_valid(trusted.requests()[0]));
  EXPECT_EQ(wait_webhook_state(ok_id, "delivered", std::chrono::seconds(5))["webhook"]["attempts"], 1);

  // A receiver whose certificate the gateway does not trust never gets the job's record.
  HttpSink stranger({}, 200, make_self_signed_certificate(certs_->path(), "stranger"));
  const std::string refused_id = submit_noop("https://127.0.0.1:" + std::to_string(stranger.port()) + "/");
  const json job = wait_webhook_state(refused_id, "failed", std::chrono::seconds(20));
  EXPECT_EQ(job["webhook"]["attempts"], 4) << job.dump();
  // The owner learns that nothing answered; why (the certificate) is the operator's to read in the log.
  EXPECT_EQ(job["webhook"]["last_status"], "no_answer") << job.dump();
  EXPECT_NE(read_file(fleet_->stack().log_path("gateway"), 64 << 20).value_or("").find("certificate"),
            std::string::npos);
  EXPECT_TRUE(stranger.requests().empty());
}

TEST_F(WebhooksTest, RefusesWebhooksItWouldNotSend) {
  const json input{{"text", "x"}};
  for (const char* url : {"ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/", "http://10.1.2.3/",
                          "https://example.com/", "http://127.0.0.1:0/", "not a url"}) {
    SCOPED_TRACE(url);
    auto response =
        fleet_->post("/v1/jobs", json{{"model", "noop"}, {"webhook", url}, {"input", input}}.dump());
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(json::parse(response.body)["error"]["code"], "invalid_request");
  }
  auto allowed = fleet_->post(
      "/v1/jobs",
      json{{"model", "noop"}, {"webhook", "https://hooks.example.com/x"}, {"input", input}}.dump());
  EXPECT_EQ(allowed.status, 202) << allowed.body;
}

TEST_F(WebhooksTest, NothingIsLostWhenTheGatewayDiesMidRetry) {
  std::optional<HttpSink> sink(std::in_place, std::vector<int>{500});
  const uint16_t port = sink->port();
  const std::string id = submit_noop("http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_TRUE(sink->wait_requests(1, std::chrono::seconds(10)));
  sink.reset();  // the receiver goes away: connections are refused
  const json retrying = wait_webhook_state(id, "retrying", std::chrono::seconds(5));
  ASSERT_EQ(retrying["webhook"]["state"], "retrying") << retrying.dump();

  fleet_->stack().restart_gateway(SIGKILL);
  ASSERT_TRUE(fleet_->stack().wait_healthy(std::chrono::seconds(20)));
  sink.emplace(std::vector<int>{}, 200, std::nullopt, port);
  ASSERT_TRUE(sink->wait_requests(1, std::chrono::seconds(15)));
  EXPECT_EQ(json::parse(sink->requests()[0].body)["job"]["id"], id);
  const json job = wait_webhook_state(id, "delivered", std::chrono::seconds(5));
  EXPECT_GE(job["webhook"]["attempts"].get<int>(), 2) << job.dump();
}

TEST_F(WebhooksTest, AFinalStateReadByAGatewayThatDiedIsTakenOverByTheNextOne) {
  HttpSink sink;
  auto& stack = fleet_->stack();
  stack.stop_gateway(SIGKILL);
  // With no gateway running, a job is submitted straight to the job store and runs; a gateway that "died"
  // reads its final state from the group without scheduling it.
  RedisClient redis(fleet_->redis_endpoint());
  redis.enable_job_store_scripts();
  job_store::NewJob job;
  job.id = new_job_id();
  job.kind = "tts";
  job.model = "noop";
  job.input_json = R"({"text":"x"})";
  job.created_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  job.webhook = "http://127.0.0.1:" + std::to_string(sink.port()) + "/takeover";
  ASSERT_FALSE(redis.command(job_store::submit_command(fleet_->keys(), job)).is_error());
  std::vector<RedisReply::StreamEntry> read;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (read.empty() && std::chrono::steady_clock::now() < deadline) {
    auto reply = redis.command({"XREADGROUP", "GROUP", job_store::kWebhookGroup, "dead-gateway", "COUNT",
                                "10", "BLOCK", "500", "STREAMS", fleet_->keys().completions(), ">"});
    for (auto& entry : reply.stream_entries()) read.push_back(entry);
  }
  ASSERT_FALSE(read.empty())
      << "the job did not finish: "
      << nlohmann::json(redis.command({"HGETALL", fleet_->keys().job(job.id)}).pairs()).dump();
  EXPECT_EQ(
      redis.command({"XPENDING", fleet_->keys().completions(), job_store::kWebhookGroup}).element_integer(0),
      1);

  stack.resume_gateway();
  ASSERT_TRUE(stack.wait_healthy(std::chrono::seconds(20)));
  ASSERT_TRUE(sink.wait_requests(1, std::chrono::seconds(15)));
  EXPECT_EQ(sink.requests()[0].target, "/takeover");
  EXPECT_EQ(json::parse(sink.requests()[0].body)["job"]["id"], job.id);
  EXPECT_EQ(
      redis.command({"XPENDING", fleet_->keys().completions(), job_store::kWebhookGroup}).element_integer(0),
      0);
}

// Guards the gateway's JSON writers against bytes a record may hold (#33): a job record whose strings are
// not UTF-8 (written by an older component, a script or an operator's redis-cli) made nlohmann's dump()
// throw in GET /v1/jobs/{id}, in the event stream's snapshot and in the webhook sender. Each now writes the
// bad bytes as U+FFFD, and each answer is valid JSON.
TEST_F(WebhooksTest, IllFormedBytesInARecordReachEveryWriterAsReplacementCharacters) {
  HttpSink sink;
  const std::string id =
      submit_noop("http://127.0.0.1:" + std::to_string(sink.port()) + "/bad-bytes", /*sleep_ms=*/1500);
  RedisClient redis(fleet_->redis_endpoint());
  const std::string bad = std::string("lost \xff\xfe worker \xc3(");
  ASSERT_FALSE(redis
                   .command({"HSET", fleet_->keys().job(id), "last_error_code", "worker_lost",
                             "last_error_message", bad})
                   .is_error());
  const std::string replacement = "\xEF\xBF\xBD";
  auto check_json = [&](const std::string& what, const std::string& text) {
    EXPECT_TRUE(utf8_valid(text)) << what;
    const json parsed = json::parse(text, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << what << ": " << text.substr(0, 300);
    const json* job = parsed.contains("job") ? &parsed["job"] : &parsed;
    ASSERT_TRUE(job->contains("last_attempt_error")) << what << ": " << text.substr(0, 300);
    const std::string message = (*job)["last_attempt_error"]["message"];
    EXPECT_NE(message.find(replacement), std::string::npos) << what << ": " << message;
    EXPECT_EQ(message.rfind("lost ", 0), 0u) << what << ": " << message;
  };

  // GET /v1/jobs/{id} while the job runs, and once it is final.
  auto running = fleet_->get("/v1/jobs/" + id);
  ASSERT_EQ(running.status, 200) << running.body;
  check_json("GET /v1/jobs/{id}", running.body);
  const json final_job = wait_webhook_state(id, "delivered", std::chrono::seconds(15));
  EXPECT_EQ(final_job.value("state", ""), "succeeded") << final_job.dump();

  // The event stream of a final job: its snapshot, then the end.
  auto events = fleet_->get("/v1/jobs/" + id + "/events", std::chrono::seconds(10));
  ASSERT_EQ(events.status, 200) << events.body;
  const auto data = events.body.find("data: ");
  ASSERT_NE(data, std::string::npos) << events.body;
  check_json("GET /v1/jobs/{id}/events",
             events.body.substr(data + 6, events.body.find('\n', data) - data - 6));

  // The webhook's body.
  ASSERT_TRUE(sink.wait_requests(1, std::chrono::seconds(10)));
  check_json("webhook", sink.requests()[0].body);
}

}  // namespace
}  // namespace gpufleet::testing
