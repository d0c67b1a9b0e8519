#include "worker/job_runner.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <unordered_map>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/job.hpp"
#include "common/json_text.hpp"
#include "common/utf8.hpp"
#include "common/wav.hpp"
#include "models/audio_stream.hpp"

namespace gpufleet::worker {

JobRunner::JobRunner(std::map<std::string, std::unique_ptr<models::Model>> models,
                     std::filesystem::path storage_root, std::function<void()> on_out_of_memory,
                     std::filesystem::path input_root)
    : models_(std::move(models)),
      storage_root_(std::move(storage_root)),
      input_root_(input_root.empty() ? storage_root_ / "inputs" : std::move(input_root)),
      on_out_of_memory_(std::move(on_out_of_memory)) {}

std::vector<protocol::ModelInfo> JobRunner::model_infos() const {
  std::vector<protocol::ModelInfo> infos;
  for (const auto& [name, model] : models_) {
    const models::ModelInfo& info = model->info();
    infos.push_back(protocol::ModelInfo{info.name, info.kind, info.languages, info.cloning, info.sample_rate,
                                        info.max_batch, info.parameters, info.modes});
  }
  return infos;
}

std::vector<protocol::ModelVoices> JobRunner::voices_in_memory() const {
  std::vector<protocol::ModelVoices> voices;
  for (const auto& [name, model] : models_) {
    auto references = model->references_in_memory(protocol::kMaxAdvertisedVoices);
    if (references.empty()) continue;
    // A model that ignores the limit is cut to it: the broker refuses longer lists.
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
void record_error(protocol::JobResult& result, const std::exception_ptr& error) {
  result.ok = false;
  try {
    std::rethrow_exception(error);
  } catch (const FleetError& fleet_error) {
    result.error_code = std::string(to_string(fleet_error.code()));
    result.error_message = fleet_error.what();
  } catch (const std::exception& other) {
    const std::string message = other.what();
    result.error_code =
        std::string(to_string(message.find("out of memory") != std::string::npos ? ErrorCode::kOutOfMemory
                                                                                 : ErrorCode::kModelError));
    result.error_message = message;
  } catch (...) {
    result.error_code = std::string(to_string(ErrorCode::kModelError));
    result.error_message = "the model threw something that is not an exception";
  }
  // Model text goes to Redis and clients as JSON: valid UTF-8, bounded, cut between characters, and with no
  // server paths (the worker's log keeps them).
  const std::string redacted = redact_paths(result.error_message);
  if (redacted != result.error_message) {
    spdlog::info("job {} attempt {}: the error as the model said it: {}", result.job_id, result.attempt,
                 utf8_truncate(utf8_repair(result.error_message), 2000));
  }
  result.error_message = utf8_truncate(utf8_repair(redacted), 2000);
}

protocol::JobResult result_for(const protocol::Job& job) {
  protocol::JobResult result;
  result.job_id = job.job_id;
  result.attempt = job.attempt;
  return result;
}

void log_failure(const protocol::JobResult& result) {
  spdlog::warn("job {} attempt {} failed: {} {}", result.job_id, result.attempt, result.error_code,
               result.error_message);
}

// A job that ends before any model call sees it: its error result goes to the source at once.
void reject(JobRunner::TaskSource& source, const JobRunner::Task& task, const std::exception_ptr& error) {
  auto result = result_for(*task.job);
  record_error(result, error);
  log_failure(result);
  source.done(task, std::move(result));
}

}  // namespace

// The jobs of one model call: those it started with and those that joined while it ran. Each is finished
// exactly once, stored (or failed) and handed to the TaskSource at that moment.
class JobRunner::Feed final : public models::BatchFeed {
 public:
  Feed(const JobRunner& runner, models::Model& model, std::string model_name, TaskSource& source)
      : runner_(runner), model_(model), model_name_(std::move(model_name)), source_(source) {}

  models::Model& model() const { return model_; }
  // The items the call starts with (those added before it).
  std::vector<models::BatchItem> items() const {
    std::vector<models::BatchItem> items;
    items.reserve(entries_.size());
    for (const auto& entry : entries_) items.push_back(models::BatchItem{&entry.input, entry.task.context});
    return items;
  }

  // A task that passed admit().
  models::BatchItem add(const Task& task, models::ModelInput input) {
    entries_.push_back(Entry{task, std::move(input), std::chrono::steady_clock::now(), false});
    Entry& entry = entries_.back();
    by_input_[&entry.input] = &entry;
    ++running_;
    return models::BatchItem{&entry.input, task.context};
  }

  std::vector<models::BatchItem> join() override {
    std::vector<models::BatchItem> items;
    for (const Task& task : source_.more(model_name_, running_)) {
      models::ModelInput input;
      try {
        if (&runner_.admit(*task.job, input) != &model_) {
          throw ModelError(ErrorCode::kModelError,
                           "job " + task.job->job_id + " was offered to a batch of another model");
        }
        items.push_back(add(task, std::move(input)));
      } catch (...) {
        reject(source_, task, std::current_exception());
      }
    }
    return items;
  }

  void finish(const models::BatchItem& item, models::BatchOutcome outcome) override {
    auto found = by_input_.find(item.input);
    if (found == by_input_.end() || found->second->finished) {
      spdlog::error("model {} finished a job that is not in its batch, or one twice; ignored", model_name_);
      return;
    }
    Entry& entry = *found->second;
    auto result = result_for(*entry.task.job);
    try {
      if (outcome.error) std::rethrow_exception(outcome.error);
      if (!outcome.output)
        throw ModelError(ErrorCode::kModelError, "model answered neither output nor error");
      entry.task.context->check();  // a job stopped while it finished writes nothing
      result.result_json =
          runner_.store(*entry.task.job, *outcome.output, elapsed_ms(entry), entries_.size());
      result.ok = true;
    } catch (...) {
      record_error(result, std::current_exception());
    }
    complete(entry, std::move(result));
  }

  // Fails every job the model call left unfinished: it returned without them, or threw `error`.
  void finish_rest(const std::exception_ptr& error) {
    for (auto& entry : entries_) {
      if (entry.finished) continue;
      auto result = result_for(*entry.task.job);
      record_error(result, error);
      complete(entry, std::move(result));
    }
  }

  bool out_of_memory() const { return out_of_memory_; }

 private:
  struct Entry {
    Task task;
    models::ModelInput input;
    std::chrono::steady_clock::time_point started;
    bool finished = false;
  };

  static double elapsed_ms(const Entry& entry) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - entry.started)
        .count();
  }

  void complete(Entry& entry, protocol::JobResult result) {
    entry.finished = true;
    --running_;
    result.run_ms = elapsed_ms(entry);
    if (!result.ok) {
      out_of_memory_ = out_of_memory_ || result.error_code == to_string(ErrorCode::kOutOfMemory);
      log_failure(result);
    }
    source_.done(entry.task, std::move(result));
  }

  const JobRunner& runner_;
  models::Model& model_;
  std::string model_name_;
  TaskSource& source_;
  std::deque<Entry> entries_;  // a deque: items point into its entries, which must not move
  std::unordered_map<const models::ModelInput*, Entry*> by_input_;
  size_t running_ = 0;
  bool out_of_memory_ = false;
};

protocol::JobResult JobRunner::run(const protocol::Job& job, models::JobContext& context) const {
  return run_batch({Task{&job, &context}}).front();
}

std::vector<protocol::JobResult> JobRunner::run_batch(const std::vector<Task>& tasks) const {
  // A source that adds nothing and keeps each result in its task's place.
  class Collect final : public TaskSource {
   public:
    Collect(const std::vector<Task>& tasks, std::vector<protocol::JobResult>& results) : results_(results) {
      for (size_t i = 0; i < tasks.size(); ++i) index_[tasks[i].job] = i;
    }
    std::vector<Task> more(const std::string&, size_t) override { return {}; }
    void done(const Task& task, protocol::JobResult result) override {
      results_[index_.at(task.job)] = std::move(result);
    }

   private:
    std::vector<protocol::JobResult>& results_;
    std::map<const protocol::Job*, size_t> index_;
  };
  std::vector<protocol::JobResult> results(tasks.size());
  Collect collect(tasks, results);
  run_continuous(tasks, collect);
  return results;
}

void JobRunner::run_continuous(const std::vector<Task>& tasks, TaskSource& source) const {
  // Jobs that pass the checks, by model: each group is one call of its model's run_continuous.
  std::vector<std::unique_ptr<Feed>> feeds;
  for (const Task& task : tasks) {
    models::ModelInput input;
    try {
      models::Model& model = admit(*task.job, input);
      auto feed =
          std::find_if(feeds.begin(), feeds.end(), [&](const auto& f) { return &f->model() == &model; });
      if (feed == feeds.end()) {
        feeds.push_back(std::make_unique<Feed>(*this, model, task.job->model, source));
        feed = feeds.end() - 1;
      }
      (*feed)->add(task, std::move(input));
    } catch (...) {
      reject(source, task, std::current_exception());
    }
  }
  bool out_of_memory = false;
  for (auto& feed : feeds) {
    try {
      feed->model().run_continuous(feed->items(), *feed);
      feed->finish_rest(std::make_exception_ptr(
          ModelError(ErrorCode::kModelError, "the model returned without finishing the job")));
    } catch (...) {
      feed->finish_rest(std::current_exception());
    }
    out_of_memory = out_of_memory || feed->out_of_memory();
  }
  if (out_of_memory && on_out_of_memory_) on_out_of_memory_();
}

models::Model& JobRunner::admit(const protocol::Job& job, models::ModelInput& input) const {
  if (!is_valid_job_id(job.job_id)) throw ModelError(ErrorCode::kInvalidInput, "invalid job id");
  auto model = models_.find(job.model);
  if (model == models_.end()) {
    throw ModelError(ErrorCode::kUnknownModel, "this worker does not serve model '" + job.model + "'");
  }
  input = models::ModelInput{job.job_id, parse_json_or_discarded(job.input_json)};
  if (input.input.is_discarded()) throw ModelError(ErrorCode::kInvalidJson, "job input is not valid JSON");
  // A model that cannot clone says so itself (cannot_clone) rather than hearing about paths.
  if (model->second->info().cloning) resolve_reference(input);
  if (model->second->info().kind == "video") resolve_video_inputs(input.input);
  input.scratch_dir = storage_root_ / ".partial";
  // Read as a peer's field: anything but true (a null, a number) is no stream, never a type error.
  const auto stream = input.input.is_object() ? input.input.find("stream") : input.input.end();
  if (model->second->info().kind == "tts" && stream != input.input.end() && *stream == true) {
    input.stream_path = storage_root_ / "streams" / (job.job_id + "-" + std::to_string(job.attempt) + ".wav");
    // Streams of earlier jobs, long read (or never): the result file holds the same audio.
    models::AudioStreamFile::sweep(storage_root_ / "streams", std::chrono::minutes(10));
  }
  return *model->second;
}

void JobRunner::resolve_reference(models::ModelInput& model_input) const {
  auto& input = model_input.input;
  if (!input.is_object()) return;
  auto speaker = input.find("speaker_wav");
  if (speaker == input.end()) return;
  if (speaker->is_string() && speaker->get_ref<const std::string&>().empty()) return;
  if (!speaker->is_string() && !speaker->is_array()) return;
  // The gateway checked them too; a worker trusts no path it is sent.
  auto resolve = [this](const nlohmann::json& name) {
    const auto relative =
        name.is_string() ? relative_reference(name.get_ref<const std::string&>(), input_root_) : std::nullopt;
    const auto file = relative ? resolve_inside(input_root_, *relative) : std::nullopt;
    if (!file) {
      throw ModelError(ErrorCode::kInvalidInput,
                       "speaker_wav '" + (name.is_string() ? name.get<std::string>() : dump_json(name)) +
                           "' is not a file in this worker's input folder");
    }
    return std::pair{relative->string(), file->string()};
  };
  if (speaker->is_string()) {
    auto [relative, file] = resolve(*speaker);
    model_input.reference = std::move(relative);
    *speaker = std::move(file);
    return;
  }
  if (speaker->empty() || speaker->size() > 8) {
    throw ModelError(ErrorCode::kInvalidInput, "speaker_wav lists 1 to 8 references");
  }
  std::string names;
  for (auto& name : *speaker) {
    auto [relative, file] = resolve(name);
    names += (names.empty() ? "" : "\n") + relative;
    name = std::move(file);
  }
  model_input.reference = std::move(names);
}

void JobRunner::resolve_video_inputs(nlohmann::json& input) const {
  if (!input.is_object()) throw ModelError(ErrorCode::kInvalidRequest, "input must be a JSON object");
  auto resolve = [&input](
                     const char* field,
                     const std::function<std::optional<std::filesystem::path>(const std::string&)>& find) {
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
  // The picture: a portrait, or a video to lip-sync.
  resolve(input.contains("video") ? "video" : "reference_image", in_inputs);
  // Speech may also be a TTS result (what /tts/generate answered), as the original runtime passed it on.
  resolve("audio_path", [&](const std::string& name) -> std::optional<std::filesystem::path> {
    const std::filesystem::path path(name);
    if (path.is_absolute()) {
      if (auto result = resolve_inside(storage_root_ / "tts", path)) return result;
    }
    return in_inputs(name);
  });
}

std::vector<std::filesystem::path> JobRunner::files_of_attempt(std::string_view result_json,
                                                               const std::string& job_id,
                                                               uint32_t attempt) const {
  std::vector<std::filesystem::path> files;
  const auto json = parse_json_or_discarded(result_json);
  if (!json.is_object()) return files;
  const std::string stem = job_id + "-" + std::to_string(attempt) + ".";
  for (const char* field : {"audio_path", "video_path"}) {
    const auto value = json.find(field);
    if (value == json.end() || !value->is_string()) continue;
    auto path = resolve_inside(storage_root_, value->get<std::string>());
    // Only this attempt's own output: never an input, nor another attempt's file.
    if (path && path->filename().string().rfind(stem, 0) == 0) files.push_back(*path);
  }
  return files;
}

std::string JobRunner::store(const protocol::Job& job, const models::ModelOutput& output,
                             double generation_ms, size_t batch_size) const {
  nlohmann::json json{{"generation_time_ms", generation_ms}, {"batch_size", batch_size}};
  if (output.details.is_object()) {
    for (const auto& [key, value] : output.details.items()) json[key] = value;
  }
  if (output.file) {
    const auto& file = *output.file;
    const auto path =
        storage_root_ / file.folder / (job.job_id + "-" + std::to_string(job.attempt) + "." + file.extension);
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
  return dump_json(json);
}

}  // namespace gpufleet::worker
