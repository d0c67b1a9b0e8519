#pragma once
// Runs one job on a loaded model and stores its output: the part of a worker that has nothing to do with
// sockets, so it is tested directly. Never throws: every failure becomes an error result.

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/model.hpp"
#include "protocol/protocol.hpp"

namespace gpufleet::worker {

class JobRunner {
 public:
  // `on_out_of_memory` runs after a job failed for lack of device memory (to free the allocator's cache).
  // `input_root` holds speaker references (default <storage_root>/inputs): a job's speaker_wav is resolved
  // there, and the model gets the absolute path of a file that exists inside it, or the job fails.
  JobRunner(std::map<std::string, std::unique_ptr<models::Model>> models, std::filesystem::path storage_root,
            std::function<void()> on_out_of_memory = {}, std::filesystem::path input_root = {});

  protocol::JobResult run(const protocol::Job& job, models::JobContext& context) const;
  // Runs jobs of one model as a batch (see Model::run_batch); a result per job, in order.
  struct Task {
    const protocol::Job* job = nullptr;
    models::JobContext* context = nullptr;
  };
  std::vector<protocol::JobResult> run_batch(const std::vector<Task>& tasks) const;

  // Where a running batch gets more jobs and leaves each result (continuous batching, Model::run_continuous).
  // Called only from the thread that runs the batch.
  class TaskSource {
   public:
    virtual ~TaskSource() = default;
    // Jobs of `model` that may join its running batch, which has `running` jobs unfinished; empty: none. A
    // task's job and context stay valid until its result is done.
    virtual std::vector<Task> more(const std::string& model, size_t running) = 0;
    // A task's result, as soon as it has one; every task (given or joined) gets exactly one.
    virtual void done(const Task& task, protocol::JobResult result) = 0;
  };
  // Runs `tasks` (grouped by model, one model call per group), letting each model take more jobs from
  // `source` while it runs and handing each result to `source` the moment it is stored.
  void run_continuous(const std::vector<Task>& tasks, TaskSource& source) const;
  std::vector<protocol::ModelInfo> model_infos() const;
  // The speaker references each model holds a voice for in memory, by model (see
  // Model::references_in_memory).
  std::vector<protocol::ModelVoices> voices_in_memory() const;
  const std::filesystem::path& storage_root() const { return storage_root_; }

  // Where an attempt's audio lands: <root>/tts/<job id>-<attempt>.wav. One file per attempt, so that a
  // worker that lost its lease but runs on can never overwrite the file of the attempt that counted.
  std::filesystem::path audio_path(const std::string& job_id, uint32_t attempt) const;
  // The files an attempt's result names that this runner wrote for it (its audio_path or video_path, inside
  // the storage root and named after the attempt): what to delete when the broker refuses the result.
  std::vector<std::filesystem::path> files_of_attempt(std::string_view result_json, const std::string& job_id,
                                                      uint32_t attempt) const;

 private:
  // Replaces a job's speaker_wav by the absolute path of the file it names under input_root_, keeping the
  // name clients use in `reference`. Throws ModelError.
  void resolve_reference(models::ModelInput& input) const;
  // Replaces a video job's reference_image (under input_root_) and audio_path (under input_root_, or a TTS
  // result under <storage_root>/tts) by the files' absolute paths. Throws ModelError.
  void resolve_video_inputs(nlohmann::json& input) const;
  // Writes an output's file and answers the result JSON. Throws what writing throws.
  std::string store(const protocol::Job& job, const models::ModelOutput& output, double generation_ms,
                    size_t batch_size) const;
  // A job's checks before its model sees it: its id, its model, its input parsed and its files resolved.
  // Throws ModelError.
  models::Model& admit(const protocol::Job& job, models::ModelInput& input) const;

  class Feed;

  std::map<std::string, std::unique_ptr<models::Model>> models_;
  std::filesystem::path storage_root_;
  std::filesystem::path input_root_;
  std::function<void()> on_out_of_memory_;
};

}  // namespace gpufleet::worker
