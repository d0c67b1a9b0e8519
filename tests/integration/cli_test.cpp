// Guards the `gpufleet` client commands against a real fleet, run as a user runs them (the binary, with
// GPUFLEET_URL): submit waits and prints the result, or the id with --no-wait; status, wait and cancel act on
// ids; workers and models list the fleet; failures exit 1 with the gateway's error, bad usage exits 2.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "tests/support/fleet_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

struct Run {
  int status = -1;
  std::string out;
};

Run gpufleet(const Fleet& fleet, const std::string& arguments) {
  const std::string command = "GPUFLEET_URL=http://127.0.0.1:" +
                              std::to_string(const_cast<Fleet&>(fleet).stack().config().http_port) + " " +
                              bin_dir() + "/gpufleet " + arguments + " 2>/dev/null";
  Run run;
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(FleetCli, ClientCommandsSubmitWatchAndCancelJobs) {
  Fleet fleet(FleetOptions{1, "espeak,noop", 1, {}});
  TempDir dir;
  const auto out_file = dir.path() / "speech.wav";
  auto submitted = gpufleet(fleet, "submit 'Hello from the command line.' --json --out " + out_file.string());
  ASSERT_EQ(submitted.status, 0) << submitted.out;
  const auto job = json::parse(submitted.out);
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(std::filesystem::file_size(out_file), job["result"]["bytes"].get<size_t>());

  auto human = gpufleet(fleet, "status " + job["id"].get<std::string>());
  EXPECT_EQ(human.status, 0);
  EXPECT_NE(human.out.find("succeeded  tts/espeak"), std::string::npos) << human.out;

  // --no-wait answers the id at once; wait follows it to the end.
  auto queued = gpufleet(fleet, "submit --model noop --param sleep_ms=300 --no-wait x");
  ASSERT_EQ(queued.status, 0);
  const std::string id = queued.out.substr(0, queued.out.find('\n'));
  EXPECT_EQ(id.size(), 32u);
  auto waited = gpufleet(fleet, "wait " + id + " --json");
  EXPECT_EQ(waited.status, 0);
  EXPECT_EQ(json::parse(waited.out)["state"], "succeeded");

  // A long job cancelled while it runs.
  auto long_job = gpufleet(fleet, "submit --model noop --param sleep_ms=5000 --no-wait x");
  const std::string long_id = long_job.out.substr(0, long_job.out.find('\n'));
  fleet.wait_job(long_id, 0.5);
  auto cancelled = gpufleet(fleet, "cancel " + long_id);
  EXPECT_EQ(cancelled.status, 0) << cancelled.out;
  auto ended = gpufleet(fleet, "wait " + long_id + " --json");
  EXPECT_EQ(ended.status, 1) << "a cancelled job is not a success";
  EXPECT_EQ(json::parse(ended.out)["state"], "cancelled");

  auto workers = gpufleet(fleet, "workers --json");
  ASSERT_EQ(workers.status, 0);
  EXPECT_EQ(json::parse(workers.out)["workers"].size(), 1u);
  auto models = gpufleet(fleet, "models");
  EXPECT_EQ(models.status, 0);
  EXPECT_NE(models.out.find("espeak *"), std::string::npos) << models.out;

  // Failures: a job that fails, an unknown id, an unknown model, bad usage.
  auto failing = gpufleet(fleet, "submit --model noop --param fail=\\\"model_error\\\" x");
  EXPECT_EQ(failing.status, 1);
  EXPECT_NE(failing.out.find("model_error"), std::string::npos) << failing.out;
  EXPECT_EQ(gpufleet(fleet, "status 0123456789abcdef0123456789abcdef").status, 1);
  auto unknown = gpufleet(fleet, "submit --model nonesuch --json hi");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_EQ(json::parse(unknown.out)["error"]["code"], "unknown_model");
  EXPECT_EQ(gpufleet(fleet, "status").status, 2);
  EXPECT_EQ(gpufleet(fleet, "submit --bogus x").status, 2);
}

}  // namespace
}  // namespace gpufleet::testing
