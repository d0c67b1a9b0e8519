#include "worker/job_runner.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/job.hpp"
#include "common/wav.hpp"
#include "models/audio_stream.hpp"

namespace gpufleet::worker {

JobRunner::JobRunner(std::map<std::string, std::unique_ptr<models::Model>> models,
                     std::filesystem::path storage_root, std::function<void()> on_out_of_memory,
                     std::filesystem::path input_root)
    : models_(std::move(models)), storage_root_(std::move(storage_root)),
      input_root_(input_root.empty() ? storage_root_ / "inputs" : std::move(input_root)),
      on_out_of_memory_(std::move(on_out_of_memory)) {}

std::vector<protocol::ModelInfo> JobRunner::model_infos() const {
  std::vector<protocol::ModelInfo> infos;
  for (const auto& [name, model] : models_) infos.push_back(model->info());
  return infos;
}

std::vector<protocol::ModelVoices> JobRunner::voices_in_memory() const {
  std::vector<protocol::ModelVoices> voices;
  for (const auto& [name, model] : models_) {
    auto references = model->references_in_memory();
    if (references.empty()) continue;
    if (references.size() > protocol::kMaxAdvertisedVoices) references.resize(protocol::kMaxAdvertisedVoices);
    voices.push_back(protocol::ModelVoices{name, std::move(references)});
  }
  return voices;
}

std::filesystem::path JobRunner::audio_path(const std::string& job_id, uint32_t attempt) const {
  return storage_root_ / "tts" / (job_id + "-" + std::to_string(attempt) + ".wav");
}

namespace {

// A model bug must fail its job, not the worker. LibTorch reports device memory exhaustion as a plain
// c10::Error whose text says so.
void record_error(protocol::JobResult& result, std::exception_ptr error) {
  result.ok = false;
  try {
    std::rethrow_exception(error);
  } catch (const FleetError& fleet_error) {
    result.error_code = std::string(to_string(fleet_error.code()));
    result.error_message = fleet_error.what();
  } catch (const std::exception& other) {
    const std::string message = other.what();
    result.error_code = std::string(to_string(message.find("out of memory") != std::string::npos
                                                  ? ErrorCode::kOutOfMemory
                                                  : ErrorCode::kModelError));
    result.error_message = message.substr(0, 2000);
  } catch (...) {
    result.error_code = std::string(to_string(ErrorCode::kModelError));
    result.error_message = "the model threw something that is not an exception";
  }
}

}  // namespace

protocol::JobResult JobRunner::run(const protocol::Job& job, models::JobContext& context) const {
  return run_batch({Task{&job, &context}}).front();
}

std::vector<protocol::JobResult> JobRunner::run_batch(const std::vector<Task>& tasks) const {
  const auto started = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  };
  std::vector<protocol::JobResult> results(tasks.size());
  std::vector<models::ModelInput> inputs(tasks.size());
  // Jobs that passed the checks, by model: each group is one call of its model's run_batch.
  std::map<models::Model*, std::vector<size_t>> groups;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const protocol::Job& job = *tasks[i].job;
    results[i].job_id = job.job_id;
    results[i].attempt = job.attempt;
    try {
      if (!is_valid_job_id(job.job_id)) throw ModelError(ErrorCode::kInvalidInput, "invalid job id");
      auto model = models_.find(job.model);
      if (model == models_.end()) {
        throw ModelError(ErrorCode::kUnknownModel, "this worker does not serve model '" + job.model + "'");
      }
      inputs[i] = models::ModelInput{job.job_id, nlohmann::json::parse(job.input_json, nullptr, false)};
      if (inputs[i].input.is_discarded()) throw ModelError(ErrorCode::kInvalidJson, "job input is not valid JSON");
      // A model that cannot clone says so itself (cannot_clone) rather than hearing about paths.
      if (model->second->info().cloning) resolve_reference(inputs[i]);
      if (model->second->info().kind == "video") resolve_video_inputs(inputs[i].input);
      inputs[i].scratch_dir = storage_root_ / ".partial";
      if (model->second->info().kind == "tts" && inputs[i].input.value("stream", false) == true) {
        inputs[i].stream_path = storage_root_ / "streams" / (job.job_id + "-" + std::to_string(job.attempt) + ".wav");
        // Streams of earlier jobs, long read (or never): the result file holds the same audio.
        models::AudioStreamFile::sweep(storage_root_ / "streams", std::chrono::minutes(10));
      }
      groups[model->second.get()].push_back(i);
    } catch (...) {
      record_error(results[i], std::current_exception());
    }
  }
  for (auto& [model, members] : groups) {
    std::vector<models::BatchItem> items;
    for (size_t i : members) items.push_back(models::BatchItem{&inputs[i], tasks[i].context});
    std::vector<models::BatchOutcome> outcomes;
    try {
      outcomes = model->run_batch(items);
      if (outcomes.size() != items.size()) throw ModelError(ErrorCode::kModelError, "model answered a short batch");
    } catch (...) {
      outcomes.assign(items.size(), models::BatchOutcome{std::nullopt, std::current_exception()});
    }
    for (size_t k = 0; k < members.size(); ++k) {
      const size_t i = members[k];
      try {
        if (outcomes[k].error) std::rethrow_exception(outcomes[k].error);
        if (!outcomes[k].output) throw ModelError(ErrorCode::kModelError, "model answered neither output nor error");
        tasks[i].context->check();  // a job stopped while it finished writes nothing
        results[i].result_json = store(*tasks[i].job, *outcomes[k].output, elapsed_ms(), members.size());
        results[i].ok = true;
      } catch (...) {
        record_error(results[i], std::current_exception());
      }
    }
  }
  bool out_of_memory = false;
  for (auto& result : results) {
    result.run_ms = elapsed_ms();
    if (result.ok) continue;
    out_of_memory = out_of_memory || result.error_code == to_string(ErrorCode::kOutOfMemory);
    spdlog::warn("job {} attempt {} failed: {} {}", result.job_id, result.attempt, result.error_code,
                 result.error_message);
  }
  if (out_of_memory && on_out_of_memory_) on_out_of_memory_();
  return results;
}

void JobRunner::resolve_reference(models::ModelInput& model_input) const {
  auto& input = model_input.input;
  if (!input.is_object()) return;
  auto speaker = input.find("speaker_wav");
  if (speaker == input.end() || !speaker->is_string() || speaker->get_ref<const std::string&>().empty()) return;
  // The gateway checked it too; a worker trusts no path it is sent.
  const auto relative = relative_reference(speaker->get_ref<const std::string&>(), input_root_);
  const auto file = relative ? resolve_inside(input_root_, *relative) : std::nullopt;
  if (!file) {
    throw ModelError(ErrorCode::kInvalidInput, "speaker_wav '" + speaker->get<std::string>() +
                                                   "' is not a file in this worker's input folder");
  }
  model_input.reference = relative->string();
  *speaker = file->string();
}

void JobRunner::resolve_video_inputs(nlohmann::json& input) const {
  if (!input.is_object()) throw ModelError(ErrorCode::kInvalidRequest, "input must be a JSON object");
  auto resolve = [&input](const char* field, const std::function<std::optional<std::filesystem::path>(const std::string&)>& find) {
    auto value = input.find(field);
    if (value == input.end() || !value->is_string() || value->get_ref<const std::string&>().empty()) {
      throw ModelError(ErrorCode::kMissingField, std::string(field) + " is required");
    }
    const auto file = find(value->get<std::string>());
    if (!file) {
      throw ModelError(ErrorCode::kInvalidInput, std::string(field) + " '" + value->get<std::string>() +
                                                     "' is not a file in this worker's allowed folders");
    }
    *value = file->string();
  };
  const auto in_inputs = [this](const std::string& name) -> std::optional<std::filesystem::path> {
    const auto relative = relative_reference(name, input_root_);
    return relative ? resolve_inside(input_root_, *relative) : std::nullopt;
  };
  resolve("reference_image", in_inputs);
  // Speech may also be a TTS result (what /tts/generate answered), as the original runtime passed it on.
  resolve("audio_path", [&](const std::string& name) -> std::optional<std::filesystem::path> {
    const std::filesystem::path path(name);
    if (path.is_absolute()) {
      if (auto result = resolve_inside(storage_root_ / "tts", path)) return result;
    }
    return in_inputs(name);
  });
}

std::string JobRunner::store(const protocol::Job& job, const models::ModelOutput& output, double generation_ms,
                             size_t batch_size) const {
  nlohmann::json json{{"generation_time_ms", generation_ms}, {"batch_size", batch_size}};
  if (output.details.is_object()) {
    for (const auto& [key, value] : output.details.items()) json[key] = value;
  }
  if (output.file) {
    const auto& file = *output.file;
    const auto path = storage_root_ / file.folder / (job.job_id + "-" + std::to_string(job.attempt) + "." + file.extension);
    std::error_code error;
    const auto bytes = std::filesystem::file_size(file.path, error);
    move_file_durably(file.path, path);
    json[file.folder + "_path"] = path.string();
    json["content_type"] = file.content_type;
    json["duration_s"] = file.duration_s;
    json["bytes"] = error ? 0 : bytes;
  } else if (output.audio) {
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
  return json.dump();
}

}  // namespace gpufleet::worker
