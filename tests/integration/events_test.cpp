// Guards the server-sent event streams: GET /v1/jobs/{id}/events gives the job's record, then each change,
// and ends after its final state (also for a job that is already final); GET /v1/events carries every job
// and worker event of the fleet; an unknown id is a JSON 404; clients that leave do not disturb the gateway.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>

#include "tests/support/fleet_fixture.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

// A raw HTTP client that reads a streamed response as it comes.
class StreamReader {
 public:
  StreamReader(uint16_t port, const std::string& target) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return;
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n";
    ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  }
  ~StreamReader() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Reads until `done(text so far)` or the server closes or `timeout`; true when the server closed.
  bool read_until(const std::function<bool(const std::string&)>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(text_) && std::chrono::steady_clock::now() < deadline) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return true;
      text_.append(buffer, static_cast<size_t>(n));
    }
    return false;
  }
  const std::string& text() const { return text_; }

  // The data of each event named `name`, parsed.
  std::vector<json> events(const std::string& name) const {
    std::vector<json> found;
    size_t at = 0;
    const std::string marker = "event: " + name + "\ndata: ";
    while ((at = text_.find(marker, at)) != std::string::npos) {
      at += marker.size();
      found.push_back(json::parse(text_.substr(at, text_.find('\n', at) - at), nullptr, false));
    }
    return found;
  }

 private:
  int fd_ = -1;
  std::string text_;
};

TEST(FleetEvents, AJobsStreamFollowsItToItsEndAndTheFleetStreamCarriesEverything) {
  Fleet fleet(FleetOptions{1, "espeak,noop", 1, {}});
  const uint16_t port = fleet.stack().config().http_port;
  StreamReader everything(port, "/v1/events");
  ASSERT_FALSE(everything.read_until(
      [](const std::string& text) { return text.find("gpufleet events") != std::string::npos; },
      std::chrono::seconds(5)));
  EXPECT_NE(everything.text().find("Content-Type: text/event-stream"), std::string::npos)
      << everything.text();

  const std::string id = fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", 600}}}});
  StreamReader one(port, "/v1/jobs/" + id + "/events");
  EXPECT_TRUE(one.read_until([](const std::string&) { return false; }, std::chrono::seconds(20)))
      << "the job's stream did not end after its final state:\n"
      << one.text();
  const auto snapshots = one.events("snapshot");
  ASSERT_FALSE(snapshots.empty()) << one.text();
  EXPECT_EQ(snapshots[0]["id"], id);
  const auto changes = one.events("job");
  ASSERT_FALSE(changes.empty()) << one.text();
  EXPECT_EQ(changes.back()["state"], "succeeded");
  for (const auto& change : changes) EXPECT_EQ(change["id"], id);

  // The fleet stream saw the same job from its submission to its end.
  everything.read_until(
      [&](const std::string& text) { return text.find("\"succeeded\"") != std::string::npos; },
      std::chrono::seconds(10));
  std::vector<std::string> states;
  for (const auto& event : everything.events("job")) {
    if (event["id"] == id) states.push_back(event["state"]);
  }
  EXPECT_EQ(states, (std::vector<std::string>{"queued", "running", "succeeded"}));

  // An ended job: its record, and the stream ends at once.
  StreamReader ended(port, "/v1/jobs/" + id + "/events");
  EXPECT_TRUE(ended.read_until([](const std::string&) { return false; }, std::chrono::seconds(5)));
  ASSERT_EQ(ended.events("snapshot").size(), 1u) << ended.text();
  EXPECT_EQ(ended.events("snapshot")[0]["state"], "succeeded");

  auto unknown = fleet.get("/v1/jobs/0123456789abcdef0123456789abcdef/events");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "not_found");

  // Clients leaving mid-stream: the gateway goes on serving, streams included.
  everything.close();
  for (int i = 0; i < 5; ++i)
    StreamReader(port, "/v1/events")
        .read_until([](const std::string& t) { return !t.empty(); }, std::chrono::seconds(2));
  const std::string next = fleet.submit({{"model", "noop"}, {"input", {{"text", "after"}}}});
  StreamReader after(port, "/v1/jobs/" + next + "/events");
  EXPECT_TRUE(after.read_until([](const std::string&) { return false; }, std::chrono::seconds(10)));
  EXPECT_EQ(fleet.wait_job(next, 10)["state"], "succeeded");
  EXPECT_EQ(fleet.get("/health").status, 200);
}

}  // namespace
}  // namespace gpufleet::testing
