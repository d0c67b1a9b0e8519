// Guards HTTPS on the gateway (TLS_CERT_FILE, TLS_KEY_FILE): a second gateway with TLS on the fleet's Redis
// answers curl and gpufleet's own client over verified TLS, streams server-sent events to their end (with a
// close_notify, so a TLS client sees a complete body), drops plain HTTP on its port without harm, is refused
// by clients that do not trust its certificate, and will not start on a half or mismatched configuration.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "cli/process.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/http_sink.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

struct Command {
  int exit_code = -1;
  std::string output;
};

// Runs a shell command (curl, the gpufleet binary) and collects its stdout.
Command run(const std::string& command) {
  Command result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class GatewayTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TempDir();
    tls_ = new SinkTls(make_self_signed_certificate(certs_->path(), "gateway"));
    fleet_ = new Fleet();
    port_ = cli::free_port();
    gateway_ = new cli::Process(
        start_gateway(port_, tls_->certificate.string(), tls_->private_key.string(), "tls-gateway"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (curl("/health").exit_code != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  static void TearDownTestSuite() {
    gateway_->stop(std::chrono::milliseconds(5000));
    delete gateway_;
    delete fleet_;
    delete tls_;
    delete certs_;
  }
  void TearDown() override {
    if (HasFailure()) {
      fleet_->dump_logs();
      std::cerr << read_text(certs_->path() / "tls-gateway.log");
    }
  }

  // A gateway of the fleet's, on `port`, with these TLS files.
  static cli::Process start_gateway(uint16_t port, const std::string& certificate, const std::string& key,
                                    const std::string& name) {
    const auto endpoint = fleet_->redis_endpoint();
    std::map<std::string, std::string> env{{"HOST", "127.0.0.1"},
                                           {"PORT", std::to_string(port)},
                                           {"REDIS_HOST", endpoint.host},
                                           {"REDIS_PORT", std::to_string(endpoint.port)},
                                           {"REDIS_PREFIX", endpoint.prefix},
                                           {"STORAGE_ROOT", fleet_->storage().string()}};
    if (!certificate.empty()) env["TLS_CERT_FILE"] = certificate;
    if (!key.empty()) env["TLS_KEY_FILE"] = key;
    return cli::Process::spawn({bin_dir() + "/gpufleet-gateway"}, env,
                               (certs_->path() / (name + ".log")).string());
  }

  static std::string url(const std::string& path) {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }
  static Command curl(const std::string& path, const std::string& options = "") {
    return run("curl -sS --max-time 20 --cacert '" + tls_->certificate.string() + "' " + options + " '" +
               url(path) + "' 2>&1");
  }

  static TempDir* certs_;
  static SinkTls* tls_;
  static Fleet* fleet_;
  static cli::Process* gateway_;
  static uint16_t port_;
};
TempDir* GatewayTls::certs_ = nullptr;
SinkTls* GatewayTls::tls_ = nullptr;
Fleet* GatewayTls::fleet_ = nullptr;
cli::Process* GatewayTls::gateway_ = nullptr;
uint16_t GatewayTls::port_ = 0;

TEST_F(GatewayTls, ServesTheApiOverVerifiedTls) {
  auto health = curl("/health");
  ASSERT_EQ(health.exit_code, 0) << health.output;
  EXPECT_EQ(json::parse(health.output, nullptr, false)["status"], "healthy") << health.output;

  // gpufleet's own client, verifying the gateway against the same certificate.
  const HttpEndpoint endpoint{true, "127.0.0.1", port_};
  auto created =
      cli::http_request(endpoint, "POST", "/v1/jobs", R"({"model":"noop","input":{"text":"over tls"}})",
                        "application/json", std::chrono::seconds(10), {}, tls_->certificate.string());
  ASSERT_EQ(created.status, 202) << created.body << created.error;
  const std::string id = json::parse(created.body)["id"];
  auto waited = cli::http_request(endpoint, "GET", "/v1/jobs/" + id + "?wait=10", "", "",
                                  std::chrono::seconds(20), {}, tls_->certificate.string());
  ASSERT_EQ(waited.status, 200) << waited.error;
  EXPECT_EQ(json::parse(waited.body)["state"], "succeeded");

  // The job's event stream ends with the job, and curl sees a complete body (exit 0, not a truncation).
  auto events = curl("/v1/jobs/" + id + "/events", "-N");
  EXPECT_EQ(events.exit_code, 0) << events.output;
  EXPECT_NE(events.output.find("succeeded"), std::string::npos) << events.output;

  // The command line tool, pointed at the https URL.
  auto status = run("GPUFLEET_URL=https://127.0.0.1:" + std::to_string(port_) + " GPUFLEET_CA_FILE='" +
                    tls_->certificate.string() + "' '" + bin_dir() + "/gpufleet' status " + id + " --json");
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_EQ(json::parse(status.output, nullptr, false)["state"], "succeeded") << status.output;
}

TEST_F(GatewayTls, PlainHttpAndUntrustedClientsGetNothing) {
  auto plain = cli::http_request("GET", "127.0.0.1", port_, "/health", "", "", std::chrono::seconds(5));
  EXPECT_EQ(plain.status, 0) << "plain HTTP was answered on the TLS port: " << plain.body;

  auto untrusted = run("curl -sS --max-time 10 '" + url("/health") + "' 2>&1; echo \" exit=$?\"");
  EXPECT_NE(untrusted.output.find("exit=60"), std::string::npos)
      << untrusted.output;  // peer certificate refused
  auto ours = cli::http_request(HttpEndpoint{true, "127.0.0.1", port_}, "GET", "/health");
  EXPECT_EQ(ours.status, 0);
  EXPECT_NE(ours.error.find("certificate"), std::string::npos) << ours.error;

  // None of that disturbed the gateway.
  EXPECT_EQ(curl("/health").exit_code, 0);
}

TEST_F(GatewayTls, RefusesToStartOnAHalfOrMismatchedConfiguration) {
  auto half = start_gateway(cli::free_port(), tls_->certificate.string(), "", "half");
  auto status = half.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "a gateway with a certificate and no key kept running";
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(read_text(certs_->path() / "half.log").find("TLS_KEY_FILE"), std::string::npos);

  const auto other = make_self_signed_certificate(certs_->path(), "other");
  auto mismatched =
      start_gateway(cli::free_port(), tls_->certificate.string(), other.private_key.string(), "mismatch");
  status = mismatched.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "a gateway whose key does not match its certificate kept running";
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(read_text(certs_->path() / "mismatch.log").find("TLS_KEY_FILE"), std::string::npos);
}

}  // namespace
}  // namespace gpufleet::testing
