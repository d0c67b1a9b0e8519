// Guards the worker's job execution without sockets: real espeak-ng speech lands as a valid WAV under the
// storage root, every refusal becomes an error result instead of an exception, and cancellation, deadlines
// and out-of-memory end a job with their own codes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <thread>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/wav.hpp"
#include "tests/support/temp_dir.hpp"
#include "worker/job_runner.hpp"

namespace gpufleet::worker {
namespace {

namespace fs = std::filesystem;

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::map<std::string, std::unique_ptr<models::Model>> loaded;
    loaded["espeak"] = models::create_builtin_model("espeak");
    loaded["noop"] = models::create_builtin_model("noop");
    runner_ = std::make_unique<JobRunner>(std::move(loaded), root_, [this] { ++out_of_memory_calls_; });
  }
  protocol::JobResult run(const std::string& model, const std::string& input, uint32_t attempt = 1) {
    models::JobContext context;
    return run_with(context, model, input, attempt);
  }
  protocol::JobResult run_with(models::JobContext& context, const std::string& model, const std::string& input,
                               uint32_t attempt = 1) {
    return runner_->run(protocol::Job{kId, attempt, "tts", model, input, 0, 0, 0}, context);
  }

  static constexpr const char* kId = "0123456789abcdef0123456789abcdef";
  int out_of_memory_calls_ = 0;

  testing::TempDir dir_;
  const fs::path& root_ = dir_.path();
  std::unique_ptr<JobRunner> runner_;
};

TEST_F(JobRunnerTest, EspeakWritesRealSpeech) {
  auto result = run("espeak", R"({"text":"The quick brown fox jumps over the lazy dog.","language":"en"})");
  ASSERT_TRUE(result.ok) << result.error_code << ": " << result.error_message;
  auto json = nlohmann::json::parse(result.result_json);
  const std::string path = json["audio_path"];
  EXPECT_EQ(fs::path(path), root_ / "tts" / (std::string(kId) + "-1.wav"));
  auto bytes = read_file(path, 1 << 24);
  ASSERT_TRUE(bytes);
  auto info = parse_wav(*bytes);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->sample_rate, 22050u);
  EXPECT_GT(info->duration_s(), 1.0);
  EXPECT_LT(info->duration_s(), 8.0);
  EXPECT_NEAR(json["duration_s"].get<double>(), info->duration_s(), 1e-6);
  double energy = 0;
  auto samples = wav_samples_pcm16(*bytes, *info);
  for (auto sample : samples) energy += static_cast<double>(sample) * sample;
  EXPECT_GT(std::sqrt(energy / samples.size()), 300.0);  // speech, not silence
}

TEST_F(JobRunnerTest, EspeakSpeaksGerman) {
  auto result = run("espeak", R"({"text":"Guten Morgen","language":"de"})");
  EXPECT_TRUE(result.ok) << result.error_message;
}

TEST_F(JobRunnerTest, RefusalsBecomeErrorResults) {
  auto language = run("espeak", R"({"text":"hi","language":"tlh"})");
  EXPECT_FALSE(language.ok);
  EXPECT_EQ(language.error_code, "unsupported_language");
  auto clone = run("espeak", R"({"text":"hi","speaker_wav":"/tmp/x.wav"})");
  EXPECT_EQ(clone.error_code, "cannot_clone");
  auto missing = run("espeak", R"({"language":"en"})");
  EXPECT_EQ(missing.error_code, "missing_field");
  auto bad_json = run("espeak", "{not json");
  EXPECT_EQ(bad_json.error_code, "invalid_json");
  auto unknown = run("xtts", R"({"text":"hi"})");
  EXPECT_EQ(unknown.error_code, "unknown_model");
  auto bad_sleep = run("noop", R"({"text":"hi","sleep_ms":-5})");
  EXPECT_EQ(bad_sleep.error_code, "invalid_input");
}

TEST_F(JobRunnerTest, NoopProducesNoFile) {
  auto result = run("noop", R"({"text":"hi"})");
  ASSERT_TRUE(result.ok);
  EXPECT_TRUE(nlohmann::json::parse(result.result_json)["audio_path"].is_null());
  EXPECT_FALSE(fs::exists(root_ / "tts"));
}

// Guards "a zombie never overwrites the result that counted": each attempt writes its own file.
TEST_F(JobRunnerTest, EachAttemptWritesItsOwnFile) {
  auto first = run("espeak", R"({"text":"one","language":"en"})", 1);
  auto second = run("espeak", R"({"text":"two","language":"en"})", 2);
  ASSERT_TRUE(first.ok && second.ok);
  EXPECT_NE(nlohmann::json::parse(first.result_json)["audio_path"], nlohmann::json::parse(second.result_json)["audio_path"]);
  EXPECT_TRUE(fs::exists(root_ / "tts" / (std::string(kId) + "-1.wav")));
  EXPECT_TRUE(fs::exists(root_ / "tts" / (std::string(kId) + "-2.wav")));
}

TEST_F(JobRunnerTest, ACancelledJobStopsMidRunAndWritesNothing) {
  models::JobContext context;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    context.cancel(ErrorCode::kCancelled);
  });
  const auto started = std::chrono::steady_clock::now();
  auto result = run_with(context, "noop", R"({"text":"hi","sleep_ms":10000})");
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_code, "cancelled");

  models::JobContext cancelled_speech;
  cancelled_speech.cancel(ErrorCode::kCancelled);
  auto speech = run_with(cancelled_speech, "espeak", R"({"text":"never spoken","language":"en"})");
  EXPECT_EQ(speech.error_code, "cancelled");
  EXPECT_FALSE(fs::exists(root_ / "tts" / (std::string(kId) + "-1.wav")));
}

TEST_F(JobRunnerTest, APassedDeadlineEndsTheJobWithItsOwnCode) {
  models::JobContext context(unix_ms() + 30);
  auto result = run_with(context, "noop", R"({"text":"hi","sleep_ms":5000})");
  EXPECT_EQ(result.error_code, "deadline_exceeded");
}

TEST_F(JobRunnerTest, OutOfMemoryFreesTheDeviceCacheAndIsReportedAsSuch) {
  auto result = run("noop", R"({"text":"hi","fail":"out_of_memory"})");
  EXPECT_EQ(result.error_code, "out_of_memory");
  EXPECT_EQ(out_of_memory_calls_, 1);
  auto other = run("noop", R"({"text":"hi","fail":"model_error"})");
  EXPECT_EQ(other.error_code, "model_error");
  EXPECT_EQ(out_of_memory_calls_, 1);
}

TEST_F(JobRunnerTest, AnnouncesLanguagesEspeakCanSpeak) {
  auto infos = runner_->model_infos();
  ASSERT_EQ(infos.size(), 2u);
  const auto& espeak = infos[0].name == "espeak" ? infos[0] : infos[1];
  EXPECT_FALSE(espeak.cloning);
  EXPECT_NE(std::find(espeak.languages.begin(), espeak.languages.end(), "en"), espeak.languages.end());
  EXPECT_NE(std::find(espeak.languages.begin(), espeak.languages.end(), "fr"), espeak.languages.end());
}

}  // namespace
}  // namespace gpufleet::worker
