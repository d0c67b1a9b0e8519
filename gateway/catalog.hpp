#pragma once
// The models the fleet serves, as the broker records them in Redis (<prefix>:models, store/records.hpp's
// ModelRecord). The gateway keeps a copy, refreshed every second, to refuse unknown models and unsupported
// languages before queueing.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpufleet::gateway {

struct CatalogModel {
  std::string name;
  std::string kind;
  std::vector<std::string> languages;  // empty: any
  bool cloning = false;
  uint32_t sample_rate = 0;
  uint32_t workers = 0;
  uint32_t slots = 0;
  std::vector<std::string> devices;
  uint32_t max_batch = 1;               // jobs a worker runs together
  std::vector<std::string> parameters;  // input fields of the model's own (models::ModelInfo::parameters)
  std::vector<std::string> modes;       // a video model's (models::ModelInfo::modes)

  // Whether jobs may ask this video model for `mode`: one it lists, or any when it lists none.
  bool offers(std::string_view mode) const {
    return kind == "video" && (modes.empty() || std::find(modes.begin(), modes.end(), mode) != modes.end());
  }
};

class Catalog {
 public:
  // Entries that are not valid JSON objects are skipped.
  static Catalog from_redis_hash(const std::vector<std::pair<std::string, std::string>>& fields);

  const CatalogModel* find(const std::string& name) const;
  const std::map<std::string, CatalogModel>& models() const { return models_; }
  void add(CatalogModel model) { models_[model.name] = std::move(model); }

 private:
  std::map<std::string, CatalogModel> models_;
};

}  // namespace gpufleet::gateway
