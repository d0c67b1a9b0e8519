#pragma once
// A pipeline job: stages that run one after another under one job id (text -> speech -> talking-head video),
// so a client submits, polls, cancels and gets the result of one job, as the original runtime's
// /api/v1/generate did by hand with two calls. The gateway writes the stages into the job record at
// submission; the broker, when a stage succeeds, fills the next stage's input from that result and queues the
// job again under the next stage's model (job_store::advance_command, one atomic step). Plain data and JSON
// here, so the gateway and the broker share one definition and it is tested without either.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpufleet {

struct PipelineStage {
  std::string kind;  // tts | video
  std::string model;
  nlohmann::json input =
      nlohmann::json::object();  // the stage's own input; the first stage's is the job's input
  // Input fields filled from the previous stage's result: {input field, result field}. A result field that is
  // absent leaves the input field unset, and the stage's model says what it misses.
  std::vector<std::pair<std::string, std::string>> from_previous;
};

inline constexpr size_t kMaxPipelineStages = 4;

std::string pipeline_to_json(const std::vector<PipelineStage>& stages);
// nullopt for text that is not a pipeline of 2..kMaxPipelineStages well-formed stages.
std::optional<std::vector<PipelineStage>> parse_pipeline(std::string_view json);

// The input of `next` after the previous stage answered `previous_result` (a JSON object), as JSON text.
// nullopt when the previous result is not a JSON object.
std::optional<std::string> next_stage_input(const PipelineStage& next, std::string_view previous_result);

}  // namespace gpufleet
