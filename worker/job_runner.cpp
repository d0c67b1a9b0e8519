#include "worker/job_runner.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/job.hpp"
#include "common/wav.hpp"

namespace gpufleet::worker {

JobRunner::JobRunner(std::map<std::string, std::unique_ptr<models::Model>> models,
                     std::filesystem::path storage_root, std::function<void()> on_out_of_memory)
    : models_(std::move(models)), storage_root_(std::move(storage_root)),
      on_out_of_memory_(std::move(on_out_of_memory)) {}

std::vector<protocol::ModelInfo> JobRunner::model_infos() const {
  std::vector<protocol::ModelInfo> infos;
  for (const auto& [name, model] : models_) infos.push_back(model->info());
  return infos;
}

std::filesystem::path JobRunner::audio_path(const std::string& job_id, uint32_t attempt) const {
  return storage_root_ / "tts" / (job_id + "-" + std::to_string(attempt) + ".wav");
}

protocol::JobResult JobRunner::run(const protocol::Job& job, models::JobContext& context) const {
  protocol::JobResult result;
  result.job_id = job.job_id;
  result.attempt = job.attempt;
  const auto started = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  };
  try {
    if (!is_valid_job_id(job.job_id)) throw ModelError(ErrorCode::kInvalidInput, "invalid job id");
    auto model = models_.find(job.model);
    if (model == models_.end()) {
      throw ModelError(ErrorCode::kUnknownModel, "this worker does not serve model '" + job.model + "'");
    }
    models::ModelInput input{job.job_id, nlohmann::json::parse(job.input_json, nullptr, false)};
    if (input.input.is_discarded()) throw ModelError(ErrorCode::kInvalidJson, "job input is not valid JSON");

    models::ModelOutput output = model->second->run(input, context);
    context.check();  // a job stopped while it finished writes nothing
    const double generation_ms = elapsed_ms();
    nlohmann::json json{{"generation_time_ms", generation_ms}};
    if (output.audio) {
      const auto path = audio_path(job.job_id, job.attempt);
      const std::string wav = encode_wav_pcm16(output.audio->samples, output.audio->sample_rate);
      write_file_atomically(path, wav);
      json["audio_path"] = path.string();
      json["content_type"] = "audio/wav";
      json["duration_s"] = output.audio->duration_s();
      json["sample_rate"] = output.audio->sample_rate;
      json["bytes"] = wav.size();
    } else {
      json["audio_path"] = nullptr;
      json["duration_s"] = 0.0;
    }
    result.ok = true;
    result.result_json = json.dump();
  } catch (const FleetError& error) {
    result.ok = false;
    result.error_code = std::string(to_string(error.code()));
    result.error_message = error.what();
  } catch (const std::exception& error) {
    // A model bug must fail its job, not the worker. LibTorch reports device memory exhaustion as a plain
    // c10::Error whose text says so.
    const std::string message = error.what();
    result.ok = false;
    result.error_code = std::string(to_string(message.find("out of memory") != std::string::npos
                                                  ? ErrorCode::kOutOfMemory
                                                  : ErrorCode::kModelError));
    result.error_message = message.substr(0, 2000);
  }
  if (!result.ok && result.error_code == to_string(ErrorCode::kOutOfMemory) && on_out_of_memory_) {
    on_out_of_memory_();
  }
  result.run_ms = elapsed_ms();
  if (!result.ok) {
    spdlog::warn("job {} attempt {} failed: {} {}", job.job_id, job.attempt, result.error_code, result.error_message);
  }
  return result;
}

}  // namespace gpufleet::worker
