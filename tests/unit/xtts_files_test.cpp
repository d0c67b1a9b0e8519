// Guards loading of the upstream XTTS files: config.json with Python's Infinity, and safetensors files that
// are read exactly (checked against the golden set when it is there) and refused when inconsistent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "models/xtts/config.hpp"
#include "models/xtts/safetensors.hpp"
#include "models/xtts/torch_checkpoint.hpp"
#include "models/xtts/voice_cache.hpp"
#include "models/xtts/voice_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xtts_golden.hpp"

namespace gpufleet::xtts {
namespace {

namespace fs = std::filesystem;

fs::path golden_dir() {
  return gpufleet::testing::xtts_golden_dir();
}

TEST(XttsConfig, ReadsTheGoldenConfigWithItsInfinity) {
  const fs::path dir = golden_dir();
  if (!fs::exists(dir / "config.json")) GTEST_SKIP() << "no XTTS golden set at " << dir;
  const auto config = XttsConfig::load(dir / "config.json");
  EXPECT_EQ(config.gpt_layers, 2);
  EXPECT_EQ(config.gpt_n_model_channels, 128);
  EXPECT_EQ(config.gpt_n_heads, 4);
  EXPECT_EQ(config.gpt_number_text_tokens, 5413);
  EXPECT_EQ(config.max_generated_codes(), 40);
  EXPECT_EQ(config.decoder_input_dim, 128);
  EXPECT_DOUBLE_EQ(config.repetition_penalty, 5.0);
  EXPECT_DOUBLE_EQ(config.gpt_cond_chunk_len, 4.0);
  EXPECT_EQ(config.languages.size(), 17u);
}

// Guards the inference settings of a config.json without them: they were Xtts.full_inference's keyword
// defaults (repetition 10.0, chunks of 6 s, 30 s of reference) instead of XttsConfig's, which upstream uses.
TEST(XttsConfig, MissingInferenceSettingsAreXttsConfigDefaults) {
  const auto config = XttsConfig::from_json_text(R"({"model_args": {}})");
  EXPECT_DOUBLE_EQ(config.temperature, 0.85);
  EXPECT_DOUBLE_EQ(config.length_penalty, 1.0);
  EXPECT_DOUBLE_EQ(config.repetition_penalty, 2.0);
  EXPECT_EQ(config.top_k, 50);
  EXPECT_DOUBLE_EQ(config.top_p, 0.85);
  EXPECT_DOUBLE_EQ(config.gpt_cond_len, 12.0);
  EXPECT_DOUBLE_EQ(config.gpt_cond_chunk_len, 4.0);
  EXPECT_DOUBLE_EQ(config.max_ref_len, 10.0);
  EXPECT_FALSE(config.sound_norm_refs);
}

TEST(XttsConfig, PythonLiteralsOnlyOutsideStrings) {
  auto json = parse_python_json(R"({"a": Infinity, "b": -Infinity, "c": NaN, "d": "Infinity and NaN"})");
  ASSERT_TRUE(json.is_object());
  EXPECT_GT(json["a"].get<double>(), 1e300);
  EXPECT_LT(json["b"].get<double>(), -1e300);
  EXPECT_TRUE(json["c"].is_null());
  EXPECT_EQ(json["d"], "Infinity and NaN");
  EXPECT_THROW(XttsConfig::from_json_text("{not json"), ModelError);
  EXPECT_THROW(
      XttsConfig::from_json_text(R"({"model_args": {"gpt_n_heads": 3, "gpt_n_model_channels": 128}})"),
      ModelError);
  EXPECT_THROW(XttsConfig::from_json_text(R"({"model_args": {"gpt_layers": "two"}})"), ModelError);
}

TEST(Safetensors, ReadsTheGoldenTensors) {
  const fs::path dir = golden_dir();
  if (!fs::exists(dir / "golden.safetensors")) GTEST_SKIP() << "no XTTS golden set at " << dir;
  const auto golden = SafetensorsFile::open(dir / "golden.safetensors");
  std::ifstream in(dir / "golden.json");
  const auto manifest = nlohmann::json::parse(in);
  for (const auto& [name, entry] : manifest["entries"].items()) {
    ASSERT_TRUE(golden.contains(name)) << name;
    EXPECT_EQ(golden.get(name).shape, entry["shape"].get<std::vector<int64_t>>()) << name;
  }
  EXPECT_EQ(golden.get("text0.ids").to_int64s(),
            manifest["info"]["texts"][0]["ids"].get<std::vector<int64_t>>());
  const auto audio = golden.get("ref.audio_22k").to_floats();
  EXPECT_EQ(audio.size(), 139487u);
  EXPECT_THROW(golden.get("text0.ids").to_floats(), ModelError);
  EXPECT_THROW(golden.get("no.such.tensor"), ModelError);

  const auto model = SafetensorsFile::open(dir / "model.safetensors");
  EXPECT_EQ(model.tensors().size(), 499u);
  EXPECT_TRUE(model.contains("mel_stats"));
}

TEST(TorchCheckpoint, ModelPthConvertsToExactlyTheGoldenSafetensors) {
  const fs::path dir = golden_dir();
  if (!fs::exists(dir / "model.pth")) GTEST_SKIP() << "no XTTS golden set at " << dir;
  const auto tensors = xtts_state_dict(read_torch_checkpoint(dir / "model.pth"));
  const auto reference = SafetensorsFile::open(dir / "model.safetensors");
  ASSERT_EQ(tensors.size(), reference.tensors().size());
  testing::TempDir out;
  write_safetensors(out.path() / "model.safetensors", tensors);
  const auto converted = SafetensorsFile::open(out.path() / "model.safetensors");
  for (const auto& [name, view] : reference.tensors()) {
    ASSERT_TRUE(converted.contains(name)) << name;
    const auto& mine = converted.get(name);
    EXPECT_EQ(mine.dtype, view.dtype) << name;
    EXPECT_EQ(mine.shape, view.shape) << name;
    ASSERT_EQ(mine.bytes.size(), view.bytes.size()) << name;
    EXPECT_EQ(std::memcmp(mine.bytes.data(), view.bytes.data(), view.bytes.size()), 0) << name;
  }
}

TEST(TorchCheckpoint, TrainerLayoutIsNormalised) {
  TensorMap checkpoint;
  checkpoint["model.xtts.gpt.ln.weight"] = OwnedTensor{DType::kF32, {1}, std::string(4, '\0')};
  checkpoint["model.dvae.codebook"] = OwnedTensor{DType::kF32, {1}, std::string(4, '\0')};
  checkpoint["model.hifigan_decoder.conv.parametrizations.weight.original0"] =
      OwnedTensor{DType::kF32, {1}, std::string(4, '\0')};
  checkpoint["model.hifigan_decoder.conv.parametrizations.weight.original1"] =
      OwnedTensor{DType::kF32, {1}, std::string(4, '\0')};
  const auto state = xtts_state_dict(std::move(checkpoint));
  EXPECT_EQ(state.size(), 3u);
  EXPECT_TRUE(state.count("gpt.ln.weight"));
  EXPECT_TRUE(state.count("hifigan_decoder.conv.weight_g"));
  EXPECT_TRUE(state.count("hifigan_decoder.conv.weight_v"));
}

class SafetensorsBadFiles : public ::testing::Test {
 protected:
  fs::path write(const std::string& header, size_t data_bytes) {
    std::string bytes(8, '\0');
    uint64_t size = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((size >> (8 * i)) & 0xFF);
    bytes += header + std::string(data_bytes, '\0');
    const auto path = dir_ / ("f" + std::to_string(count_++) + ".safetensors");
    write_file_atomically(path, bytes);
    return path;
  }
  testing::TempDir temp_;
  const fs::path& dir_ = temp_.path();
  int count_ = 0;
};

TEST_F(SafetensorsBadFiles, InconsistentFilesAreRefused) {
  EXPECT_NO_THROW(
      SafetensorsFile::open(write(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8)));
  EXPECT_THROW(SafetensorsFile::open(write(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8)),
               ModelError);
  EXPECT_THROW(SafetensorsFile::open(write(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
               ModelError);
  EXPECT_THROW(SafetensorsFile::open(write(R"({"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8)),
               ModelError);
  EXPECT_THROW(SafetensorsFile::open(write(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
               ModelError);
  EXPECT_THROW(SafetensorsFile::open(write("not json", 8)), ModelError);
  EXPECT_THROW(SafetensorsFile::open(dir_ / "missing.safetensors"), ModelError);
  // A header length that points past the end of the file.
  const auto truncated = dir_ / "truncated.safetensors";
  write_file_atomically(truncated, std::string("\xff\xff\xff\x00\x00\x00\x00\x00{}", 10));
  EXPECT_THROW(SafetensorsFile::open(truncated), ModelError);
}

TEST_F(SafetensorsBadFiles, NonCheckpointsAreRefusedByTheTorchReader) {
  EXPECT_THROW(read_torch_checkpoint(dir_ / "missing.pth"), ModelError);
  const auto text = dir_ / "text.pth";
  write_file_atomically(text, "this is not a zip archive at all, just text");
  EXPECT_THROW(read_torch_checkpoint(text), ModelError);
}

// Guards the fleet-wide voice store: what one worker saves another loads bit for bit; a voice of other
// weights, a damaged file or a name that is not a digest never comes back as a voice.
TEST(VoiceStore, SavedVoicesComeBackAndDamagedOnesAreAbsent) {
  testing::TempDir temp;
  const VoiceStore store(temp.path() / "voices");  // created on first save
  const std::string model(64, 'a');
  const std::string reference = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  TensorMap voice;
  voice["gpt_cond_latent"] = OwnedTensor{DType::kF32, {1, 2, 3}, std::string(24, '\x01')};
  voice["speaker_embedding"] = OwnedTensor{DType::kF32, {1, 4, 1}, std::string(16, '\x02')};

  EXPECT_FALSE(store.load(model, reference));
  ASSERT_TRUE(store.save(model, reference, voice));
  const auto loaded = store.load(model, reference);
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ(loaded->at("gpt_cond_latent").shape, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(loaded->at("gpt_cond_latent").bytes, voice["gpt_cond_latent"].bytes);
  EXPECT_EQ(loaded->at("speaker_embedding").bytes, voice["speaker_embedding"].bytes);
  EXPECT_FALSE(store.load(std::string(64, 'b'), reference));  // other weights: not theirs

  write_file_atomically(store.path(model, reference), "damaged");
  EXPECT_FALSE(store.load(model, reference));

  EXPECT_THROW(store.load("../../etc", reference), std::invalid_argument);
  EXPECT_THROW(store.load(model, "../" + reference.substr(3)), std::invalid_argument);
  EXPECT_THROW(store.save(model, std::string(64, 'G'), voice), std::invalid_argument);
}

// Guards the worker's voices in memory: the least recently used goes first, a hit renews a voice and its
// name, a voice keeps its last four names (what heartbeats advertise), and capacity 0 keeps nothing.
TEST(VoiceCache, EvictsTheLeastRecentlyUsedAndKeepsTheNewestNames) {
  VoiceCache<int> cache(2);
  cache.remember("a", "alice.wav", std::make_shared<int>(1));
  cache.remember("b", "bob.wav", std::make_shared<int>(2));
  ASSERT_NE(cache.find("a", "alice-again.wav"), nullptr);  // a is now the most recently used
  cache.remember("c", "carol.wav", std::make_shared<int>(3));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find("b", ""), nullptr) << "b was the least recently used";
  EXPECT_EQ(*cache.find("a", ""), 1);
  EXPECT_EQ(cache.references(10), (std::vector<std::string>{"alice-again.wav", "alice.wav", "carol.wav"}));
  EXPECT_EQ(cache.references(1), (std::vector<std::string>{"alice-again.wav"}));

  // Computed twice at once: the first voice stays, the second only adds its name.
  cache.remember("a", "alias.wav", std::make_shared<int>(99));
  EXPECT_EQ(*cache.find("a", ""), 1);
  for (const char* name : {"n1", "n2", "n3", "n4", "n5"}) cache.find("a", name);
  EXPECT_EQ(cache.references(10), (std::vector<std::string>{"n5", "n4", "n3", "n2", "carol.wav"}));

  VoiceCache<int> none(0);
  none.remember("a", "alice.wav", std::make_shared<int>(1));
  EXPECT_EQ(none.find("a", ""), nullptr);
  EXPECT_TRUE(none.references(10).empty());
}

}  // namespace
}  // namespace gpufleet::xtts
