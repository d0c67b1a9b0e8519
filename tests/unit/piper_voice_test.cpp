// Guards the Piper/VITS path end to end inside one process: a TorchScript voice built at test time (random
// weights, Piper's interface) loads through the worker's LibTorch plugin, batches with padding and is cut
// back per item, and the model around it turns text into audio at the voice's rate, refusing what it
// cannot do with the right error.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "common/error.hpp"
#include "models/backend_registry.hpp"
#include "models/piper/vits_synthesizer.hpp"
#include "models/registry.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/vits_voice.hpp"
#include "worker/torch_runtime.hpp"

namespace gpufleet::models {
namespace {

using gpufleet::testing::TempDir;

std::unique_ptr<Model> load_model(const ModelSpec& spec, const ModelServices& services = {}) {
  return BackendRegistry::standard().load(spec, services);
}

class PiperVoiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    gpufleet::testing::make_vits_voice(dir_->path() / "single", "--sample-rate 16000");
    gpufleet::testing::make_vits_voice(dir_->path() / "multi", "--speakers 3 --seed 7");
    gpufleet::testing::make_vits_voice(dir_->path() / "audio-only", "--audio-only");
    runtime_ = worker::load_torch_runtime().release();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::filesystem::path voice(const std::string& name) { return dir_->path() / name; }

  static ModelServices resources() {
    ModelServices services;
    services.torch = runtime_;
    return services;
  }

  static std::unique_ptr<Model> load(const std::string& name, uint32_t max_batch = 1,
                                     const std::string& extra = "") {
    const std::string registry = R"({"models":[{"name":"piper-test","backend":"piper","device":"cpu",)"
                                 R"("max_batch":)" +
                                 std::to_string(max_batch) + extra +
                                 R"(,"files":{"model":"voice.pt","config":"voice.json"}}]})";
    return load_model(parse_model_registry(registry, voice(name)).at(0), resources());
  }

  static std::vector<int64_t> ids(size_t count, int64_t seed) {
    std::vector<int64_t> result;
    for (size_t i = 0; i < count; ++i) result.push_back(1 + static_cast<int64_t>((i * 7 + seed * 13) % 90));
    return result;
  }

  static inline TempDir* dir_ = nullptr;
  static inline TorchRuntime* runtime_ = nullptr;  // kept for the process: the plugin stays loaded
};

double rms(const std::vector<int16_t>& samples) {
  double sum = 0;
  for (int16_t sample : samples) sum += static_cast<double>(sample) * sample;
  return samples.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(samples.size()));
}

// Guards padding and cutting: a sequence's waveform is the same alone and in a padded batch of longer and
// shorter ones, and its length is its own, not the batch's.
TEST_F(PiperVoiceTest, ABatchedSequenceEqualsItsSoloRun) {
  auto synthesizer = runtime_->load_vits(voice("single") / "voice.pt", "cpu");
  EXPECT_EQ(synthesizer->device(), "cpu");
  const std::vector<VitsSequence> batch{{ids(40, 1), 0}, {ids(9, 2), 0}, {ids(23, 3), 0}};
  const VitsScales scales{0.0f, 1.0f, 0.0f};
  const auto together = synthesizer->synthesize(batch, scales);
  ASSERT_EQ(together.size(), 3u);
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto alone = synthesizer->synthesize({batch[i]}, scales);
    ASSERT_EQ(alone[0].size(), together[i].size()) << "sequence " << i;
    ASSERT_GT(alone[0].size(), 0u);
    double worst = 0;
    for (size_t s = 0; s < alone[0].size(); ++s)
      worst = std::max(worst, std::fabs(double(alone[0][s]) - together[i][s]));
    EXPECT_LT(worst, 1e-5) << "sequence " << i;
  }
  EXPECT_GT(together[0].size(), together[2].size());
  EXPECT_GT(together[2].size(), together[1].size());
  // Slower speech (a larger length scale) is longer.
  EXPECT_GT(synthesizer->synthesize({batch[1]}, VitsScales{0.0f, 2.0f, 0.0f})[0].size(), together[1].size());
}

// Guards the text-to-audio path: the config's sample rate, real (non-silent) audio, a pause per sentence.
TEST_F(PiperVoiceTest, TextBecomesAudioAtTheVoicesRate) {
  auto model = load("single");
  EXPECT_TRUE(model->batches());
  EXPECT_EQ(model->info().sample_rate, 16000u);
  EXPECT_EQ(model->info().languages, std::vector<std::string>{"en"});
  EXPECT_FALSE(model->info().cloning);
  JobContext context;
  auto one = model->run(ModelInput{"j1", {{"text", "Hello world."}}}, context);
  auto two = model->run(ModelInput{"j2", {{"text", "Hello world. Hello world."}}}, context);
  ASSERT_TRUE(one.audio && two.audio);
  EXPECT_EQ(one.audio->sample_rate, 16000u);
  EXPECT_GT(rms(one.audio->samples), 100.0);
  // Two sentences: twice the speech and twice the 0.2 s pause.
  EXPECT_EQ(two.audio->samples.size(), 2 * one.audio->samples.size());
  EXPECT_GE(one.audio->samples.size(), 3200u);
  for (size_t i = one.audio->samples.size() - 3200; i < one.audio->samples.size(); ++i) {
    ASSERT_EQ(one.audio->samples[i], 0) << "the sentence pause is silent";
  }
}

// Guards dynamic batching at the model level: jobs batched together (different texts, lengths, speeds)
// each get exactly what they get alone.
TEST_F(PiperVoiceTest, BatchedJobsGetWhatTheyGetAlone) {
  auto model = load("single", 8);
  const std::vector<nlohmann::json> inputs{
      {{"text", "The quick brown fox jumps over the lazy dog."}},
      {{"text", "Hi."}},
      {{"text", "Batching keeps the device busy. It pads, then cuts."}, {"speed", 1.5}},
      {{"text", "Hi."}, {"speed", 0.5}}};
  std::vector<ModelInput> model_inputs;
  for (size_t i = 0; i < inputs.size(); ++i)
    model_inputs.push_back(ModelInput{"j" + std::to_string(i), inputs[i]});
  std::vector<JobContext> contexts(inputs.size());
  std::vector<BatchItem> items;
  for (size_t i = 0; i < inputs.size(); ++i) items.push_back(BatchItem{&model_inputs[i], &contexts[i]});
  auto outcomes = model->run_batch(items);
  ASSERT_EQ(outcomes.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_FALSE(outcomes[i].error) << "job " << i;
    JobContext context;
    auto alone = model->run(model_inputs[i], context);
    const auto& batched = outcomes[i].output->audio->samples;
    ASSERT_EQ(batched.size(), alone.audio->samples.size()) << "job " << i;
    int worst = 0;
    for (size_t s = 0; s < batched.size(); ++s)
      worst = std::max(worst, std::abs(batched[s] - alone.audio->samples[s]));
    EXPECT_LE(worst, 1) << "job " << i << " differs from its solo run";
  }
  EXPECT_GT(outcomes[3].output->audio->samples.size(), outcomes[1].output->audio->samples.size());
}

// Guards a batch's independence: a cancelled job and a job with bad input fail alone; the rest succeed.
TEST_F(PiperVoiceTest, OneJobsFailureStaysItsOwn) {
  auto model = load("single", 4);
  std::vector<ModelInput> inputs{{"ok", {{"text", "Fine."}}},
                                 {"gone", {{"text", "Cancelled."}}},
                                 {"bad", {{"text", "Fine."}, {"speed", 100}}}};
  std::vector<JobContext> contexts(3);
  contexts[1].cancel(ErrorCode::kCancelled);
  auto outcomes =
      model->run_batch({{&inputs[0], &contexts[0]}, {&inputs[1], &contexts[1]}, {&inputs[2], &contexts[2]}});
  EXPECT_TRUE(outcomes[0].output && !outcomes[0].error);
  auto code_of = [](const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const FleetError& fleet_error) {
      return fleet_error.code();
    }
  };
  ASSERT_TRUE(outcomes[1].error);
  EXPECT_EQ(code_of(outcomes[1].error), ErrorCode::kCancelled);
  ASSERT_TRUE(outcomes[2].error);
  EXPECT_EQ(code_of(outcomes[2].error), ErrorCode::kInvalidInput);
}

// Guards the refusals a client sees: cloning, a language the voice does not speak, an unknown speaker.
TEST_F(PiperVoiceTest, WhatAVoiceCannotDoIsRefusedWithItsCode) {
  auto model = load("multi");
  JobContext context;
  auto code_of = [&](nlohmann::json input) {
    try {
      model->run(ModelInput{"j", std::move(input)}, context);
    } catch (const FleetError& error) {
      return error.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code_of({{"text", "x"}, {"speaker_wav", "ref.wav"}}), ErrorCode::kCannotClone);
  EXPECT_EQ(code_of({{"text", "x"}, {"language", "de"}}), ErrorCode::kUnsupportedLanguage);
  EXPECT_EQ(code_of({{"text", "x"}, {"speaker", "nobody"}}), ErrorCode::kInvalidInput);
  EXPECT_EQ(code_of({{"text", "x"}, {"speaker", 3}}), ErrorCode::kInvalidInput);
  EXPECT_EQ(code_of({{"text", ""}}), ErrorCode::kMissingField);
  // Speakers of a multi-speaker voice sound different.
  auto first = model->run(ModelInput{"a", {{"text", "Same words."}, {"speaker", "speaker0"}}}, context);
  auto second = model->run(ModelInput{"b", {{"text", "Same words."}, {"speaker", 2}}}, context);
  EXPECT_NE(first.audio->samples, second.audio->samples);
}

// Guards loading: a broken module file, a config without a phoneme map, batching on a backend that cannot,
// and a module that gives no frame mask (it can run alone, never padded).
TEST_F(PiperVoiceTest, BadFilesAndImpossibleSettingsAreClearErrors) {
  TempDir broken;
  std::filesystem::copy(voice("single") / "voice.json", broken.path() / "voice.json");
  std::ofstream(broken.path() / "voice.pt") << "not a TorchScript archive";
  const std::string registry =
      R"({"models":[{"name":"b","backend":"piper","device":"cpu","files":{"model":"voice.pt","config":"voice.json"}}]})";
  try {
    load_model(parse_model_registry(registry, broken.path()).at(0), resources());
    FAIL() << "a broken module loaded";
  } catch (const ModelError& error) {
    EXPECT_NE(std::string(error.what()).find("cannot load TorchScript voice"), std::string::npos)
        << error.what();
  }
  std::ofstream(broken.path() / "voice.json", std::ios::trunc) << R"({"audio":{"sample_rate":22050}})";
  EXPECT_THROW(load_model(parse_model_registry(registry, broken.path()).at(0), resources()), ConfigError);
  EXPECT_THROW(load_model(parse_model_registry(registry, voice("single")).at(0)), ConfigError)
      << "without the LibTorch plugin a piper voice cannot load";
  EXPECT_THROW(
      load_model(
          parse_model_registry(R"({"models":[{"name":"e","backend":"espeak","max_batch":4}]})", ".").at(0)),
      ConfigError);
  EXPECT_THROW(load("single", 1, R"(,"options":{"sentence_silence_s":"long"})"), ConfigError);

  auto synthesizer = runtime_->load_vits(voice("audio-only") / "voice.pt", "cpu");
  EXPECT_EQ(synthesizer->synthesize({{ids(10, 1), 0}}, VitsScales{0, 1, 0}).size(), 1u);
  try {
    synthesizer->synthesize({{ids(10, 1), 0}, {ids(5, 2), 0}}, VitsScales{0, 1, 0});
    FAIL() << "an audio-only module was batched";
  } catch (const ModelError& error) {
    EXPECT_NE(std::string(error.what()).find("max_batch 1"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace gpufleet::models
