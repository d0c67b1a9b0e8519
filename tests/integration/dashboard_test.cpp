// Guards the dashboard in a real browser (headless Chromium, driven over the DevTools protocol) against a
// real fleet: the page shows the fleet healthy, the worker with its device and models, the queues, the jobs
// that finished before it opened (a failed one with its error), and a job submitted while it is open appears
// and reaches its final state through the event stream alone; the page keeps a screenshot for people to look
// at.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tests/support/chromium.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

TEST(FleetDashboard, ThePageShowsWorkersQueuesAndJobsAndFollowsTheEventStream) {
  Fleet fleet(FleetOptions{1, "espeak,noop", 1, {}});
  const std::string done = fleet.submit({{"input", {{"text", "Before the page opened."}}}});
  const std::string failed =
      fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"fail", "model_error"}}}});
  EXPECT_EQ(fleet.wait_job(done, 30)["state"], "succeeded");
  EXPECT_EQ(fleet.wait_job(failed, 30)["state"], "failed");

  TempDir dir;
  const std::string url =
      "http://127.0.0.1:" + std::to_string(fleet.stack().config().http_port) + "/dashboard";
  HeadlessChromium page(url, dir.path());
  ASSERT_TRUE(
      page.wait_for("document.querySelector('#workers tbody tr[data-worker]')", std::chrono::seconds(20)))
      << "no worker row; status: " << page.evaluate("document.getElementById('status').textContent");
  EXPECT_EQ(page.evaluate("document.getElementById('status').textContent"), "healthy");
  const auto worker = page.evaluate("document.querySelector('#workers tbody tr[data-worker]').innerText");
  EXPECT_NE(worker.get<std::string>().find("cpu"), std::string::npos) << worker;
  EXPECT_NE(worker.get<std::string>().find("espeak, noop"), std::string::npos) << worker;
  EXPECT_EQ(page.evaluate("document.querySelectorAll('#queues tbody tr[data-model]').length"), 2);

  ASSERT_TRUE(page.wait_for("document.querySelector('#jobs tr[data-job=\"" + failed + "\"]')",
                            std::chrono::seconds(10)));
  EXPECT_EQ(
      page.evaluate("document.querySelector('#jobs tr[data-job=\"" + done + "\"] td.succeeded') !== null"),
      true);
  const auto failed_row =
      page.evaluate("document.querySelector('#jobs tr[data-job=\"" + failed + "\"]').innerText");
  EXPECT_NE(failed_row.get<std::string>().find("model_error"), std::string::npos) << failed_row;

  // Live: a job submitted now reaches the page only through /v1/events.
  const std::string live = fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", 500}}}});
  EXPECT_TRUE(page.wait_for("document.querySelector('#jobs tr[data-job=\"" + live + "\"]')",
                            std::chrono::seconds(10)))
      << "the new job did not appear";
  EXPECT_TRUE(page.wait_for("document.querySelector('#jobs tr[data-job=\"" + live + "\"] td.succeeded')",
                            std::chrono::seconds(15)))
      << "the new job's final state did not arrive";
  EXPECT_TRUE(
      page.wait_for("[...document.querySelectorAll('#throughput rect')].some(r => r.dataset.count > 0)",
                    std::chrono::seconds(5)));

  // For a person to look at: GPUFLEET_SCREENSHOT_DIR keeps it (the test's folder is removed afterwards).
  const char* keep = std::getenv("GPUFLEET_SCREENSHOT_DIR");
  const auto file = (keep != nullptr ? std::filesystem::path(keep) : dir.path()) / "dashboard.png";
  page.screenshot(file);
  EXPECT_GT(std::filesystem::file_size(file), 10000u);
}

}  // namespace
}  // namespace gpufleet::testing
