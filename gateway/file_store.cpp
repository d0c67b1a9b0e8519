#include "gateway/file_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <memory>

#include "common/files.hpp"
#include "gateway/storage_sweeper.hpp"

namespace gpufleet::gateway {

namespace asio = boost::asio;
namespace fs = std::filesystem;

FileStore::FileStore(asio::io_context& io, FileStoreConfig config, MetricsRegistry& metrics)
    : io_(io), config_(std::move(config)), metrics_(metrics), sweep_timer_(io) {
  metrics_.counter("gpufleet_storage_swept_files_total", "Files the storage sweeper deleted, by folder");
  metrics_.counter("gpufleet_storage_swept_bytes_total", "Bytes the storage sweeper freed, by folder");
  std::error_code ec;
  fs::create_directories(config_.input_root / "uploads", ec);
}

void FileStore::start() {
  sweep();
}

void FileStore::stop() {
  sweep_timer_.cancel();
}

void FileStore::store_upload(Upload upload, std::string body, const Caller& caller,
                             std::function<void(std::variant<bool, ApiError>, const Upload&)> done) {
  // Each key's uploads in a folder of its own: the same bytes from two keys are two files.
  upload.relative = upload_folder(caller) / upload.relative.filename();
  auto shared = std::make_shared<Upload>(std::move(upload));
  asio::post(pool_, [this, shared, body = std::move(body), key = caller.key, done = std::move(done)] {
    // Content-addressed: the same bytes are the same file, so a repeat is answered without writing (and
    // counts as a use, which restarts its UPLOAD_TTL_S).
    const auto path = config_.input_root / shared->relative;
    std::error_code ec;
    const bool existed = fs::exists(path, ec);
    std::optional<ApiError> error;
    if (existed) renew(path);
    if (!existed && config_.upload_quota_bytes > 0) {
      const uint64_t held = folder_bytes(path.parent_path());
      if (held + body.size() > config_.upload_quota_bytes) {
        error = api_error(ErrorCode::kPayloadTooLarge,
                          (key.empty() ? std::string("uploads") : "API key " + key + "'s uploads") +
                              " hold " + std::to_string(held) + " bytes; this one would pass the quota of " +
                              std::to_string(config_.upload_quota_bytes) + " (uploads go " +
                              std::to_string(config_.upload_ttl_s) + " s after their last use)");
      }
    }
    if (!existed && !error) {
      try {
        write_file_atomically(path, body);
      } catch (const std::exception& failure) {
        spdlog::error("cannot store upload {}: {}", shared->id, failure.what());
        error = api_error(ErrorCode::kStorageError, "the upload could not be stored");
      }
    }
    asio::post(io_, [shared, existed, error, done] {
      if (error) return done(*error, *shared);
      done(existed, *shared);
    });
  });
}

std::optional<nlohmann::json> FileStore::describe_upload(const std::string& id, const Caller& caller) const {
  const bool well_formed = id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
                             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                           });
  if (!well_formed) return std::nullopt;
  static const std::pair<const char*, const char*> kKinds[] = {
      {".wav", "audio/wav"}, {".png", "image/png"},       {".jpg", "image/jpeg"},
      {".mp4", "video/mp4"}, {".mov", "video/quicktime"}, {".webm", "video/webm"}};
  for (const auto& [extension, type] : kKinds) {
    const auto relative = upload_folder(caller) / (id + extension);
    const auto file = resolve_inside(config_.input_root, relative);
    if (!file) continue;
    std::error_code ec;
    const auto bytes = fs::file_size(*file, ec);
    nlohmann::json body{{"id", id}, {"content_type", type}, {"bytes", ec ? 0 : bytes}};
    if (std::string_view(extension) == ".wav") {
      body["speaker_wav"] = body["audio_path"] = relative.string();
    } else if (std::string_view(type).rfind("video/", 0) == 0) {
      body["video"] = relative.string();
    } else {
      body["reference_image"] = relative.string();
    }
    return body;
  }
  return std::nullopt;
}

std::variant<ResultFile, ApiError> FileStore::result_file(const std::string& job_id,
                                                          const nlohmann::json& result,
                                                          std::string_view kind) const {
  const auto served = served_result(result, kind);
  if (!served) return api_error(ErrorCode::kNotFound, "job " + job_id + " produced no file");
  auto path = resolve_inside(config_.storage_root / served->folder, served->path);
  if (!path) {
    // The job succeeded, so its file was there: the sweeper has taken it (or storage lost it).
    return api_error(ErrorCode::kGone, "the result file of job " + job_id +
                                           " is no longer in shared storage (results are kept " +
                                           std::to_string(config_.result_ttl_s) + " s)");
  }
  return ResultFile{*path, served->content_type};
}

bool FileStore::reference_exists(const fs::path& relative) const {
  auto file = resolve_inside(config_.input_root, relative);
  if (file) renew(*file);
  return file.has_value();
}

bool FileStore::tts_result_exists(const fs::path& relative) const {
  return resolve_inside(config_.storage_root / "tts", relative).has_value();
}

// Off the event loop, then again every sweep_interval; the counts come back to the loop.
void FileStore::sweep() {
  struct Folder {
    std::string label;
    fs::path path;
    int64_t ttl_s;
  };
  std::vector<Folder> folders;
  if (config_.result_ttl_s > 0) {
    folders.push_back({"tts", config_.storage_root / "tts", config_.result_ttl_s});
    folders.push_back({"video", config_.storage_root / "video", config_.result_ttl_s});
  }
  if (config_.upload_ttl_s > 0)
    folders.push_back({"uploads", config_.input_root / "uploads", config_.upload_ttl_s});
  asio::post(pool_, [this, folders] {
    for (const auto& folder : folders) {
      const SweepReport report = sweep_older_than(folder.path, std::chrono::seconds(folder.ttl_s));
      asio::post(io_, [this, label = folder.label, report] {
        if (report.files_removed > 0) {
          metrics_.increment("gpufleet_storage_swept_files_total", {{"folder", label}},
                             static_cast<double>(report.files_removed));
          metrics_.increment("gpufleet_storage_swept_bytes_total", {{"folder", label}},
                             static_cast<double>(report.bytes_removed));
          spdlog::info("storage sweep: {}: {} file(s), {} bytes removed; {} kept", label,
                       report.files_removed, report.bytes_removed, report.files_kept);
        }
        if (report.errors > 0)
          spdlog::warn("storage sweep: {}: {} entries could not be read or removed", label, report.errors);
      });
    }
  });
  sweep_timer_.expires_after(config_.sweep_interval);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep();
  });
}

}  // namespace gpufleet::gateway
