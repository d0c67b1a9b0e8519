#include "gateway/catalog.hpp"

#include <nlohmann/json.hpp>

#include "common/json_text.hpp"

namespace gpufleet::gateway {

Catalog Catalog::from_redis_hash(const std::vector<std::pair<std::string, std::string>>& fields) {
  Catalog catalog;
  for (const auto& [name, value] : fields) {
    auto json = parse_json_or_discarded(value);
    if (!json.is_object()) continue;
    CatalogModel model;
    model.name = name;
    try {
      model.kind = json.value("kind", "");
      model.languages = json.value("languages", std::vector<std::string>{});
      model.cloning = json.value("cloning", false);
      model.sample_rate = json.value("sample_rate", 0u);
      model.max_batch = json.value("max_batch", 1u);
      model.parameters = json.value("parameters", std::vector<std::string>{});
      model.modes = json.value("modes", std::vector<std::string>{});
      model.workers = json.value("workers", 0u);
      model.slots = json.value("slots", 0u);
      model.devices = json.value("devices", std::vector<std::string>{});
    } catch (const nlohmann::json::exception&) {
      continue;
    }
    catalog.models_[name] = std::move(model);
  }
  return catalog;
}

const CatalogModel* Catalog::find(const std::string& name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second;
}

}  // namespace gpufleet::gateway
