#pragma once
// A reader for the safetensors format (8-byte little-endian header length, JSON header
// {name: {dtype, shape, data_offsets}}, raw little-endian data), memory-mapped and validated: every
// tensor's bytes must lie inside the file and match its dtype and shape. No LibTorch needed; the torch side
// wraps the mapped bytes without copying.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gpufleet::xtts {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

size_t dtype_size(DType dtype);
const char* to_string(DType dtype);

struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;

  int64_t numel() const;
  // Copies out the values; throws ModelError if the dtype is not T's.
  std::vector<float> to_floats() const;
  std::vector<int64_t> to_int64s() const;
};

class SafetensorsFile {
 public:
  // Throws ModelError(kModelError) for a missing, truncated or inconsistent file.
  static SafetensorsFile open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) = delete;
  SafetensorsFile(const SafetensorsFile&) = delete;

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws ModelError when there is no such tensor.
  const TensorView& get(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void* mapping_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace gpufleet::xtts
