// Guards the model registry: the example file in the repository parses, every malformed field is refused
// with a message naming the model and field, relative paths resolve from the file's folder, and loading
// checks files and gives backends the configured name.
#include "models/registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/error.hpp"
#include "models/noop.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::models {
namespace {

namespace fs = std::filesystem;

fs::path source_dir() {
  const char* dir = std::getenv("GPUFLEET_SOURCE_DIR");
  return dir ? fs::path(dir) : fs::current_path();
}

std::string error_of(const std::string& text) {
  try {
    parse_model_registry(text, "/base");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(ModelRegistry, TheExampleInTheRepositoryParses) {
  auto specs = read_model_registry(source_dir() / "deploy" / "models.example.json");
  ASSERT_EQ(specs.size(), 5u);
  EXPECT_EQ(specs[0].name, "espeak");
  EXPECT_TRUE(specs[0].warmup);
  EXPECT_EQ(specs[1].name, "speech-fast");
  EXPECT_EQ(specs[1].backend, "espeak");
  EXPECT_EQ(specs[1].device, "cpu");
  EXPECT_EQ(specs[2].backend, "piper");
  EXPECT_EQ(specs[2].max_batch, 8u);
  EXPECT_EQ(specs[2].files.at("config").filename(), "en_US-lessac-medium.onnx.json");
  EXPECT_EQ(specs[3].backend, "portrait");
  EXPECT_EQ(specs[3].kind, "video");
}

TEST(ModelRegistry, DefaultsAndRelativeFiles) {
  auto specs = parse_model_registry(
      R"({"models":[{"name":"v","backend":"noop","files":{"model":"voices/v.pt","abs":"/data/x.json"}}]})",
      "/base");
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].kind, "tts");
  EXPECT_EQ(specs[0].device, "auto");
  EXPECT_EQ(specs[0].dtype, "float32");
  EXPECT_EQ(specs[0].max_batch, 1u);
  EXPECT_TRUE(specs[0].warmup);
  EXPECT_EQ(specs[0].files.at("model"), fs::path("/base/voices/v.pt"));
  EXPECT_EQ(specs[0].files.at("abs"), fs::path("/data/x.json"));
}

TEST(ModelRegistry, EveryMalformedFieldIsNamed) {
  EXPECT_NE(error_of("not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"models":[]})").find("no model"), std::string::npos);
  EXPECT_NE(error_of(R"({"modles":[]})").find("expected"), std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"backend":"noop"}]})").find("name is required"), std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"name":"Bad Name","backend":"noop"}]})").find("name must be"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"name":"a","backend":"vits"}]})").find("unknown backend 'vits'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"name":"a","backend":"noop","device":"gpu"}]})").find("(a): device"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"name":"a","backend":"noop","dtype":"int8"}]})").find("dtype"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"name":"a","backend":"noop","max_batch":0}]})").find("max_batch"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"name":"a","backend":"noop","warmup":"yes"}]})").find("warmup"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"name":"a","backend":"noop","file":{}}]})").find("unknown field 'file'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"models":[{"name":"a","backend":"noop","files":{"m":""}}]})").find("files.m"),
            std::string::npos);
  EXPECT_NE(
      error_of(R"({"models":[{"name":"a","backend":"noop"},{"name":"a","backend":"espeak"}]})").find("twice"),
      std::string::npos);
  EXPECT_EQ(error_of(R"({"models":[{"name":"a","kind":"video","backend":"noop"}]})"),
            "");  // parses; load refuses
}

TEST(ModelRegistry, LoadingChecksFilesKindAndGivesTheConfiguredName) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "weights.bin") << "x";
  auto specs = parse_model_registry(R"({"models":[
      {"name":"fast","backend":"noop","files":{"weights":"weights.bin"}},
      {"name":"broken","backend":"noop","files":{"weights":"missing.bin"}},
      {"name":"wrong-kind","kind":"video","backend":"noop"}]})",
                                    dir.path());
  auto fast = load_model(specs[0]);
  EXPECT_EQ(fast->info().name, "fast");
  EXPECT_EQ(fast->info().kind, "tts");
  fast->warm_up();
  try {
    load_model(specs[1]);
    ADD_FAILURE() << "a missing file loaded";
  } catch (const ModelError& error) {
    EXPECT_NE(std::string(error.what()).find("missing.bin"), std::string::npos);
  }
  EXPECT_THROW(load_model(specs[2]), ConfigError);
}

TEST(ModelRegistry, BuiltInNamesAreTheShortForm) {
  auto specs = specs_from_names({"espeak", "noop"});
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[1].backend, "noop");
  EXPECT_THROW(specs_from_names({"xtts"}), ConfigError);
}

}  // namespace
}  // namespace gpufleet::models

namespace gpufleet::models {
namespace {

// Guards NOOP_DRILLS (#33: "crash" was missing from the lists that describe it): without it every drill,
// the one that ends the worker process included, is refused before it runs, and each is announced as one of
// the model's parameters so that the gateway lets it through to a worker that serves it.
TEST(NoopDrills, EveryDrillIsRefusedWithoutNoopDrills) {
  NoopModel model(/*cloning=*/false, /*drills=*/false);
  for (const char* drill : NoopModel::kDrills) {
    JobContext context;
    nlohmann::json input{
        {"text", "hi"},
        {drill, drill == std::string("fail") ? nlohmann::json("internal") : nlohmann::json(true)}};
    try {
      model.run(ModelInput{"job", input, {}}, context);
      ADD_FAILURE() << drill << " ran on a worker without NOOP_DRILLS";
    } catch (const ModelError& error) {
      EXPECT_EQ(error.code(), ErrorCode::kInvalidInput) << drill;
    }
    const auto& parameters = model.info().parameters;
    EXPECT_NE(std::find(parameters.begin(), parameters.end(), drill), parameters.end()) << drill;
  }
  EXPECT_EQ(std::size(NoopModel::kDrills), 3u);
}

}  // namespace
}  // namespace gpufleet::models
