// gpufleet-xtts end to end against upstream: the real binary reads the golden model folder and reference
// recording, and every tensor it dumps must match the golden set (codes exactly). A second run loads the
// released model.pth layout instead of safetensors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/process.hpp"
#include "common/files.hpp"
#include "common/wav.hpp"
#include "models/xtts/safetensors.hpp"
#include "models/xtts/torch/tensors.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/xtts_golden.hpp"

namespace gpufleet::testing {
namespace {

namespace fs = std::filesystem;

fs::path golden_dir() {
  return gpufleet::testing::xtts_golden_dir();
}

// XTTS_TEST_DEVICE=cuda runs the binary on the GPU (the tolerances then also bound CUDA's rounding).
std::string test_device() {
  const char* device = std::getenv("XTTS_TEST_DEVICE");
  return device != nullptr ? device : "cpu";
}

::testing::AssertionResult close(const torch::Tensor& actual, const torch::Tensor& expected, double atol,
                                 double rtol) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shape " << actual.sizes() << " vs " << expected.sizes();
  }
  const double worst = ((actual - expected).abs() - (atol + rtol * expected.abs())).max().item<double>();
  if (worst <= 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |a-b| " << (actual - expected).abs().max().item<double>();
}

void run_and_compare(const fs::path& model_dir, const std::vector<std::string>& extra = {}) {
  TempDir out;
  std::vector<std::string> argv{bin_dir() + "/gpufleet-xtts",
                                "--model-dir",
                                model_dir.string(),
                                "--text",
                                "Hello world! This is test number 42, isn't it?",
                                "--language",
                                "en",
                                "--speaker-wav",
                                (golden_dir() / "inputs" / "ref.wav").string(),
                                "--greedy",
                                "--device",
                                test_device(),
                                "--out",
                                (out.path() / "out.wav").string(),
                                "--dump",
                                out.path().string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto process = cli::Process::spawn(argv, {}, (out.path() / "log.txt").string());
  auto status = process.wait(std::chrono::seconds(120));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << *read_file(out.path() / "log.txt", 1 << 20);

  const auto dump = xtts::SafetensorsFile::open(out.path() / "xtts_dump.safetensors");
  const auto golden = xtts::SafetensorsFile::open(golden_dir() / "golden.safetensors");
  auto mine = [&](const std::string& name) { return xtts::to_tensor(dump.get(name)); };
  auto theirs = [&](const std::string& name) { return xtts::to_tensor(golden.get(name)); };
  EXPECT_TRUE(close(mine("ref.audio_22k"), theirs("ref.audio_22k"), 1e-6, 0));
  EXPECT_TRUE(close(mine("spk.embedding"), theirs("spk.embedding"), 1e-4, 1e-4));
  EXPECT_TRUE(close(mine("cond.gpt_cond_latent"), theirs("cond.gpt_cond_latent"), 1e-4, 1e-4));
  EXPECT_TRUE(torch::equal(mine("text.ids"), theirs("text0.ids")));
  if (dump.contains("gpt.prefill_logits")) {  // the batch paths (--step fixed) do not keep it
    EXPECT_TRUE(close(mine("gpt.prefill_logits"), theirs("gpt.text0.prefill_logits"), 1e-3, 0));
  }
  EXPECT_TRUE(torch::equal(mine("greedy.codes"), theirs("greedy.text0.codes")));
  EXPECT_TRUE(close(mine("greedy.latents"), theirs("greedy.text0.latents"), 1e-4, 1e-4));
  EXPECT_TRUE(close(mine("greedy.wav"), theirs("greedy.text0.wav"), 1e-4, 0));

  auto wav = read_file(out.path() / "out.wav", 1 << 24);
  ASSERT_TRUE(wav);
  auto info = parse_wav(*wav);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->sample_rate, 24000u);
  EXPECT_EQ(info->frames, 44544u);
}

TEST(XttsCli, GreedyRunMatchesUpstreamFromSafetensors) {
  if (!fs::exists(golden_dir() / "golden.safetensors"))
    GTEST_SKIP() << "no XTTS golden set at " << golden_dir();
  run_and_compare(golden_dir());
}

// Guards the worker's path (#17): the text through a SpeechBatch on the fixed-shape step gives upstream's
// codes, latents and waveform too; with a GPU (XTTS_TEST_DEVICE=cuda) also with the step as a CUDA graph.
TEST(XttsCli, TheFixedShapeStepMatchesUpstream) {
  if (!fs::exists(golden_dir() / "golden.safetensors"))
    GTEST_SKIP() << "no XTTS golden set at " << golden_dir();
  run_and_compare(golden_dir(), {"--step", "fixed"});
}

TEST(XttsCli, TheStepAsACudaGraphMatchesUpstream) {
  if (!fs::exists(golden_dir() / "golden.safetensors"))
    GTEST_SKIP() << "no XTTS golden set at " << golden_dir();
  if (test_device() != "cuda") GTEST_SKIP() << "CUDA graphs: XTTS_TEST_DEVICE=cuda on a GPU host";
  run_and_compare(golden_dir(), {"--cuda-graphs"});
}

TEST(XttsCli, GreedyRunMatchesUpstreamFromModelPth) {
  if (!fs::exists(golden_dir() / "model.pth")) GTEST_SKIP() << "no XTTS golden set at " << golden_dir();
  TempDir model;
  for (const char* name : {"config.json", "vocab.json", "model.pth"}) {
    fs::create_symlink(fs::absolute(golden_dir() / name), model.path() / name);
  }
  run_and_compare(model.path());
}

TEST(XttsCli, BadInputsAreClearErrors) {
  if (!fs::exists(golden_dir() / "golden.safetensors"))
    GTEST_SKIP() << "no XTTS golden set at " << golden_dir();
  TempDir out;
  write_file_atomically(out.path() / "not.wav", "this is not audio");
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{bin_dir() + "/gpufleet-xtts",
                                  "--model-dir",
                                  golden_dir().string(),
                                  "--out",
                                  (out.path() / "o.wav").string(),
                                  "--device",
                                  "cpu"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto process = cli::Process::spawn(argv, {}, (out.path() / "log.txt").string());
    auto status = process.wait(std::chrono::seconds(60));
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", (out.path() / "not.wav").string()}), 1);
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", (out.path() / "missing.wav").string()}), 1);
  EXPECT_EQ(run({"--text", "hi", "--language", "tlh", "--speaker-wav",
                 (golden_dir() / "inputs" / "ref.wav").string()}),
            1);
  EXPECT_EQ(run({"--text", "hi"}), 2);  // no reference: usage
  const std::string reference = (golden_dir() / "inputs" / "ref.wav").string();
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", reference, "--dtype", "float64"}), 2);
  // An option the CLI does not know was taken silently and ignored (exit 0).
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", reference, "--bogus-flag", "7"}), 2);
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", reference, "--speed"}), 2);  // no value
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", reference, "--step", "static"}), 2);
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", reference, "--step", "dynamic", "--cuda-graphs"}), 2);
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", reference, "--dtype", "float16"}), 1);  // not on the CPU
  const auto log = read_file(out.path() / "log.txt", 1 << 20);
  ASSERT_TRUE(log);
  EXPECT_NE(log->find("float16 needs a CUDA device"), std::string::npos) << *log;
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", (out.path() / "not.wav").string()}), 1);
  EXPECT_EQ(run({"--text", "hi", "--language", "tlh", "--speaker-wav", reference}), 1);
  const auto later_log = read_file(out.path() / "log.txt", 1 << 20);
  ASSERT_TRUE(later_log);
  EXPECT_NE(later_log->find("does not speak 'tlh'"), std::string::npos);
  EXPECT_NE(later_log->find("not a WAV file"), std::string::npos);
  // Reduced precision runs end to end: bfloat16 weight matrices, float32 audio out.
  EXPECT_EQ(run({"--text", "hi", "--speaker-wav", reference, "--greedy", "--dtype", "bfloat16"}), 0);
  auto wav = read_file(out.path() / "o.wav", 1 << 24);
  ASSERT_TRUE(wav);
  EXPECT_TRUE(parse_wav(*wav));
}

}  // namespace
}  // namespace gpufleet::testing
