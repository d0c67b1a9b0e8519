// Guards the gateway's route table and the middleware's decisions: every path the API documents reaches its
// route with the right id, look-alike paths do not (a suffix with no id, a prefix without its slash), metric
// labels never carry a client's bytes (so clients cannot grow the number of series), Allow headers list
// what the route takes, which routes take a key in the query, and who is admitted with and without keys.
#include "gateway/http/routes.hpp"

#include <gtest/gtest.h>

#include "gateway/http/middleware.hpp"

namespace gpufleet::gateway {
namespace {

namespace http = boost::beast::http;

TEST(Routes, EveryDocumentedPathReachesItsRoute) {
  const std::pair<const char*, RouteId> cases[] = {
      {"/health", RouteId::kHealth},
      {"/metrics", RouteId::kMetrics},
      {"/openapi.json", RouteId::kOpenApi},
      {"/dashboard", RouteId::kDashboard},
      {"/dashboard/", RouteId::kDashboard},
      {"/tts/generate", RouteId::kTtsGenerate},
      {"/video/generate", RouteId::kVideoGenerate},
      {"/lipsync/generate", RouteId::kLipsyncGenerate},
      {"/v1/jobs", RouteId::kJobs},
      {"/v1/jobs:batch", RouteId::kJobBatch},
      {"/v1/jobs/abc", RouteId::kJob},
      {"/v1/jobs/abc/result", RouteId::kJobResult},
      {"/v1/jobs/abc/events", RouteId::kJobEvents},
      {"/v1/jobs/abc/stream", RouteId::kJobStream},
      {"/v1/files", RouteId::kFiles},
      {"/v1/files/f00d", RouteId::kFile},
      {"/v1/models", RouteId::kModels},
      {"/v1/workers", RouteId::kWorkers},
      {"/v1/events", RouteId::kEvents},
      {"/v1/jobs/abc/whep", RouteId::kJobWhep},
      {"/v1/whep/0123abcd", RouteId::kWhepSession},
      {"/v1/sessions/whep", RouteId::kLiveSessions},
  };
  for (const auto& [path, route] : cases) EXPECT_EQ(match_route(path).route(), route) << path;
}

TEST(Routes, TheIdIsTheSegmentBetweenPrefixAndSuffix) {
  EXPECT_EQ(match_route("/v1/jobs/0123/result").id, "0123");
  EXPECT_EQ(match_route("/v1/jobs/0123").id, "0123");
  EXPECT_EQ(match_route("/v1/files/a/b").id, "a/b");  // describe_file refuses it; the table does not judge
  EXPECT_EQ(match_route("/health").id, "");
  EXPECT_EQ(match_route("/v1/jobs/0123/whep").id, "0123");
  EXPECT_TRUE(match_route("/v1/jobs/0123/whep").names_job());
  EXPECT_EQ(match_route("/v1/whep/s1").id, "s1");
  EXPECT_FALSE(match_route("/v1/whep/s1").names_job());  // a session id, checked by the WHEP service
  EXPECT_EQ(match_route("/v1/whep/s1").allow(), "DELETE, PATCH");  // PATCH: trickle ICE
  EXPECT_TRUE(match_route("/v1/whep/s1").takes(http::verb::patch));
  EXPECT_FALSE(match_route("/v1/jobs/0123").takes(http::verb::patch));
}

TEST(Routes, LookAlikePathsAreNotRoutes) {
  for (const char* path : {"", "/", "/health/", "/HEALTH", "/v1", "/v1/job", "/v1/jobsx", "/v1/filesx",
                           "/v1/jobs:batch/", "/v1/jobs:BATCH", "/tts", "/tts/generate/", "other",
                           "/dashboard//", "/v1/whep", "/v1/whepx", "/v1/sessions", "/v1/sessions/whep/"}) {
    EXPECT_EQ(match_route(path).route(), RouteId::kUnknown) << path;
    EXPECT_EQ(match_route(path).spec->label, "other") << path;
  }
  // A suffix with nothing before it names no job: it is the job "/result", which the gateway refuses as an
  // id.
  const auto bare = match_route("/v1/jobs//result");
  EXPECT_EQ(bare.route(), RouteId::kJob);
  EXPECT_EQ(bare.id, "/result");
  EXPECT_TRUE(bare.names_job());
  EXPECT_EQ(match_route("/v1/jobs/").id, "");
}

TEST(Routes, MetricLabelsFoldIdsAndNeverCarryClientBytes) {
  EXPECT_EQ(match_route("/v1/jobs/anything-at-all").spec->label, "/v1/jobs/{id}");
  EXPECT_EQ(match_route("/v1/jobs/x/result").spec->label, "/v1/jobs/{id}/result");
  EXPECT_EQ(match_route("/v1/jobs/x/events").spec->label, "/v1/jobs/{id}/events");
  EXPECT_EQ(match_route("/v1/jobs/x/stream").spec->label, "/v1/jobs/{id}/stream");
  EXPECT_EQ(match_route("/v1/files/x").spec->label, "/v1/files/{id}");
  EXPECT_EQ(match_route("/dashboard/").spec->label, "/dashboard");
  EXPECT_EQ(match_route("/no/such/thing/12345").spec->label, "other");
}

TEST(Routes, MethodsAndAllowHeaders) {
  const auto job = match_route("/v1/jobs/x");
  EXPECT_TRUE(job.takes(http::verb::get));
  EXPECT_TRUE(job.takes(http::verb::delete_));
  EXPECT_FALSE(job.takes(http::verb::post));
  EXPECT_FALSE(job.takes(http::verb::head));
  EXPECT_EQ(job.allow(), "GET, DELETE");
  EXPECT_EQ(match_route("/v1/jobs").allow(), "POST, GET");
  EXPECT_EQ(match_route("/health").allow(), "GET, HEAD");
  EXPECT_EQ(match_route("/metrics").allow(), "GET");
  EXPECT_EQ(match_route("/tts/generate").allow(), "POST");
  for (auto method : {http::verb::put, http::verb::patch, http::verb::options, http::verb::unknown}) {
    EXPECT_FALSE(match_route("/v1/jobs").takes(method)) << http::to_string(method);
  }
  EXPECT_FALSE(match_route("/nowhere").takes(http::verb::get));
}

TEST(Routes, OnlyStreamsTakeTheKeyInTheQuery) {
  for (const char* path : {"/v1/events", "/v1/jobs/x/events", "/v1/jobs/x/stream"}) {
    EXPECT_TRUE(match_route(path).spec->token_in_query) << path;
  }
  for (const char* path : {"/v1/jobs", "/v1/jobs/x", "/v1/jobs/x/result", "/v1/files/x", "/v1/workers"}) {
    EXPECT_FALSE(match_route(path).spec->token_in_query) << path;
  }
}

TEST(Routes, MethodLabelsAreBounded) {
  EXPECT_EQ(method_label(http::verb::get), "GET");
  EXPECT_EQ(method_label(http::verb::delete_), "DELETE");
  EXPECT_EQ(method_label(http::verb::propfind), "other");
  EXPECT_EQ(method_label(http::verb::unknown), "other");
}

TEST(Cors, OnlyListedOriginsGetHeaders) {
  const std::vector<std::string> listed{"https://app.example"};
  EXPECT_EQ(cors_allowed_origin(listed, "https://app.example"), "https://app.example");
  EXPECT_EQ(cors_allowed_origin(listed, "https://evil.example"), std::nullopt);
  EXPECT_EQ(cors_allowed_origin(listed, "https://app.example.evil"), std::nullopt);
  EXPECT_EQ(cors_allowed_origin(listed, ""), std::nullopt);
  EXPECT_EQ(cors_allowed_origin({}, "https://app.example"), std::nullopt);
  EXPECT_EQ(cors_allowed_origin({"*"}, "https://anyone.example"), "*");
}

TEST(Admission, WithoutKeysEveryoneSeesAll) {
  ApiKeys keys = ApiKeys::parse("");
  auto admitted = admit(keys, match_route("/v1/workers"), "", "", std::chrono::steady_clock::now());
  ASSERT_TRUE(std::holds_alternative<Caller>(admitted));
  EXPECT_TRUE(std::get<Caller>(admitted).sees_all);
}

class AdmissionWithKeys : public ::testing::Test {
 protected:
  AdmissionWithKeys() {
    auto [token, line] = ApiKeys::generate("alice");
    token_ = token;
    keys_ = ApiKeys::parse(line);
  }
  std::string token_;
  ApiKeys keys_;
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
};

TEST_F(AdmissionWithKeys, OpenRoutesNeedNoKey) {
  for (const char* path : {"/health", "/dashboard", "/dashboard/"}) {
    EXPECT_TRUE(std::holds_alternative<Caller>(admit(keys_, match_route(path), "", "", now_))) << path;
  }
}

TEST_F(AdmissionWithKeys, OtherRoutesAnswer401WithoutOne) {
  for (const char* path : {"/v1/jobs", "/v1/models", "/v1/jobs/x/result", "/nowhere"}) {
    auto refused = admit(keys_, match_route(path), "", "", now_);
    ASSERT_TRUE(std::holds_alternative<StringResponse>(refused)) << path;
    EXPECT_EQ(std::get<StringResponse>(refused).result_int(), 401u) << path;
    EXPECT_EQ(std::get<StringResponse>(refused)[http::field::www_authenticate], "Bearer");
  }
  auto unknown = admit(keys_, match_route("/v1/jobs"), "Bearer gf_nope", "", now_);
  ASSERT_TRUE(std::holds_alternative<StringResponse>(unknown));
  EXPECT_EQ(std::get<StringResponse>(unknown).result_int(), 401u);
}

TEST_F(AdmissionWithKeys, AKeyInTheQueryCountsOnlyOnStreams) {
  const std::string query = "access_token=" + token_;
  auto stream = admit(keys_, match_route("/v1/jobs/x/events"), "", query, now_);
  ASSERT_TRUE(std::holds_alternative<Caller>(stream));
  EXPECT_EQ(std::get<Caller>(stream).key, "alice");
  EXPECT_FALSE(std::get<Caller>(stream).sees_all);
  // Elsewhere a token in the URL would end up in logs and proxies' histories: refused.
  EXPECT_TRUE(
      std::holds_alternative<StringResponse>(admit(keys_, match_route("/v1/jobs/x"), "", query, now_)));
  auto header = admit(keys_, match_route("/v1/jobs/x"), "Bearer " + token_, "", now_);
  ASSERT_TRUE(std::holds_alternative<Caller>(header));
  EXPECT_EQ(std::get<Caller>(header).key, "alice");
}

TEST(MethodNotAllowed, NamesTheAllowedMethods) {
  const auto response = method_not_allowed(match_route("/v1/jobs/x"), "/v1/jobs/x");
  EXPECT_EQ(response.result_int(), 405u);
  EXPECT_EQ(response[http::field::allow], "GET, DELETE");
  EXPECT_NE(response.body().find("method_not_allowed"), std::string::npos);
}

}  // namespace
}  // namespace gpufleet::gateway
