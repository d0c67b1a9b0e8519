#include "gateway/catalog.hpp"

#include "store/records.hpp"

namespace gpufleet::gateway {

Catalog Catalog::from_redis_hash(const std::vector<std::pair<std::string, std::string>>& fields) {
  Catalog catalog;
  for (const auto& [name, value] : fields) {
    auto record = parse_model_record(name, value);
    if (!record) continue;
    CatalogModel model;
    model.name = name;
    model.kind = std::move(record->kind);
    model.languages = std::move(record->languages);
    model.cloning = record->cloning;
    model.sample_rate = record->sample_rate;
    model.max_batch = record->max_batch;
    model.parameters = std::move(record->parameters);
    model.modes = std::move(record->modes);
    model.workers = record->workers;
    model.slots = record->slots;
    model.devices = std::move(record->devices);
    catalog.models_[name] = std::move(model);
  }
  return catalog;
}

const CatalogModel* Catalog::find(const std::string& name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second;
}

}  // namespace gpufleet::gateway
