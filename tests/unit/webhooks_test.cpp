// Guards the pure parts of webhooks: which URLs are accepted (and why others are not), the host allow-list,
// the signature (HMAC-SHA256 against RFC 4231), the retry schedule, which answers end the deliveries, and how
// a submission and a job record carry the webhook.
#include "gateway/webhooks.hpp"

#include <gtest/gtest.h>

#include "gateway/api.hpp"

namespace gpufleet::gateway {
namespace {

WebhookUrl url_of(const std::string& text) {
  auto parsed = parse_webhook_url(text);
  EXPECT_TRUE(std::holds_alternative<WebhookUrl>(parsed)) << text << ": " << std::get<std::string>(parsed);
  return std::holds_alternative<WebhookUrl>(parsed) ? std::get<WebhookUrl>(parsed) : WebhookUrl{};
}

TEST(Webhooks, UrlsSplitIntoHostPortAndTarget) {
  auto plain = url_of("http://Hooks.Example.com/a/b?x=1#frag");
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.host, "hooks.example.com");
  EXPECT_EQ(plain.port, 80);
  EXPECT_EQ(plain.target, "/a/b?x=1");
  auto tls = url_of("HTTPS://10.0.0.7:8443");
  EXPECT_TRUE(tls.tls);
  EXPECT_EQ(tls.host, "10.0.0.7");
  EXPECT_EQ(tls.port, 8443);
  EXPECT_EQ(tls.target, "/");
  auto query_only = url_of("http://h?x=1");
  EXPECT_EQ(query_only.target, "/?x=1");
  auto v6 = url_of("http://[::1]:9000/hook");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 9000);
}

TEST(Webhooks, RefusesUrlsItCannotOrShouldNotCall) {
  for (const std::string& bad : std::vector<std::string>{
           "", "ftp://h/", "h/path", "http://", "http:///x", "http://user@h/", "http://h:/", "http://h:0/",
           "http://h:65536/", "http://h:8x/", "http://h /", "http://h/\x01", "http://[::1/", "http://-h/",
           "http://h\xc3\xa9/", std::string("http://h/") + std::string(2100, 'a')}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_webhook_url(bad))) << bad;
  }
}

TEST(Webhooks, HostAllowListMatchesNamesAndSubdomains) {
  const std::vector<std::string> allowed{"hooks.example.com", "*.internal.test", "10.0.0.7"};
  EXPECT_TRUE(webhook_host_allowed({}, "anything"));
  EXPECT_TRUE(webhook_host_allowed(allowed, "hooks.example.com"));
  EXPECT_TRUE(webhook_host_allowed(allowed, "HOOKS.example.com"));
  EXPECT_TRUE(webhook_host_allowed(allowed, "a.b.internal.test"));
  EXPECT_TRUE(webhook_host_allowed(allowed, "10.0.0.7"));
  EXPECT_FALSE(webhook_host_allowed(allowed, "internal.test"));
  EXPECT_FALSE(webhook_host_allowed(allowed, "evilinternal.test"));
  EXPECT_FALSE(webhook_host_allowed(allowed, "hooks.example.com.evil.org"));
  EXPECT_FALSE(webhook_host_allowed(allowed, "10.0.0.70"));
}

TEST(Webhooks, HmacMatchesRfc4231) {
  // RFC 4231, test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(webhook_signature("Jefe", 1700000000, "{}"),
            "t=1700000000,v1=" + hmac_sha256_hex("Jefe", "1700000000.{}"));
}

TEST(Webhooks, RetryDelaysDoubleUpToTheCapWithBoundedJitter) {
  WebhookRetryPolicy policy;
  policy.first_delay = std::chrono::milliseconds(1000);
  policy.max_delay = std::chrono::milliseconds(5000);
  EXPECT_EQ(webhook_retry_delay(policy, 1, 0).count(), 1000);
  EXPECT_EQ(webhook_retry_delay(policy, 2, 0).count(), 2000);
  EXPECT_EQ(webhook_retry_delay(policy, 3, 0).count(), 4000);
  EXPECT_EQ(webhook_retry_delay(policy, 4, 0).count(), 5000);
  EXPECT_EQ(webhook_retry_delay(policy, 60, 0).count(), 5000);
  EXPECT_EQ(webhook_retry_delay(policy, 1, 0.999).count(), 1199);
  EXPECT_EQ(webhook_retry_delay(policy, 1, 7).count(), 1200);
}

TEST(Webhooks, OnlySuccessAndGoneEndTheDeliveries) {
  EXPECT_EQ(webhook_verdict(200), WebhookVerdict::kDelivered);
  EXPECT_EQ(webhook_verdict(204), WebhookVerdict::kDelivered);
  EXPECT_EQ(webhook_verdict(410), WebhookVerdict::kGone);
  for (int status : {301, 400, 404, 429, 500, 503})
    EXPECT_EQ(webhook_verdict(status), WebhookVerdict::kRetry) << status;
}

TEST(Webhooks, SubmissionsCarryAWebhookOnlyWhereTheGatewayCanSendIt) {
  Catalog catalog;
  catalog.add(CatalogModel{"espeak", "tts", {"en"}, false, 22050, 1, 1, {"cpu"}});
  Limits limits;
  const std::string body = R"({"webhook":"https://hooks.example.com/x","input":{"text":"hi"}})";
  auto off = parse_job_submission("application/json", body, catalog, limits);
  ASSERT_TRUE(std::holds_alternative<ApiError>(off));
  EXPECT_NE(std::get<ApiError>(off).message.find("WEBHOOK_SECRET"), std::string::npos);

  limits.webhooks_enabled = true;
  auto on = parse_job_submission("application/json", body, catalog, limits);
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(on));
  EXPECT_EQ(std::get<SubmitRequest>(on).webhook, "https://hooks.example.com/x");
  EXPECT_FALSE(std::get<SubmitRequest>(on).input.contains("webhook"));

  limits.webhook_hosts = {"other.example.com"};
  EXPECT_TRUE(
      std::holds_alternative<ApiError>(parse_job_submission("application/json", body, catalog, limits)));
  EXPECT_TRUE(std::holds_alternative<ApiError>(
      parse_job_submission("application/json", R"({"webhook":5,"input":{"text":"hi"}})", catalog, limits)));
}

TEST(Webhooks, TheJobRecordShowsTheDeliveryState) {
  auto job = render_job({{"id", "j"},
                         {"state", "succeeded"},
                         {"webhook", "http://h/"},
                         {"webhook_state", "retrying"},
                         {"webhook_attempts", "2"},
                         {"webhook_last_status", "503"},
                         {"webhook_last_error", "HTTP 503"}});
  // The status class only: the record must not tell its reader what the gateway's network answered.
  EXPECT_EQ(
      job["webhook"],
      (nlohmann::json{{"url", "http://h/"}, {"state", "retrying"}, {"attempts", 2}, {"last_status", "5xx"}}));
  auto unanswered = render_job({{"id", "j"},
                                {"state", "succeeded"},
                                {"webhook", "http://h/"},
                                {"webhook_attempts", "1"},
                                {"webhook_last_error", "Connection refused"}});
  EXPECT_EQ(unanswered["webhook"]["last_status"], "no_answer");
  EXPECT_FALSE(unanswered["webhook"].contains("last_error"));
  auto waiting = render_job({{"id", "j"}, {"state", "running"}, {"webhook", "http://h/"}});
  EXPECT_EQ(waiting["webhook"]["state"], "waiting");
  EXPECT_FALSE(render_job({{"id", "j"}, {"state", "running"}}).contains("webhook"));
}

// Webhook SSRF: with WEBHOOK_ALLOWED_HOSTS unset the gateway POSTed to Redis on 127.0.0.1:6379, to metadata
// services and to private networks, in every spelling of an address.
TEST(Webhooks, OnlyPublicAddressesAreDeliveredToUnlessListed) {
  auto address = [](const char* text) { return boost::asio::ip::make_address(text); };
  for (const char* refused : {"127.0.0.1",      "10.1.2.3",        "172.16.0.1", "172.31.255.255",
                              "192.168.1.1",    "169.254.169.254", "100.64.0.1", "0.0.0.0",
                              "224.0.0.1",      "255.255.255.255", "::1",        "::",
                              "fe80::1",        "fd00:ec2::254",   "fc00::1",    "::ffff:127.0.0.1",
                              "::ffff:8.8.8.8", "64:ff9b::7f00:1", "ff02::1",    "2001:db8::1"}) {
    EXPECT_FALSE(webhook_address_public(address(refused))) << refused;
  }
  for (const char* allowed : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111"}) {
    EXPECT_TRUE(webhook_address_public(address(allowed))) << allowed;
  }
}

TEST(Webhooks, AddressLiteralsInAnySpellingAndLocalNamesAreRefusedAtSubmission) {
  for (const char* host :
       {"127.0.0.1", "127.1", "0x7f000001", "2130706433", "0177.0.0.1", "localhost", "LOCALHOST",
        "api.localhost", "::ffff:127.0.0.1", "::1", "169.254.169.254", "10.0.0.7"}) {
    EXPECT_TRUE(webhook_host_refused(host).has_value()) << host;
  }
  for (const char* host : {"hooks.example.com", "8.8.8.8", "example.com"}) {
    EXPECT_FALSE(webhook_host_refused(host).has_value()) << host;
  }
  Catalog catalog;
  catalog.add(CatalogModel{"espeak", "tts", {"en"}, false, 22050, 1, 1, {"cpu"}});
  Limits limits;
  limits.webhooks_enabled = true;
  const std::string body = R"({"webhook":"http://127.0.0.1:6379/","input":{"text":"hi"}})";
  EXPECT_TRUE(
      std::holds_alternative<ApiError>(parse_job_submission("application/json", body, catalog, limits)));
  // Listed, it is the operator's own receiver.
  limits.webhook_hosts = {"127.0.0.1"};
  EXPECT_TRUE(
      std::holds_alternative<SubmitRequest>(parse_job_submission("application/json", body, catalog, limits)));
  EXPECT_TRUE(webhook_host_listed(limits.webhook_hosts, "127.0.0.1"));
  EXPECT_FALSE(webhook_host_listed({}, "127.0.0.1"));
}

}  // namespace
}  // namespace gpufleet::gateway
