#include "models/noop/noop.hpp"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/wav.hpp"

namespace gpufleet::models {

NoopModel::NoopModel(bool cloning, bool drills) : drills_(drills) {
  info_.name = "noop";
  info_.kind = "tts";
  info_.parameters = {"sleep_ms"};
  for (const char* drill : kDrills) info_.parameters.emplace_back(drill);
  info_.cloning = cloning;
}

namespace {

int64_t drill_ms(const nlohmann::json& input, const char* field) {
  auto value = input.find(field);
  if (value == input.end()) return 0;
  if (!value->is_number_integer() || value->get<int64_t>() < 0 || value->get<int64_t>() > 600000) {
    throw ModelError(ErrorCode::kInvalidInput, std::string(field) + " must be an integer in [0, 600000]");
  }
  return value->get<int64_t>();
}

}  // namespace

// The drills stand in for what real models do, for benchmarks and failure tests: "sleep_ms" is a long model
// call that checks for cancellation every 10 ms (and so renews its lease), "hang_ms" a call stuck without
// progress, "fail" an error code the model throws (e.g. out_of_memory), "crash" a call that ends its worker
// process.
ModelOutput NoopModel::run(const ModelInput& input, JobContext& context) {
  context.check();
  for (const char* drill : kDrills) {
    if (!drills_ && input.input.contains(drill)) {
      throw ModelError(ErrorCode::kInvalidInput,
                       "hang_ms, fail and crash are failure drills, off on this worker (NOOP_DRILLS=1)");
    }
  }
  // A job that takes its worker down with it: what the broker's poison limit is for.
  if (input.input.value("crash", false) == true) std::_Exit(70);
  const auto sleep = std::chrono::milliseconds(drill_ms(input.input, "sleep_ms"));
  const auto until = std::chrono::steady_clock::now() + sleep;
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(10), until - std::chrono::steady_clock::now()));
    context.check();
  }
  if (const int64_t hang = drill_ms(input.input, "hang_ms"); hang > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(hang));
  }
  if (auto fail = input.input.find("fail"); fail != input.input.end()) {
    const auto code = fail->is_string() ? parse_error_code(fail->get<std::string>()) : std::nullopt;
    if (!code) throw ModelError(ErrorCode::kInvalidInput, "fail must name an error code");
    throw ModelError(*code, "drill: the model failed with " + fail->get<std::string>());
  }
  if (auto speaker = input.input.find("speaker_wav"); info_.cloning && speaker != input.input.end()) {
    const TtsRequest request = parse_tts_request(input.input, info_);
    const auto bytes = read_file(request.speaker_wav, 64 << 20);
    const auto wav = bytes ? parse_wav(*bytes) : std::nullopt;
    if (!wav || !wav_decodable(*wav)) {
      throw ModelError(ErrorCode::kInvalidInput, "speaker_wav is not a WAV file the fleet reads");
    }
    return ModelOutput{Audio{wav_mono_pcm16(*bytes, *wav), wav->sample_rate}};
  }
  return {};
}

}  // namespace gpufleet::models
