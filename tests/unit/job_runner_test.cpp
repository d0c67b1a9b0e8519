// Guards the worker's job execution without sockets: real espeak-ng speech lands as a valid WAV under the
// storage root, every refusal becomes an error result instead of an exception, and cancellation, deadlines
// and out-of-memory end a job with their own codes.
#include "worker/job_runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/wav.hpp"
#include "models/espeak/espeak_tts.hpp"
#include "models/noop/noop.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::worker {
namespace {

namespace fs = std::filesystem;

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::map<std::string, std::unique_ptr<models::Model>> loaded;
    loaded["espeak"] = std::make_unique<models::EspeakTts>();
    loaded["noop"] = std::make_unique<models::NoopModel>(/*cloning=*/false, /*drills=*/true);
    runner_ = std::make_unique<JobRunner>(std::move(loaded), root_, [this] { ++out_of_memory_calls_; });
  }
  protocol::JobResult run(const std::string& model, const std::string& input, uint32_t attempt = 1) {
    models::JobContext context;
    return run_with(context, model, input, attempt);
  }
  protocol::JobResult run_with(models::JobContext& context, const std::string& model,
                               const std::string& input, uint32_t attempt = 1) {
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

// Guards a peer's odd field: "stream": null (or a number) in a job's input threw a JSON type error in the
// worker, which failed the job as a model error; anything but true is simply no stream.
TEST_F(JobRunnerTest, AStreamFieldThatIsNotTrueMeansNoStream) {
  for (const char* stream : {"null", "1", "\"yes\""}) {
    auto result = run("espeak", std::string(R"({"text":"Hello.","language":"en","stream":)") + stream + "}");
    EXPECT_TRUE(result.ok) << stream << ": " << result.error_code << ": " << result.error_message;
  }
}

// The language reaches espeak-ng's voice: the same words spoken as German and as English are speech both
// times, and not the same sound (an ignored language would give the same samples twice).
TEST_F(JobRunnerTest, EspeakSpeaksGerman) {
  auto samples_of = [this](const char* language, uint32_t attempt) {
    auto result =
        run("espeak",
            std::string(R"({"text":"Guten Morgen, wie geht es Ihnen?","language":")") + language + "\"}",
            attempt);
    EXPECT_TRUE(result.ok) << language << ": " << result.error_code << ": " << result.error_message;
    if (!result.ok) return std::vector<int16_t>{};
    const std::string path = nlohmann::json::parse(result.result_json)["audio_path"];
    auto bytes = read_file(path, 1 << 24);
    auto info = bytes ? parse_wav(*bytes) : std::nullopt;
    EXPECT_TRUE(info) << path;
    return info ? wav_samples_pcm16(*bytes, *info) : std::vector<int16_t>{};
  };
  const auto german = samples_of("de", 1);
  const auto english = samples_of("en", 2);
  for (const auto* samples : {&german, &english}) {
    ASSERT_GT(samples->size(), 22050u / 2);  // at least half a second at 22,050 Hz
    double energy = 0;
    for (auto sample : *samples) energy += static_cast<double>(sample) * sample;
    EXPECT_GT(std::sqrt(energy / static_cast<double>(samples->size())), 300.0);  // speech, not silence
  }
  EXPECT_NE(german, english);
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
  EXPECT_NE(nlohmann::json::parse(first.result_json)["audio_path"],
            nlohmann::json::parse(second.result_json)["audio_path"]);
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

// A model that works in rounds, as a decoding model does: each round it takes newcomers, then finishes the
// job whose "rounds" ran out (so short jobs end first), and it can be told to forget a job or to finish one
// twice.
class RoundsModel final : public models::Model {
 public:
  RoundsModel() {
    info_.name = "rounds";
    info_.kind = "tts";
  }
  const models::ModelInfo& info() const override { return info_; }
  models::ModelOutput run(const models::ModelInput&, models::JobContext&) override { return {}; }
  bool batches() const override { return true; }
  void run_continuous(const std::vector<models::BatchItem>& items, models::BatchFeed& feed) override {
    std::vector<std::pair<models::BatchItem, int>> running;
    for (const auto& item : items) running.emplace_back(item, item.input->input.value("rounds", 1));
    for (int round = 1; !running.empty(); ++round) {
      for (const auto& item : feed.join())
        running.emplace_back(item, round + item.input->input.value("rounds", 1));
      log.push_back("round " + std::to_string(round) + ": " + std::to_string(running.size()) + " running");
      for (auto it = running.begin(); it != running.end();) {
        if (it->second > round) {
          ++it;
          continue;
        }
        if (it->first.input->input.value("forget", false)) {
          it = running.erase(it);
          continue;
        }
        models::ModelOutput output;
        output.details["round"] = round;
        feed.finish(it->first, models::BatchOutcome{output, nullptr});
        if (it->first.input->input.value("twice", false))
          feed.finish(it->first, models::BatchOutcome{output, nullptr});
        it = running.erase(it);
      }
    }
  }
  std::vector<std::string> log;

 private:
  models::ModelInfo info_;
};

// A worker's side of a batch: newcomers offered once the batch asks, results in the order they come.
class ScriptedSource final : public JobRunner::TaskSource {
 public:
  std::vector<JobRunner::Task> more(const std::string& model, size_t running) override {
    asked.push_back(model + "/" + std::to_string(running));
    std::vector<JobRunner::Task> joining;
    joining.swap(offer);
    return joining;
  }
  void done(const JobRunner::Task& task, protocol::JobResult result) override {
    // What the batch's other jobs are doing when this one is reported: finished ones went out at once.
    order.push_back(task.job->job_id);
    results[task.job->job_id] = std::move(result);
  }
  std::vector<JobRunner::Task> offer;
  std::vector<std::string> asked;
  std::vector<std::string> order;
  std::map<std::string, protocol::JobResult> results;
};

std::string job_id(char fill) {
  return std::string(32, fill);
}

// Guards continuous batching in the runner: a job that joins a running batch is checked like any other, each
// result is handed over when its job ends (a short job before a long one that started earlier), a job the
// model forgets fails instead of hanging, and a job finished twice is reported once.
// Guards the clean-up of a refused result (#16: only audio was deleted, so a refused video attempt left its
// MP4 behind): an attempt's audio and video files are named, nothing else its result mentions is.
TEST_F(JobRunnerTest, ARefusedAttemptsFilesAreItsOwnOutputsOfEitherKind) {
  const fs::path audio = root_ / "tts" / (std::string(kId) + "-2.wav");
  const fs::path video = root_ / "video" / (std::string(kId) + "-2.mp4");
  const fs::path earlier = root_ / "tts" / (std::string(kId) + "-1.wav");
  for (const auto& file : {audio, video, earlier}) write_file_atomically(file, "bytes");
  const nlohmann::json result{{"video_path", video.string()}, {"audio_path", audio.string()}, {"frames", 25}};
  auto files = runner_->files_of_attempt(result.dump(), kId, 2);
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<fs::path>{audio, video}));
  // Another attempt's file, an input (a video job's speech from the TTS stage), a path outside the storage.
  const nlohmann::json others{{"audio_path", earlier.string()}, {"video_path", "/etc/passwd"}};
  EXPECT_TRUE(runner_->files_of_attempt(others.dump(), kId, 2).empty());
  const nlohmann::json escape{
      {"video_path", (root_ / "video" / ".." / ".." / (std::string(kId) + "-2.mp4")).string()}};
  EXPECT_TRUE(runner_->files_of_attempt(escape.dump(), kId, 2).empty());
  EXPECT_TRUE(runner_->files_of_attempt("not json", kId, 2).empty());
  EXPECT_TRUE(runner_->files_of_attempt(R"({"audio_path":null})", kId, 2).empty());
}

TEST(JobRunnerContinuous, JoinersAreCheckedAndEachResultLeavesWhenItsJobEnds) {
  testing::TempDir dir;
  std::map<std::string, std::unique_ptr<models::Model>> loaded;
  auto model = std::make_unique<RoundsModel>();
  RoundsModel* rounds = model.get();
  loaded["rounds"] = std::move(model);
  JobRunner runner(std::move(loaded), dir.path());
  auto job = [](char fill, const std::string& input) {
    return protocol::Job{job_id(fill), 1, "tts", "rounds", input, 0, 0, 0};
  };
  const protocol::Job long_job = job('a', R"({"rounds":4})");
  const protocol::Job short_joiner = job('b', R"({"rounds":1})");
  const protocol::Job bad_joiner = job('c', "{not json");
  const protocol::Job forgotten = job('d', R"({"rounds":2,"forget":true})");
  const protocol::Job twice = job('e', R"({"rounds":1,"twice":true})");
  models::JobContext contexts[5];
  ScriptedSource source;
  source.offer = {{&short_joiner, &contexts[1]}, {&bad_joiner, &contexts[2]}, {&forgotten, &contexts[3]}};
  runner.run_continuous({{&long_job, &contexts[0]}, {&twice, &contexts[4]}}, source);

  EXPECT_EQ(source.asked.front(), "rounds/2") << "the batch asks with its running count";
  ASSERT_EQ(source.results.size(), 5u);
  EXPECT_EQ(source.order,
            (std::vector<std::string>{job_id('c'), job_id('e'), job_id('b'), job_id('a'), job_id('d')}));
  EXPECT_EQ(source.results[job_id('c')].error_code, "invalid_json")
      << "a joiner is checked before its model sees it";
  ASSERT_TRUE(source.results[job_id('b')].ok) << source.results[job_id('b')].error_message;
  EXPECT_EQ(nlohmann::json::parse(source.results[job_id('b')].result_json)["round"], 2)
      << "joined in round 1, ended in round 2";
  EXPECT_EQ(nlohmann::json::parse(source.results[job_id('a')].result_json)["round"], 4);
  EXPECT_EQ(source.results[job_id('d')].error_code, "model_error")
      << "a forgotten job fails when the call returns";
  EXPECT_TRUE(source.results[job_id('e')].ok);
  EXPECT_EQ(rounds->log.front(), "round 1: 4 running");

  // run_batch is the same path without newcomers: its results in the order of its tasks.
  const auto batch = runner.run_batch({{&long_job, &contexts[0]}, {&short_joiner, &contexts[1]}});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].job_id, job_id('a'));
  EXPECT_EQ(nlohmann::json::parse(batch[1].result_json)["round"], 1);
}

}  // namespace
}  // namespace gpufleet::worker
