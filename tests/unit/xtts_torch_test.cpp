// Guards the LibTorch stages of the XTTS engine against upstream's numbers in the golden set.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "models/xtts/safetensors.hpp"
#include "models/xtts/config.hpp"
#include "models/xtts/torch/conditioning.hpp"
#include "models/xtts/torch/mel.hpp"
#include "models/xtts/torch/tensors.hpp"

namespace gpufleet::xtts {
namespace {

std::string golden_dir() {
  if (const char* dir = std::getenv("XTTS_GOLDEN_DIR")) return dir;
  if (const char* source = std::getenv("GPUFLEET_SOURCE_DIR")) return std::string(source) + "/../shared/xtts-golden";
  return "../shared/xtts-golden";
}

bool have_golden() { return std::ifstream(golden_dir() + "/golden.safetensors").good(); }

// The README's suggested tolerance for spectrograms: |a-b| <= 1e-4 + 1e-4*|b|.
::testing::AssertionResult close(const torch::Tensor& actual, const torch::Tensor& expected, double atol, double rtol) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shape " << actual.sizes() << " vs " << expected.sizes();
  }
  auto excess = (actual - expected).abs() - (atol + rtol * expected.abs());
  const double worst = excess.max().item<double>();
  if (worst <= 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |a-b| " << (actual - expected).abs().max().item<double>()
                                       << " exceeds the tolerance by " << worst;
}

TEST(XttsMel, ConditioningMelMatchesUpstream) {
  if (!have_golden()) GTEST_SKIP() << "no XTTS golden set at " << golden_dir();
  torch::NoGradGuard no_grad;
  const auto golden = SafetensorsFile::open(golden_dir() + "/golden.safetensors");
  const auto model = SafetensorsFile::open(golden_dir() + "/model.safetensors");
  const auto audio = to_tensor(golden.get("ref.audio_22k"));
  const auto mel_stats = to_tensor(model.get("mel_stats"));
  const int64_t chunk = 22050 * 4;  // gpt_cond_chunk_len = 4 s
  const auto mel0 = conditioning_mel(audio.slice(1, 0, chunk), mel_stats);
  EXPECT_TRUE(close(mel0, to_tensor(golden.get("cond.chunk0.mel")), 1e-4, 1e-4));
  const auto mel1 = conditioning_mel(audio.slice(1, chunk, audio.size(1)), mel_stats);
  EXPECT_TRUE(close(mel1, to_tensor(golden.get("cond.chunk1.mel")), 1e-4, 1e-4));
}

TEST(XttsConditioning, EncoderPerceiverAndLatentMatchUpstream) {
  if (!have_golden()) GTEST_SKIP() << "no XTTS golden set at " << golden_dir();
  torch::NoGradGuard no_grad;
  const auto golden = SafetensorsFile::open(golden_dir() + "/golden.safetensors");
  const auto weights = Weights::from_safetensors(SafetensorsFile::open(golden_dir() + "/model.safetensors"));
  const auto config = XttsConfig::load(golden_dir() + "/config.json");
  for (const std::string chunk : {"cond.chunk0", "cond.chunk1"}) {
    const auto encoded = conditioning_encoder(weights, to_tensor(golden.get(chunk + ".mel")), config.gpt_n_heads);
    EXPECT_TRUE(close(encoded, to_tensor(golden.get(chunk + ".conditioning_encoder")), 1e-4, 1e-4)) << chunk;
    const auto resampled = perceiver_resampler(weights, encoded.transpose(1, 2));
    EXPECT_TRUE(close(resampled, to_tensor(golden.get(chunk + ".perceiver")), 1e-4, 1e-4)) << chunk;
  }
  const auto latent = gpt_conditioning_latents(weights, config, to_tensor(golden.get("ref.audio_22k")));
  EXPECT_TRUE(close(latent, to_tensor(golden.get("cond.gpt_cond_latent")), 1e-4, 1e-4));
}

}  // namespace
}  // namespace gpufleet::xtts
