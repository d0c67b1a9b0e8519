#include "common/pipeline.hpp"

#include "common/job.hpp"
#include "common/json_text.hpp"

namespace gpufleet {

std::string pipeline_to_json(const std::vector<PipelineStage>& stages) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& stage : stages) {
    nlohmann::json from = nlohmann::json::object();
    for (const auto& [field, source] : stage.from_previous) from[field] = source;
    out.push_back(
        {{"kind", stage.kind}, {"model", stage.model}, {"input", stage.input}, {"from_previous", from}});
  }
  return dump_json(out);
}

std::optional<std::vector<PipelineStage>> parse_pipeline(std::string_view json) {
  const auto parsed = parse_json_or_discarded(json);
  if (!parsed.is_array() || parsed.size() < 2 || parsed.size() > kMaxPipelineStages) return std::nullopt;
  std::vector<PipelineStage> stages;
  for (const auto& entry : parsed) {
    if (!entry.is_object()) return std::nullopt;
    const auto kind = entry.find("kind");
    const auto model = entry.find("model");
    const auto input = entry.find("input");
    if (kind == entry.end() || !kind->is_string() || !parse_job_kind(kind->get<std::string>()))
      return std::nullopt;
    if (model == entry.end() || !model->is_string() || model->get_ref<const std::string&>().empty())
      return std::nullopt;
    if (input == entry.end() || !input->is_object()) return std::nullopt;
    PipelineStage stage{kind->get<std::string>(), model->get<std::string>(), *input, {}};
    if (auto from = entry.find("from_previous"); from != entry.end()) {
      if (!from->is_object()) return std::nullopt;
      for (const auto& [field, source] : from->items()) {
        if (!source.is_string()) return std::nullopt;
        stage.from_previous.emplace_back(field, source.get<std::string>());
      }
    }
    stages.push_back(std::move(stage));
  }
  return stages;
}

std::optional<std::string> next_stage_input(const PipelineStage& next, std::string_view previous_result) {
  const auto result = parse_json_or_discarded(previous_result);
  if (!result.is_object()) return std::nullopt;
  nlohmann::json input = next.input;
  for (const auto& [field, source] : next.from_previous) {
    if (auto value = result.find(source); value != result.end() && !value->is_null()) input[field] = *value;
  }
  return dump_json(input);
}

}  // namespace gpufleet
