#pragma once
// Runs one job on a loaded model and stores its output: the part of a worker that has nothing to do with
// sockets, so it is tested directly. Never throws: every failure becomes an error result.

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "common/protocol.hpp"
#include "models/model.hpp"

namespace gpufleet::worker {

class JobRunner {
 public:
  JobRunner(std::map<std::string, std::unique_ptr<models::Model>> models, std::filesystem::path storage_root);

  protocol::JobResult run(const protocol::Job& job) const;
  std::vector<protocol::ModelInfo> model_infos() const;
  const std::filesystem::path& storage_root() const { return storage_root_; }

  // Where a job's audio lands: <root>/tts/<job id>.wav
  std::filesystem::path audio_path(const std::string& job_id) const;

 private:
  std::map<std::string, std::unique_ptr<models::Model>> models_;
  std::filesystem::path storage_root_;
};

}  // namespace gpufleet::worker
