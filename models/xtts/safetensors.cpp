#include "models/xtts/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "common/error.hpp"
#include "common/json_text.hpp"

namespace gpufleet::xtts {
namespace {

[[noreturn]] void bad_file(const std::filesystem::path& path, const std::string& why) {
  throw ModelError(ErrorCode::kModelError, "safetensors file " + path.string() + ": " + why);
}

DType parse_dtype(const std::string& name, const std::filesystem::path& path) {
  static const std::map<std::string, DType> kNames{
      {"F32", DType::kF32}, {"F16", DType::kF16},  {"BF16", DType::kBF16}, {"F64", DType::kF64},
      {"I64", DType::kI64}, {"I32", DType::kI32},  {"I16", DType::kI16},   {"I8", DType::kI8},
      {"U8", DType::kU8},   {"BOOL", DType::kBool}};
  auto it = kNames.find(name);
  if (it == kNames.end()) bad_file(path, "unsupported dtype " + name);
  return it->second;
}

template <typename T>
std::vector<T> copy_values(const TensorView& view) {
  std::vector<T> values(static_cast<size_t>(view.numel()));
  std::memcpy(values.data(), view.bytes.data(), values.size() * sizeof(T));
  return values;
}

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF64:
    case DType::kI64:
      return 8;
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16:
      return 2;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool:
      return 1;
  }
  return 1;
}

const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kF64:
      return "F64";
    case DType::kI64:
      return "I64";
    case DType::kI32:
      return "I32";
    case DType::kI16:
      return "I16";
    case DType::kI8:
      return "I8";
    case DType::kU8:
      return "U8";
    case DType::kBool:
      return "BOOL";
  }
  return "?";
}

int64_t TensorView::numel() const {
  int64_t count = 1;
  for (auto dim : shape) count *= dim;
  return count;
}

std::vector<float> TensorView::to_floats() const {
  if (dtype != DType::kF32)
    throw ModelError(ErrorCode::kModelError, std::string("tensor is ") + to_string(dtype) + ", not F32");
  return copy_values<float>(*this);
}

std::vector<int64_t> TensorView::to_int64s() const {
  if (dtype != DType::kI64)
    throw ModelError(ErrorCode::kModelError, std::string("tensor is ") + to_string(dtype) + ", not I64");
  return copy_values<int64_t>(*this);
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) bad_file(path, std::generic_category().message(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || info.st_size < 8) {
    ::close(fd);
    bad_file(path, "too short");
  }
  SafetensorsFile file;
  file.size_ = static_cast<size_t>(info.st_size);
  file.mapping_ = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (file.mapping_ == MAP_FAILED) {
    file.mapping_ = nullptr;
    bad_file(path, "cannot map it");
  }
  const auto* base = static_cast<const std::byte*>(file.mapping_);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<uint8_t>(base[i]);
  if (header_size > file.size_ - 8 || header_size > (100u << 20))
    bad_file(path, "header length past the end");
  const auto header =
      parse_json_or_discarded(std::string_view(reinterpret_cast<const char*>(base + 8), header_size));
  if (!header.is_object()) bad_file(path, "header is not a JSON object");
  const size_t data_start = 8 + header_size;
  const size_t data_size = file.size_ - data_start;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_object()) {
        for (const auto& [key, value] : entry.items()) {
          if (value.is_string()) file.metadata_[key] = value.get<std::string>();
        }
      }
      continue;
    }
    try {
      TensorView view;
      view.dtype = parse_dtype(entry.at("dtype").get<std::string>(), path);
      view.shape = entry.at("shape").get<std::vector<int64_t>>();
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size) {
        bad_file(path, name + ": data offsets outside the file");
      }
      uint64_t expected = dtype_size(view.dtype);
      for (auto dim : view.shape) {
        if (dim < 0) bad_file(path, name + ": negative dimension");
        expected *= static_cast<uint64_t>(dim);
      }
      if (expected != offsets[1] - offsets[0]) bad_file(path, name + ": size does not match dtype and shape");
      view.bytes = std::span<const std::byte>(base + data_start + offsets[0], offsets[1] - offsets[0]);
      file.tensors_.emplace(name, std::move(view));
    } catch (const nlohmann::json::exception& error) {
      bad_file(path, name + ": " + error.what());
    }
  }
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      tensors_(std::move(other.tensors_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

const TensorView& SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw ModelError(ErrorCode::kModelError, "no tensor named " + name);
  return it->second;
}

}  // namespace gpufleet::xtts
