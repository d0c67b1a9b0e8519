// The fleet end to end, with real parts: redis-server, gpufleet-broker, two gpufleet-workers and
// gpufleet-gateway, talking over real sockets and writing real files.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <set>
#include <thread>

#include "common/api_keys.hpp"
#include "common/files.hpp"
#include "common/wav.hpp"
#include "tests/support/fleet_fixture.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

class FleetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fleet_ = new Fleet(
        FleetOptions{2, "espeak,noop", 1, {{"MAX_TEXT_CHARS", "500"}, {"MAX_BODY_BYTES", "65536"}}});
  }
  static void TearDownTestSuite() {
    delete fleet_;
    fleet_ = nullptr;
  }
  static Fleet* fleet_;
};

Fleet* FleetTest::fleet_ = nullptr;

TEST_F(FleetTest, HealthShowsTheOriginalShapeAndTheFleet) {
  auto response = fleet_->get("/health");
  ASSERT_EQ(response.status, 200) << response.body;
  auto health = json::parse(response.body);
  EXPECT_EQ(health["status"], "healthy");
  EXPECT_EQ(health["device"], "cpu");
  EXPECT_EQ(health["capabilities"]["cuda"], false);
  EXPECT_EQ(health["capabilities"]["mps"], false);
  EXPECT_EQ(health["models"]["tts"], true);
  EXPECT_EQ(health["models"]["video"], false);
  EXPECT_EQ(health["fleet"]["workers"], 2);
  EXPECT_EQ(health["fleet"]["workers_by_device"]["cpu"], 2);
  EXPECT_EQ(health["fleet"]["redis"], "up");
  EXPECT_EQ(health["fleet"]["broker"], "up");
  EXPECT_TRUE(health["fleet"]["queue_depth"].is_number());
}

TEST_F(FleetTest, TtsGenerateReturnsRealSpeechSynchronously) {
  const std::string text = "The fleet replaces a single GPU service with a broker and workers.";
  auto response = fleet_->post("/tts/generate", json{{"text", text}, {"language", "en"}}.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = json::parse(response.body);
  EXPECT_EQ(body["success"], true);
  EXPECT_GT(body["generation_time_ms"].get<double>(), 0.0);
  const std::string path = body["audio_path"];
  EXPECT_EQ(std::filesystem::path(path).parent_path().parent_path(), fleet_->storage());
  auto bytes = read_file(path, 1 << 26);
  ASSERT_TRUE(bytes);
  auto audio = check_wav_bytes(*bytes);
  EXPECT_EQ(audio.sample_rate, 22050u);
  // 11 words: espeak speaks roughly 2-4 words a second at its default rate.
  EXPECT_GT(audio.duration_s, 11 * 0.2);
  EXPECT_LT(audio.duration_s, 11 * 0.8);
  EXPECT_NEAR(body["duration_s"].get<double>(), audio.duration_s, 1e-3);
  EXPECT_GT(audio.rms, 300.0) << "the file is (nearly) silent";
}

TEST_F(FleetTest, AsyncJobWalksThroughItsStatesAndPublishesThem) {
  EventRecorder events(fleet_->redis_endpoint(), fleet_->keys().job_events());
  const std::string id = fleet_->submit({{"input", {{"text", "Polling works too."}, {"language", "en"}}}});
  ASSERT_FALSE(id.empty());
  auto job = fleet_->wait_job(id);
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["model"], "espeak");
  EXPECT_EQ(job["attempts"], 1);
  EXPECT_TRUE(job["worker"].is_string());
  EXPECT_GE(job["timings"]["total_ms"].get<int64_t>(), 0);
  EXPECT_EQ(job["input"]["text"], "Polling works too.");

  ASSERT_TRUE(events.wait_final(id, std::chrono::seconds(5)));
  std::vector<std::string> states;
  for (const auto& event : events.events_for(id)) states.push_back(event["state"]);
  EXPECT_EQ(states, (std::vector<std::string>{"queued", "running", "succeeded"}));
  auto final_event = events.events_for(id).back();
  EXPECT_EQ(final_event["result"]["audio_path"], job["result"]["audio_path"]);

  // The Redis record is the same one the API rendered.
  RedisClient redis(fleet_->redis_endpoint());
  EXPECT_EQ(redis.command({"HGET", fleet_->keys().job(id), "state"}).str(), "succeeded");
  EXPECT_GT(redis.command({"TTL", fleet_->keys().job(id)}).integer(), 0);  // finished jobs expire

  // The result streams with its content type, byte for byte the stored file.
  auto result = fleet_->get("/v1/jobs/" + id + "/result");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.headers["content-type"], "audio/wav");
  EXPECT_EQ(result.body, read_file(job["result"]["audio_path"].get<std::string>(), 1 << 26));
}

TEST_F(FleetTest, UnknownJobIsDistinguishableFromAQueuedOne) {
  auto unknown = fleet_->get("/v1/jobs/0123456789abcdef0123456789abcdef");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "not_found");
  EXPECT_EQ(fleet_->get("/v1/jobs/not-an-id").status, 404);
  EXPECT_EQ(fleet_->get("/v1/jobs/0123456789abcdef0123456789abcdef?wait=5").status, 404);

  // Occupy both workers' single slots, then a third job must be visibly queued.
  std::vector<std::string> blockers;
  for (int i = 0; i < 2; ++i) {
    blockers.push_back(fleet_->submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", 1500}}}}));
  }
  const std::string queued = fleet_->submit({{"model", "noop"}, {"input", {{"text", "y"}}}});
  auto response = fleet_->get("/v1/jobs/" + queued);
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body)["state"], "queued");
  auto not_ready = fleet_->get("/v1/jobs/" + queued + "/result");
  EXPECT_EQ(not_ready.status, 409);
  EXPECT_EQ(json::parse(not_ready.body)["error"]["code"], "not_ready");
  EXPECT_EQ(fleet_->wait_job(queued)["state"], "succeeded");
  for (const auto& id : blockers) {
    auto job = fleet_->wait_job(id);
    EXPECT_EQ(job["state"], "succeeded");
    // 1.5 s of model time against 100 ms heartbeats and a 300 ms liveness: only heartbeats sent while the
    // model runs keep the worker from being declared lost and the job from being run twice.
    EXPECT_EQ(job["attempts"], 1) << job.dump();
  }
  // A job without a file says so instead of streaming nothing.
  EXPECT_EQ(fleet_->get("/v1/jobs/" + queued + "/result").status, 404);
}

TEST_F(FleetTest, WaitReturnsTheCurrentStateWhenTimeRunsOut) {
  const std::string id = fleet_->submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", 1500}}}});
  auto job = fleet_->wait_job(id, 0.2);
  EXPECT_TRUE(job["state"] == "queued" || job["state"] == "running") << job.dump();
  EXPECT_EQ(fleet_->wait_job(id)["state"], "succeeded");
}

TEST_F(FleetTest, BadInputGetsAJsonErrorWithTheRightStatus) {
  struct Case {
    std::string target, body, content_type;
    int status;
    std::string code;
  };
  const std::vector<Case> cases{
      {"/v1/jobs", "{not json", "application/json", 400, "invalid_json"},
      {"/v1/jobs", R"({"input":{"language":"en"}})", "application/json", 400, "missing_field"},
      {"/v1/jobs", R"({"input":{"text":""}})", "application/json", 400, "missing_field"},
      {"/v1/jobs", json{{"input", {{"text", std::string(501, 'a')}}}}.dump(), "application/json", 422,
       "text_too_long"},
      {"/v1/jobs", R"({"input":{"text":"hi","language":"tlh"}})", "application/json", 422,
       "unsupported_language"},
      {"/v1/jobs", R"({"model":"xtts-v9","input":{"text":"hi"}})", "application/json", 404, "unknown_model"},
      {"/v1/jobs", R"({"input":{"text":"hi"}})", "text/plain", 415, "unsupported_media_type"},
      {"/v1/jobs", R"({"input":{"text":"hi"}})", "application/json; charset=utf-8", 202, ""},
      {"/tts/generate", R"({"text":"hi","speaker_wav":"/etc/passwd"})", "application/json", 422,
       "cannot_clone"},
      {"/tts/generate", R"({"text":"   "})", "application/json", 400, "missing_field"},
      {"/v1/jobs", std::string(70000, ' '), "application/json", 413, "payload_too_large"},
      {"/v1/nothing", "{}", "application/json", 404, "not_found"},
  };
  for (const auto& c : cases) {
    auto response = fleet_->post(c.target, c.body, c.content_type);
    EXPECT_EQ(response.status, c.status)
        << c.target << " " << c.body.substr(0, 60) << " -> " << response.body;
    if (c.code.empty()) continue;
    auto body = json::parse(response.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << response.body;
    EXPECT_EQ(body["error"]["code"], c.code) << c.body.substr(0, 60);
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  }
  auto wrong_method = cli::http_request("DELETE", "127.0.0.1", fleet_->stack().config().http_port, "/health");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.headers["allow"], "GET, HEAD");
  EXPECT_EQ(fleet_->get("/v1/jobs/0123456789abcdef0123456789abcdef?wait=soon").status, 400);
}

// Sends raw bytes and returns what the gateway answered (empty if it closed without answering).
std::string raw_exchange(uint16_t port, const std::string& bytes) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(bytes));
  socket.shutdown(asio::ip::tcp::socket::shutdown_send);
  std::string answer;
  boost::system::error_code ec;
  char buffer[4096];
  while (true) {
    size_t n = socket.read_some(asio::buffer(buffer), ec);
    if (ec) break;
    answer.append(buffer, n);
  }
  return answer;
}

TEST_F(FleetTest, MalformedHttpIsAnsweredAndTheGatewayKeepsServing) {
  const uint16_t port = fleet_->stack().config().http_port;
  EXPECT_NE(raw_exchange(port, "GARBAGE\r\n\r\n").find("400"), std::string::npos);
  EXPECT_NE(raw_exchange(port, "POST /v1/jobs HTTP/1.1\r\nContent-Length: nope\r\n\r\n").find("400"),
            std::string::npos);
  EXPECT_NE(raw_exchange(port, "GET /health HTTP/1.1\r\nHost: x\r\n" + std::string(20000, 'X') + "\r\n\r\n")
                .find("431"),
            std::string::npos);
  EXPECT_NE(raw_exchange(port, "POST /v1/jobs HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n").find("413"),
            std::string::npos);
  raw_exchange(port, std::string("\x00\xff\x13\x37", 4));
  EXPECT_EQ(fleet_->get("/health").status, 200);
}

TEST_F(FleetTest, ModelsListingShowsWhatTheFleetServes) {
  auto response = fleet_->get("/v1/models");
  ASSERT_EQ(response.status, 200);
  auto models = json::parse(response.body)["models"];
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0]["name"], "espeak");
  EXPECT_EQ(models[0]["workers"], 2);
  EXPECT_EQ(models[0]["default"], true);
  EXPECT_EQ(models[0]["cloning"], false);
  EXPECT_EQ(models[1]["name"], "noop");
}

// Guards API keys and CORS through the real gateway: with keys configured every endpoint but /health needs
// a known bearer token (401 JSON otherwise, with WWW-Authenticate), a key over its rate gets 429 with
// Retry-After while another key is unaffected, and an allowed browser origin gets its CORS headers and a
// preflight answer while others get none.
TEST(FleetAuth, KeysRatesAndCors) {
  const auto [alice, alice_line] = ApiKeys::generate("alice", 1, 2);
  const auto [bob, bob_line] = ApiKeys::generate("bob");
  Fleet fleet(
      FleetOptions{1,
                   "espeak",
                   1,
                   {{"API_KEYS", alice_line + ";" + bob_line}, {"CORS_ORIGINS", "https://studio.example"}}});
  EXPECT_EQ(fleet.get("/health").status, 200);
  auto as = [&fleet](const std::string& token, const std::string& method, const std::string& target,
                     std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return fleet.request(method, target, "", headers);
  };
  auto anonymous = as("", "GET", "/v1/models");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(json::parse(anonymous.body)["error"]["code"], "unauthorized");
  EXPECT_EQ(anonymous.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(as("gf_0000", "GET", "/v1/models").status, 401);
  EXPECT_EQ(as("", "POST", "/tts/generate").status, 401);

  // Alice: a burst of two, then one per second; Bob is not limited.
  EXPECT_EQ(as(alice, "GET", "/v1/models").status, 200);
  EXPECT_EQ(as(alice, "GET", "/v1/models").status, 200);
  auto limited = as(alice, "GET", "/v1/models");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(json::parse(limited.body)["error"]["code"], "rate_limited");
  EXPECT_EQ(limited.headers["retry-after"], "1");
  EXPECT_EQ(as(bob, "GET", "/v1/models").status, 200);
  auto created = fleet.request("POST", "/v1/jobs", R"({"input":{"text":"With a key."}})",
                               {{"Authorization", "Bearer " + bob}});
  EXPECT_EQ(created.status, 202) << created.body;

  auto allowed = as(bob, "GET", "/v1/models", {{"Origin", "https://studio.example"}});
  EXPECT_EQ(allowed.headers["access-control-allow-origin"], "https://studio.example");
  auto preflight = as("", "OPTIONS", "/v1/jobs", {{"Origin", "https://studio.example"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_NE(preflight.headers["access-control-allow-headers"].find("Authorization"), std::string::npos);
  auto foreign = as(bob, "GET", "/v1/models", {{"Origin", "https://elsewhere.example"}});
  EXPECT_EQ(foreign.status, 200);
  EXPECT_EQ(foreign.headers.count("access-control-allow-origin"), 0u);

  // The event streams also take the key as ?access_token= (browsers' EventSource sends no headers); other
  // endpoints do not, and the dashboard's page itself is open (its calls are not).
  const std::string id = json::parse(created.body)["id"];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (json::parse(as(bob, "GET", "/v1/jobs/" + id).body).value("state", "") != "succeeded" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto stream = as("", "GET", "/v1/jobs/" + id + "/events?access_token=" + bob);
  EXPECT_EQ(stream.status, 200);
  EXPECT_NE(stream.body.find("event: snapshot"), std::string::npos) << stream.body;
  EXPECT_EQ(as("", "GET", "/v1/jobs/" + id + "/events?access_token=gf_wrong").status, 401);
  EXPECT_EQ(as("", "GET", "/v1/jobs/" + id + "?access_token=" + bob).status, 401);
  EXPECT_EQ(as("", "GET", "/dashboard").status, 200);
  EXPECT_EQ(as("", "GET", "/v1/workers").status, 401);
}

// Guards tenancy: any key could read, list, stream, fetch, cancel and replay any other key's jobs and probe
// its uploads. Now another key's job or upload answers 404 exactly as an unknown one, Idempotency-Keys are
// per key, the fleet-wide views need an operator key, and an operator key sees every tenant's jobs.
TEST(FleetTenancy, AKeySeesOnlyItsOwnJobsAndUploadsAndOperatorsSeeAll) {
  const auto [alice, alice_line] = ApiKeys::generate("alice");
  const auto [bob, bob_line] = ApiKeys::generate("bob");
  const auto [ops, ops_line] = ApiKeys::generate("ops", 0, 0, true);
  Fleet fleet(
      FleetOptions{1, "espeak,noop", 2, {{"API_KEYS", alice_line + ";" + bob_line + ";" + ops_line}}});
  auto as = [&fleet](const std::string& token, const std::string& method, const std::string& target,
                     const std::string& body = "", std::map<std::string, std::string> headers = {}) {
    headers["Authorization"] = "Bearer " + token;
    return fleet.request(method, target, body, headers);
  };
  auto submit = [&](const std::string& token, const std::string& idempotency = "") {
    std::map<std::string, std::string> headers;
    if (!idempotency.empty()) headers["Idempotency-Key"] = idempotency;
    auto created = as(token, "POST", "/v1/jobs", R"({"input":{"text":"mine"}})", headers);
    EXPECT_EQ(created.status, 202) << created.body;
    return json::parse(created.body).value("id", "");
  };
  const std::string job = submit(alice, "order-1");
  const auto mine = json::parse(as(alice, "GET", "/v1/jobs/" + job + "?wait=10").body);
  EXPECT_EQ(mine["state"], "succeeded") << mine.dump();

  const std::string unknown = "0123456789abcdef0123456789abcdef";
  for (const std::string suffix : {"", "/result", "/events", "/stream"}) {
    auto other = as(bob, "GET", "/v1/jobs/" + job + suffix);
    auto none = as(bob, "GET", "/v1/jobs/" + unknown + suffix);
    EXPECT_EQ(other.status, 404) << suffix << ": " << other.body;
    EXPECT_EQ(other.status, none.status) << suffix;
    EXPECT_EQ(json::parse(other.body)["error"]["code"], "not_found") << suffix;
  }
  EXPECT_EQ(as(bob, "DELETE", "/v1/jobs/" + job).status, 404);
  EXPECT_EQ(as(alice, "GET", "/v1/jobs/" + job + "/result").status, 200);

  // The same Idempotency-Key from another key is another job, and no conflict names Alice's.
  const std::string bobs = submit(bob, "order-1");
  EXPECT_NE(bobs, job);
  EXPECT_EQ(submit(alice, "order-1"), job);
  as(bob, "GET", "/v1/jobs/" + bobs + "?wait=10");

  auto listed_ids = [&](const std::string& token) {
    std::set<std::string> ids;
    const auto listed = as(token, "GET", "/v1/jobs?limit=50");
    EXPECT_EQ(listed.status, 200) << listed.body;
    const auto body = json::parse(listed.body);
    for (const auto& entry : body["jobs"]) ids.insert(entry["id"].get<std::string>());
    return ids;
  };
  EXPECT_EQ(listed_ids(bob), (std::set<std::string>{bobs}));
  EXPECT_EQ(listed_ids(alice), (std::set<std::string>{job}));
  EXPECT_EQ(listed_ids(ops), (std::set<std::string>{job, bobs}));
  EXPECT_EQ(json::parse(as(ops, "GET", "/v1/jobs/" + job).body)["owner"], "alice");

  // Uploads: the same bytes are each key's own file; another key's id is not there for Bob.
  const std::string wav = encode_wav_pcm16(std::vector<int16_t>(1600, 500), 16000);
  auto uploaded = as(alice, "POST", "/v1/files", wav, {{"Content-Type", "audio/wav"}});
  ASSERT_EQ(uploaded.status, 201) << uploaded.body;
  const auto upload = json::parse(uploaded.body);
  EXPECT_EQ(as(alice, "GET", "/v1/files/" + upload["id"].get<std::string>()).status, 200);
  EXPECT_EQ(as(bob, "GET", "/v1/files/" + upload["id"].get<std::string>()).status, 404);
  auto again = json::parse(as(bob, "POST", "/v1/files", wav, {{"Content-Type", "audio/wav"}}).body);
  EXPECT_NE(again["speaker_wav"], upload["speaker_wav"]);

  // The fleet-wide views are an operator's.
  EXPECT_EQ(as(bob, "GET", "/v1/workers").status, 403);
  EXPECT_EQ(as(bob, "GET", "/v1/events").status, 403);
  EXPECT_EQ(as(ops, "GET", "/v1/workers").status, 200);
}

// Guards against waits outliving their clients and one key holding the gateway's sockets: abandoned
// long-polls, synchronous generates and audio streams are dropped within a second of the client leaving, and
// past MAX_WAITS_PER_KEY a key gets 429 while another key still waits.
TEST(FleetWaits, AbandonedWaitsAreReleasedAndEachKeyHoldsAtMostItsLimit) {
  namespace asio = boost::asio;
  const auto [alice, alice_line] = ApiKeys::generate("alice");
  const auto [bob, bob_line] = ApiKeys::generate("bob");
  Fleet fleet(FleetOptions{
      1, "espeak,noop", 2, {{"API_KEYS", alice_line + ";" + bob_line}, {"MAX_WAITS_PER_KEY", "3"}}});
  const uint16_t port = fleet.stack().config().http_port;
  auto as = [&fleet](const std::string& token, const std::string& method, const std::string& target,
                     const std::string& body = "") {
    return fleet.request(method, target, body, {{"Authorization", "Bearer " + token}});
  };
  auto submit_slow = [&](const std::string& token) {
    auto created =
        as(token, "POST", "/v1/jobs", R"({"model":"noop","input":{"text":"slow","sleep_ms":8000}})");
    EXPECT_EQ(created.status, 202) << created.body;
    return json::parse(created.body).value("id", "");
  };
  auto metric = [&](const std::string& name) {
    const std::string text = "\n" + fleet.get("/metrics").body;
    const auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  auto wait_for_metric = [&](const std::string& name, double value, std::chrono::milliseconds within) {
    const auto end = std::chrono::steady_clock::now() + within;
    while (metric(name) != value && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return metric(name);
  };
  const std::string slow = submit_slow(alice);
  const std::string bobs = submit_slow(bob);

  // Three raw clients hold Alice's three slots: a long-poll, a synchronous generate, an audio stream.
  asio::io_context io;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> clients;
  const std::string generate = R"({"model":"noop","text":"held","sleep_ms":8000})";
  const std::vector<std::string> held = {
      "GET /v1/jobs/" + slow + "?wait=50 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice + "\r\n\r\n",
      "POST /tts/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(generate.size()) +
          "\r\n\r\n" + generate,
      "GET /v1/jobs/" + slow + "/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice + "\r\n\r\n"};
  for (const auto& request : held) {
    clients.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    clients.back()->connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(*clients.back(), asio::buffer(request));
  }
  ASSERT_EQ(wait_for_metric("gpufleet_gateway_open_waits", 3, std::chrono::seconds(5)), 3);

  // A fourth wait of Alice's is refused at once; Bob's own slots are untouched by hers.
  auto refused = as(alice, "GET", "/v1/jobs/" + slow + "?wait=5");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "too_many_waits");
  EXPECT_EQ(as(alice, "GET", "/v1/jobs/" + slow).status, 200);  // a plain poll holds nothing
  EXPECT_EQ(as(bob, "GET", "/v1/jobs/" + bobs + "?wait=0.2").status, 200);

  // The clients leave: every wait goes within a second, long before its 50 s or 10 min timeout.
  const auto left = std::chrono::steady_clock::now();
  for (auto& client : clients) client->close();
  EXPECT_EQ(wait_for_metric("gpufleet_gateway_open_waits", 0, std::chrono::seconds(1)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - left, std::chrono::milliseconds(1100));
  EXPECT_GE(metric("gpufleet_gateway_waits_abandoned_total"), 2);  // the long-poll and the generate
  EXPECT_EQ(as(alice, "GET", "/v1/jobs/" + slow + "?wait=0.2").status, 200);
  EXPECT_GE(metric("gpufleet_gateway_waits_refused_total"), 1);
}

// Guards shared storage against growing without bound: results and uploads past their TTL are deleted by
// the gateway's sweeper (a swept result answers 410, not a broken file), and one key's uploads stop at its
// quota while another key still uploads.
TEST(FleetStorage, ResultsAndUploadsAreSweptAndEachKeyHasAnUploadQuota) {
  const auto [alice, alice_line] = ApiKeys::generate("alice");
  const auto [bob, bob_line] = ApiKeys::generate("bob");
  Fleet fleet(FleetOptions{1,
                           "espeak,noop",
                           1,
                           {{"API_KEYS", alice_line + ";" + bob_line},
                            {"RESULT_TTL_S", "2"},
                            {"UPLOAD_TTL_S", "2"},
                            {"SWEEP_INTERVAL_S", "1"},
                            {"UPLOAD_QUOTA_BYTES", "20000"}}});
  auto as = [&fleet](const std::string& token, const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& type = "application/json") {
    return fleet.request(method, target, body,
                         {{"Authorization", "Bearer " + token}, {"Content-Type", type}});
  };
  auto created = as(alice, "POST", "/v1/jobs", R"({"input":{"text":"Soon gone."}})");
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = json::parse(created.body)["id"];
  ASSERT_EQ(json::parse(as(alice, "GET", "/v1/jobs/" + id + "?wait=20").body)["state"], "succeeded");
  EXPECT_EQ(as(alice, "GET", "/v1/jobs/" + id + "/result").status, 200);

  // Quota: two different 9,644-byte WAVs fit in 20,000 bytes, a third does not; Bob's count is his own.
  auto wav = [](int16_t level) { return encode_wav_pcm16(std::vector<int16_t>(4800, level), 16000); };
  EXPECT_EQ(as(alice, "POST", "/v1/files", wav(1), "audio/wav").status, 201);
  EXPECT_EQ(as(alice, "POST", "/v1/files", wav(2), "audio/wav").status, 201);
  EXPECT_EQ(as(alice, "POST", "/v1/files", wav(2), "audio/wav").status, 200);  // the same bytes: no new file
  auto over = as(alice, "POST", "/v1/files", wav(3), "audio/wav");
  EXPECT_EQ(over.status, 413) << over.body;
  EXPECT_EQ(json::parse(over.body)["error"]["code"], "payload_too_large");
  EXPECT_EQ(as(bob, "POST", "/v1/files", wav(3), "audio/wav").status, 201);
  const std::string upload = json::parse(as(alice, "POST", "/v1/files", wav(1), "audio/wav").body)["id"];

  // Past the TTLs the sweeper takes the result and the uploads; the record says succeeded, the file is gone.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  cli::HttpResult result;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    result = as(alice, "GET", "/v1/jobs/" + id + "/result");
  } while (result.status == 200 && std::chrono::steady_clock::now() < end);
  EXPECT_EQ(result.status, 410) << result.body;
  EXPECT_EQ(json::parse(result.body)["error"]["code"], "gone");
  while (as(alice, "GET", "/v1/files/" + upload).status == 200 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(as(alice, "GET", "/v1/files/" + upload).status, 404);
  EXPECT_EQ(as(alice, "POST", "/v1/files", wav(3), "audio/wav").status, 201);  // room again
  EXPECT_NE(fleet.get("/metrics").body.find("gpufleet_storage_swept_files_total{folder=\"uploads\"}"),
            std::string::npos);
}

// Guards the job store against filling up: while Redis holds 90 % of its maxmemory or more, new jobs get 503
// (not a Redis OOM error halfway through a submission) and reads go on; with room again, jobs are accepted.
TEST(FleetRedisMemory, NewJobsAreRefusedNearMaxmemoryAndAcceptedAgainAfter) {
  Fleet fleet(FleetOptions{1, "noop", 1, {}});
  const std::string before = fleet.submit({{"model", "noop"}, {"input", {{"text", "before"}}}});
  fleet.wait_job(before, 10);
  RedisClient redis(fleet.redis_endpoint());
  const auto memory = parse_redis_memory(redis.command({"INFO", "memory"}).str());
  ASSERT_TRUE(memory);
  const uint64_t used = memory->used;
  ASSERT_EQ(redis.command({"CONFIG", "SET", "maxmemory", std::to_string(used + used / 20)}).str(), "OK");
  auto refused = fleet.post("/v1/jobs", R"({"model":"noop","input":{"text":"full"}})");
  for (int i = 0; i < 40 && refused.status == 202; ++i) {  // the gateway looks once a second
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    refused = fleet.post("/v1/jobs", R"({"model":"noop","input":{"text":"full"}})");
  }
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "unavailable");
  EXPECT_FALSE(refused.headers["retry-after"].empty());
  EXPECT_EQ(fleet.get("/v1/jobs/" + before).status, 200);
  ASSERT_EQ(redis.command({"CONFIG", "SET", "maxmemory", "0"}).str(), "OK");
  auto accepted = fleet.post("/v1/jobs", R"({"model":"noop","input":{"text":"room"}})");
  for (int i = 0; i < 40 && accepted.status != 202; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    accepted = fleet.post("/v1/jobs", R"({"model":"noop","input":{"text":"room"}})");
  }
  EXPECT_EQ(accepted.status, 202) << accepted.body;
}

// Guards against the input being kept twice: the submissions stream repeated every job's input (up to the
// body limit) for as long as the entry lived, ~100,000 entries. The broker now trims what it has read.
TEST(FleetRedisMemory, TheInputIsKeptOnceTheBrokerHasReadTheSubmission) {
  Fleet fleet(FleetOptions{1, "noop", 8, {}});
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    ids.push_back(fleet.submit({{"model", "noop"}, {"input", {{"text", "job " + std::to_string(i)}}}}));
  }
  for (const auto& id : ids) fleet.wait_job(id, 30);
  // One more submission after the others were read: the reader trims with its next read.
  fleet.wait_job(fleet.submit({{"model", "noop"}, {"input", {{"text", "last"}}}}), 10);
  RedisClient redis(fleet.redis_endpoint());
  long long length = 0;
  for (int i = 0; i < 50; ++i) {
    length = redis.command({"XLEN", fleet.keys().submissions()}).integer();
    if (length <= 100) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // "~" trimming leaves at most one stream node (100 entries) behind; untrimmed, all 301 stay.
  EXPECT_LE(length, 100);
  EXPECT_GE(length, 1);  // the last entry read stays: a restarted broker follows on from it
  EXPECT_EQ(fleet.get("/v1/jobs/" + ids.front()).status, 200);
}

}  // namespace
}  // namespace gpufleet::testing
