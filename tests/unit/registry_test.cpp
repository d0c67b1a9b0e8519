// Guards the model registry: the example file in the repository parses, every malformed field is refused
// with a message naming the model and field, relative paths resolve from the file's folder, and loading
// checks files and gives backends the configured name.
#include "models/registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "common/error.hpp"
#include "models/backend_registry.hpp"
#include "models/noop/noop.hpp"
#include "models/piper/vits_synthesizer.hpp"
#include "models/torch/runtime.hpp"
#include "models/video/face_renderer.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::models {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Model> load_model(const ModelSpec& spec, const ModelServices& services = {}) {
  return BackendRegistry::standard().load(spec, services);
}

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

namespace gpufleet::models {
namespace {

// Stands in for the LibTorch plugin: records what the backend table asks of it.
class RecordingTorch final : public TorchRuntime {
 public:
  DeviceInfo select_device(const std::string& requested) override { return DeviceInfo{}; }
  void release_cached_memory() override {}
  std::optional<uint64_t> memory_reserved(const DeviceInfo&) override { return std::nullopt; }
  std::unique_ptr<VitsSynthesizer> load_vits(const std::filesystem::path&, const std::string&) override {
    return nullptr;
  }
  std::unique_ptr<Model> load_xtts(const ModelSpec& spec, const std::string& device) override {
    options = spec.options;
    this->device = device;
    return std::make_unique<NoopModel>();
  }
  std::unique_ptr<video::FaceRenderer> load_face_renderer(const ModelSpec&, const std::string&) override {
    return nullptr;
  }
  nlohmann::json options;
  std::string device;
};

ModelSpec spec_of(const std::string& backend, const std::string& extra = "") {
  return parse_model_registry(R"({"models":[{"name":"m","backend":")" + backend + "\"" + extra + "}]}",
                              "/base")
      .at(0);
}

// Guards the one table every backend is made from: the registry file's parser and the loader agree on the
// names, each backend's kind is the entry's default, and nothing is made that the build or the process
// cannot.
TEST(BackendRegistry, ListsEveryBackendOnceWithItsKindAndNeeds) {
  const auto backends = BackendRegistry::standard();
  std::set<std::string> names;
  for (const auto& backend : backends.backends()) {
    EXPECT_TRUE(names.insert(backend.name).second) << backend.name << " is listed twice";
    EXPECT_EQ(spec_of(backend.name).kind, backend.kind) << backend.name;
    // Only the video backends wait for their factory (video::add_video_backends, where OpenCV is found).
    EXPECT_EQ(static_cast<bool>(backend.factory), !backend.needs_video) << backend.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"espeak", "liveportrait", "noop", "piper", "portrait", "wav2lip",
                                          "xtts"}));
  ASSERT_NE(backends.find("xtts"), nullptr);
  EXPECT_TRUE(backends.find("xtts")->needs_torch);
  EXPECT_FALSE(backends.find("espeak")->needs_torch);
  EXPECT_EQ(backends.find("tortoise"), nullptr);
}

TEST(BackendRegistry, RefusesWhatThisBuildOrProcessCannotMake) {
  auto backends = BackendRegistry::standard();
  try {
    backends.load(spec_of("portrait"), {});
    ADD_FAILURE() << "a video backend loaded without its factory";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("no video support"), std::string::npos) << error.what();
  }
  try {
    backends.load(spec_of("xtts"), {});
    ADD_FAILURE() << "xtts loaded without the LibTorch plugin";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("LibTorch plugin"), std::string::npos) << error.what();
  }
  EXPECT_THROW(backends.bind("tortoise", nullptr), std::logic_error);
  ModelSpec unknown = spec_of("noop");
  unknown.backend = "tortoise";  // a spec made in code, not parsed
  EXPECT_THROW(backends.load(unknown, {}), ConfigError);
  backends.bind("portrait",
                [](const ModelSpec&, const ModelServices&) { return std::make_unique<NoopModel>(); });
  EXPECT_THROW(backends.load(spec_of("portrait"), {}), ConfigError) << "a tts model under a video backend";
}

// The worker's settings reach a model through the services, never through the environment: a model on "auto"
// runs on the worker's device, and a cloning model shares voices through the worker's VOICE_STORE unless its
// own entry says otherwise.
TEST(BackendRegistry, LendsTheWorkersDeviceAndVoiceStore) {
  const auto backends = BackendRegistry::standard();
  RecordingTorch torch;
  ModelServices services;
  services.torch = &torch;
  services.device = "cuda:1";
  services.voice_store = "/srv/voices";
  auto model = backends.load(spec_of("xtts"), services);
  EXPECT_EQ(model->info().name, "m");
  EXPECT_EQ(torch.device, "cuda:1");
  EXPECT_EQ(torch.options.value("voice_store", nlohmann::json()), "/srv/voices");

  backends.load(spec_of("xtts", R"(,"device":"cpu","options":{"voice_store":false})"), services);
  EXPECT_EQ(torch.device, "cpu");
  EXPECT_EQ(torch.options.value("voice_store", nlohmann::json()), false);

  services.voice_store.clear();
  backends.load(spec_of("xtts"), services);
  EXPECT_EQ(torch.options.value("voice_store", nlohmann::json()), false) << "no store: none, not the cwd";
}

}  // namespace
}  // namespace gpufleet::models
