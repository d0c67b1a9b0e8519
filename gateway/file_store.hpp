#pragma once
// Shared storage as the gateway sees it: uploaded inputs (content-addressed, one folder per API key, within a
// quota), the result files jobs produced, and the sweeper that deletes both when their time is up. Writes and
// sweeps run on a storage thread of its own, so an fsync never stalls the event loop; their answers come back
// on the event loop. No Beast types: the gateway turns what this answers into HTTP.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "common/metrics.hpp"
#include "gateway/api.hpp"

namespace gpufleet::gateway {

struct FileStoreConfig {
  std::filesystem::path storage_root;        // STORAGE_ROOT: results under tts/ and video/
  std::filesystem::path input_root;          // INPUT_ROOT: uploads under uploads/
  uint64_t upload_quota_bytes = 1ULL << 30;  // per key; 0: none
  int64_t upload_ttl_s = 86400;              // 0: kept forever
  int64_t result_ttl_s = 0;                  // 0: kept forever
  std::chrono::seconds sweep_interval{300};
};

// A result file to serve: where it is and what it is.
struct ResultFile {
  std::filesystem::path path;
  std::string content_type;
};

class FileStore {
 public:
  FileStore(boost::asio::io_context& io, FileStoreConfig config, MetricsRegistry& metrics);
  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  // Sweeps now, then every sweep_interval.
  void start();
  void stop();

  // Stores an upload checked by parse_upload() under `caller`'s folder. `done` gets, on the event loop,
  // whether the same bytes were there already (then nothing is written and the file counts as used now), or
  // the error (413 past the key's quota, 500 when storage fails).
  void store_upload(Upload upload, std::string body, const Caller& caller,
                    std::function<void(std::variant<bool, ApiError>, const Upload&)> done);

  // GET /v1/files/{id}: what the caller uploaded under `id`, with the fields a job names it by; nullopt when
  // there is none (or `id` is no upload id).
  std::optional<nlohmann::json> describe_upload(const std::string& id, const Caller& caller) const;

  // The file a succeeded job's `result` names, from its kind's results folder only (the path comes from a
  // worker); 404 when the result names none, 410 when it was swept.
  std::variant<ResultFile, ApiError> result_file(const std::string& job_id, const nlohmann::json& result,
                                                 std::string_view kind) const;

  // Whether a job may name these files (api.hpp's Limits callbacks). A referenced input counts as used now,
  // so the sweeper keeps a voice or portrait that jobs still name.
  bool reference_exists(const std::filesystem::path& relative) const;
  bool tts_result_exists(const std::filesystem::path& relative) const;

 private:
  void sweep();

  boost::asio::io_context& io_;
  FileStoreConfig config_;
  MetricsRegistry& metrics_;
  boost::asio::steady_timer sweep_timer_;
  boost::asio::thread_pool pool_{1};
};

}  // namespace gpufleet::gateway
