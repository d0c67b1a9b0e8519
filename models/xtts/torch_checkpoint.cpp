#include "models/xtts/torch_checkpoint.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json_text.hpp"

namespace gpufleet::xtts {
namespace {

[[noreturn]] void malformed(const std::string& why) {
  throw ModelError(ErrorCode::kModelError, "torch checkpoint: " + why);
}

// The file, memory-mapped for the reader's lifetime.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) malformed("cannot open " + path.string() + ": " + std::generic_category().message(errno));
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
      ::close(fd);
      malformed("cannot stat " + path.string());
    }
    size_ = static_cast<size_t>(info.st_size);
    if (size_ > 0) data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (data_ == MAP_FAILED) {
      data_ = nullptr;
      malformed("cannot map " + path.string());
    }
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

uint64_t le(std::string_view data, size_t at, int bytes) {
  if (at + static_cast<size_t>(bytes) > data.size()) malformed("zip structure runs past the end of the file");
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(data[at + i]);
  return value;
}

// The stored (uncompressed) entries of a zip archive, by name. torch.save writes every entry stored.
std::map<std::string, std::string_view> zip_entries(std::string_view file) {
  if (file.size() < 22) malformed("not a zip archive");
  size_t eocd = std::string_view::npos;
  const size_t lowest = file.size() > 65557 ? file.size() - 65557 : 0;
  for (size_t at = file.size() - 22 + 1; at-- > lowest;) {
    if (le(file, at, 4) == 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd == std::string_view::npos) malformed("not a zip archive (no end of central directory)");
  uint64_t entries = le(file, eocd + 10, 2);
  uint64_t directory = le(file, eocd + 16, 4);
  if ((entries == 0xFFFF || directory == 0xFFFFFFFF) && eocd >= 20 && le(file, eocd - 20, 4) == 0x07064b50) {
    const uint64_t eocd64 = le(file, eocd - 20 + 8, 8);
    if (le(file, eocd64, 4) != 0x06064b50) malformed("bad zip64 end record");
    entries = le(file, eocd64 + 32, 8);
    directory = le(file, eocd64 + 48, 8);
  }
  std::map<std::string, std::string_view> result;
  size_t at = directory;
  for (uint64_t i = 0; i < entries; ++i) {
    if (le(file, at, 4) != 0x02014b50) malformed("bad zip central directory");
    const uint64_t method = le(file, at + 10, 2);
    uint64_t compressed = le(file, at + 20, 4);
    uint64_t uncompressed = le(file, at + 24, 4);
    const size_t name_length = le(file, at + 28, 2);
    const size_t extra_length = le(file, at + 30, 2);
    const size_t comment_length = le(file, at + 32, 2);
    uint64_t local = le(file, at + 42, 4);
    if (at + 46 + name_length > file.size()) malformed("zip entry name past the end");
    std::string name(file.substr(at + 46, name_length));
    // Zip64: the 32-bit fields that are all ones come, in order, from extra field 0x0001.
    for (size_t extra = at + 46 + name_length; extra + 4 <= at + 46 + name_length + extra_length;) {
      const uint64_t id = le(file, extra, 2);
      const uint64_t size = le(file, extra + 2, 2);
      if (id == 0x0001) {
        size_t field = extra + 4;
        if (uncompressed == 0xFFFFFFFF) {
          uncompressed = le(file, field, 8);
          field += 8;
        }
        if (compressed == 0xFFFFFFFF) {
          compressed = le(file, field, 8);
          field += 8;
        }
        if (local == 0xFFFFFFFF) local = le(file, field, 8);
      }
      extra += 4 + size;
    }
    if (method != 0 || compressed != uncompressed)
      malformed("entry " + name + " is compressed; torch.save stores entries");
    if (le(file, local, 4) != 0x04034b50) malformed("bad zip local header for " + name);
    const size_t data = local + 30 + le(file, local + 26, 2) + le(file, local + 28, 2);
    if (data > file.size() || compressed > file.size() - data)
      malformed("entry " + name + " runs past the end");
    result.emplace(std::move(name), file.substr(data, compressed));
    at += 46 + name_length + extra_length + comment_length;
  }
  return result;
}

struct Storage {
  DType dtype = DType::kF32;
  std::string key;
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor,
    kMark,
    kOpaque
  };
  Kind kind = Kind::kNone;
  int64_t integer = 0;
  double real = 0;
  std::string text;  // string, or "module.name" of a global
  std::vector<ValuePtr> items;
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;
  Storage storage;
  // tensor
  int64_t offset = 0;
  std::vector<int64_t> shape, stride;
};

ValuePtr make(Value::Kind kind) {
  auto value = std::make_shared<Value>();
  value->kind = kind;
  return value;
}

DType storage_dtype(const std::string& type) {
  static const std::map<std::string, DType> kTypes{
      {"torch.FloatStorage", DType::kF32},     {"torch.HalfStorage", DType::kF16},
      {"torch.BFloat16Storage", DType::kBF16}, {"torch.DoubleStorage", DType::kF64},
      {"torch.LongStorage", DType::kI64},      {"torch.IntStorage", DType::kI32},
      {"torch.ShortStorage", DType::kI16},     {"torch.CharStorage", DType::kI8},
      {"torch.ByteStorage", DType::kU8},       {"torch.BoolStorage", DType::kBool}};
  auto it = kTypes.find(type);
  if (it == kTypes.end()) malformed("unsupported storage type " + type);
  return it->second;
}

std::vector<int64_t> int_tuple(const ValuePtr& value) {
  if (value->kind != Value::Kind::kTuple) malformed("expected a tuple of integers");
  std::vector<int64_t> result;
  for (const auto& item : value->items) {
    if (item->kind != Value::Kind::kInt) malformed("expected a tuple of integers");
    result.push_back(item->integer);
  }
  return result;
}

// A pickle virtual machine for protocol 2, as much as torch.save needs.
class Unpickler {
 public:
  explicit Unpickler(std::string_view data) : data_(data) {}

  ValuePtr run() {
    while (true) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80:
          byte();
          break;  // PROTO
        case '.':
          return pop();  // STOP
        case '}':
          push(make(Value::Kind::kDict));
          break;
        case ']':
          push(make(Value::Kind::kList));
          break;
        case ')':
          push(make(Value::Kind::kTuple));
          break;
        case '(':
          marks_.push_back(stack_.size());
          break;
        case 'N':
          push(make(Value::Kind::kNone));
          break;
        case 0x88:
        case 0x89: {
          auto value = make(Value::Kind::kBool);
          value->integer = op == 0x88;
          push(value);
          break;
        }
        case 'J':
          push_int(static_cast<int32_t>(read_le(4)));
          break;
        case 'K':
          push_int(static_cast<int64_t>(read_le(1)));
          break;
        case 'M':
          push_int(static_cast<int64_t>(read_le(2)));
          break;
        case 0x8a: {  // LONG1
          const size_t length = byte();
          if (length > 8) malformed("integer too large");
          uint64_t raw = read_le(static_cast<int>(length));
          if (length > 0 && length < 8 && (raw >> (8 * length - 1)) & 1) raw |= ~0ULL << (8 * length);
          push_int(static_cast<int64_t>(raw));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          uint64_t raw = 0;
          for (int i = 0; i < 8; ++i) raw = (raw << 8) | byte();
          auto value = make(Value::Kind::kFloat);
          std::memcpy(&value->real, &raw, 8);
          push(value);
          break;
        }
        case 'X':  // BINUNICODE
        case 'T':  // BINSTRING
          push_string(read_le(4));
          break;
        case 'U':
          push_string(byte());
          break;
        case 'B':
          push_string(read_le(4));
          break;
        case 'C':
          push_string(byte());
          break;
        case 'c': {
          auto value = make(Value::Kind::kGlobal);
          std::string module = line();  // two statements: the order of operands in `+` is unspecified
          value->text = module + "." + line();
          push(value);
          break;
        }
        case 'q':
          memo_[byte()] = top();
          break;
        case 'r':
          memo_[static_cast<uint32_t>(read_le(4))] = top();
          break;
        case 'h':
          push(memo(byte()));
          break;
        case 'j':
          push(memo(static_cast<uint32_t>(read_le(4))));
          break;
        case 't': {
          auto value = make(Value::Kind::kTuple);
          value->items = pop_to_mark();
          push(value);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {
          const size_t count = op - 0x84u;
          if (stack_.size() < count) malformed("stack underflow");
          auto value = make(Value::Kind::kTuple);
          value->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(count), stack_.end());
          stack_.resize(stack_.size() - count);
          push(value);
          break;
        }
        case 'a': {
          auto item = pop();
          top()->items.push_back(item);
          break;
        }
        case 'e': {
          auto items = pop_to_mark();
          auto& list = top()->items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case 's': {
          auto value = pop();
          auto key = pop();
          set_item(top(), key, value);
          break;
        }
        case 'u': {
          auto items = pop_to_mark();
          if (items.size() % 2 != 0) malformed("odd SETITEMS");
          for (size_t i = 0; i < items.size(); i += 2) set_item(top(), items[i], items[i + 1]);
          break;
        }
        case 'Q':
          push(persistent(pop()));
          break;
        case 'R': {
          auto args = pop();
          auto callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 0x81: {  // NEWOBJ
          pop();
          pop();
          push(make(Value::Kind::kOpaque));
          break;
        }
        case 'b':  // BUILD: object state (an OrderedDict's _metadata, ...) is not needed
        case '0':
          pop();
          break;
        case '2':
          push(top());
          break;
        default:
          malformed("unsupported pickle opcode 0x" + std::to_string(op));
      }
    }
  }

 private:
  uint8_t byte() {
    if (at_ >= data_.size()) malformed("pickle ends early");
    return static_cast<uint8_t>(data_[at_++]);
  }
  uint64_t read_le(int bytes) {
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= static_cast<uint64_t>(byte()) << (8 * i);
    return value;
  }
  std::string line() {
    const size_t end = data_.find('\n', at_);
    if (end == std::string_view::npos) malformed("pickle ends inside a GLOBAL");
    std::string text(data_.substr(at_, end - at_));
    at_ = end + 1;
    return text;
  }
  void push(ValuePtr value) {
    if (stack_.size() > 1'000'000) malformed("pickle stack too deep");
    stack_.push_back(std::move(value));
  }
  ValuePtr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) malformed("stack underflow");
    auto value = stack_.back();
    stack_.pop_back();
    return value;
  }
  ValuePtr& top() {
    if (stack_.empty()) malformed("stack underflow");
    return stack_.back();
  }
  std::vector<ValuePtr> pop_to_mark() {
    if (marks_.empty()) malformed("no MARK");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  ValuePtr memo(uint32_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) malformed("unknown memo entry");
    return it->second;
  }
  void push_int(int64_t value) {
    auto item = make(Value::Kind::kInt);
    item->integer = value;
    push(item);
  }
  void push_string(uint64_t length) {
    if (length > data_.size() - at_) malformed("string past the end of the pickle");
    auto value = make(Value::Kind::kString);
    value->text = std::string(data_.substr(at_, length));
    at_ += length;
    push(value);
  }
  static void set_item(const ValuePtr& target, ValuePtr key, ValuePtr value) {
    if (target->kind == Value::Kind::kDict) target->entries.emplace_back(std::move(key), std::move(value));
  }
  static ValuePtr persistent(const ValuePtr& id) {
    // ('storage', torch.FloatStorage, key, location, numel)
    if (id->kind != Value::Kind::kTuple || id->items.size() < 3 || id->items[0]->text != "storage" ||
        id->items[1]->kind != Value::Kind::kGlobal || id->items[2]->kind != Value::Kind::kString) {
      malformed("unsupported persistent id");
    }
    auto storage = make(Value::Kind::kStorage);
    storage->storage = Storage{storage_dtype(id->items[1]->text), id->items[2]->text};
    return storage;
  }
  static ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args) {
    if (callable->kind != Value::Kind::kGlobal || args->kind != Value::Kind::kTuple)
      return make(Value::Kind::kOpaque);
    const std::string& name = callable->text;
    if (name == "collections.OrderedDict") return make(Value::Kind::kDict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (args->items.size() < 4 || args->items[0]->kind != Value::Kind::kStorage ||
          args->items[1]->kind != Value::Kind::kInt) {
        malformed("unexpected arguments to " + name);
      }
      auto tensor = make(Value::Kind::kTensor);
      tensor->storage = args->items[0]->storage;
      tensor->offset = args->items[1]->integer;
      tensor->shape = int_tuple(args->items[2]);
      tensor->stride = int_tuple(args->items[3]);
      if (tensor->shape.size() != tensor->stride.size()) malformed("tensor shape and stride differ in rank");
      return tensor;
    }
    if (name == "torch._utils._rebuild_parameter" && !args->items.empty()) return args->items[0];
    return make(Value::Kind::kOpaque);
  }

  std::string_view data_;
  size_t at_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, ValuePtr> memo_;
};

OwnedTensor materialise(const Value& tensor, const std::map<std::string, std::string_view>& entries,
                        const std::string& prefix) {
  auto entry = entries.find(prefix + "data/" + tensor.storage.key);
  if (entry == entries.end()) malformed("storage " + tensor.storage.key + " missing from the archive");
  const std::string_view storage = entry->second;
  const size_t element = dtype_size(tensor.storage.dtype);
  OwnedTensor owned{tensor.storage.dtype, tensor.shape, {}};
  int64_t count = 1;
  for (auto dim : tensor.shape) {
    if (dim < 0) malformed("negative dimension");
    count *= dim;
  }
  owned.bytes.resize(static_cast<size_t>(count) * element);
  bool contiguous = true;
  int64_t expected_stride = 1;
  for (size_t d = tensor.shape.size(); d-- > 0;) {
    if (tensor.shape[d] != 1 && tensor.stride[d] != expected_stride) contiguous = false;
    expected_stride *= tensor.shape[d];
  }
  if (contiguous) {
    if (tensor.offset < 0 ||
        static_cast<size_t>(tensor.offset) * element + owned.bytes.size() > storage.size()) {
      malformed("tensor reaches past its storage " + tensor.storage.key);
    }
    std::memcpy(owned.bytes.data(), storage.data() + static_cast<size_t>(tensor.offset) * element,
                owned.bytes.size());
    return owned;
  }
  // A strided view: walk it in row-major order.
  std::vector<int64_t> index(tensor.shape.size(), 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t position = tensor.offset;
    for (size_t d = 0; d < index.size(); ++d) position += index[d] * tensor.stride[d];
    if (position < 0 || static_cast<size_t>(position + 1) * element > storage.size()) {
      malformed("tensor reaches past its storage " + tensor.storage.key);
    }
    std::memcpy(owned.bytes.data() + static_cast<size_t>(n) * element, storage.data() + position * element,
                element);
    for (size_t d = index.size(); d-- > 0;) {
      if (++index[d] < tensor.shape[d]) break;
      index[d] = 0;
    }
  }
  return owned;
}

void collect(const ValuePtr& value, const std::string& path, TensorMap& out,
             const std::map<std::string, std::string_view>& entries, const std::string& prefix, int depth) {
  if (depth > 16) return;
  if (value->kind == Value::Kind::kTensor) {
    out[path] = materialise(*value, entries, prefix);
  } else if (value->kind == Value::Kind::kDict) {
    for (const auto& [key, item] : value->entries) {
      if (key->kind != Value::Kind::kString) continue;
      collect(item, path.empty() ? key->text : path + "." + key->text, out, entries, prefix, depth + 1);
    }
  }
}

}  // namespace

TensorMap read_torch_checkpoint(const std::filesystem::path& path) {
  MappedFile file(path);
  const auto entries = zip_entries(file.bytes());
  std::string pickle_name;
  for (const auto& [name, data] : entries) {
    if (name.size() >= 8 && name.compare(name.size() - 8, 8, "data.pkl") == 0 &&
        std::count(name.begin(), name.end(), '/') <= 1) {
      pickle_name = name;
    }
  }
  if (pickle_name.empty()) malformed(path.string() + " has no data.pkl (a legacy, non-zip torch.save file?)");
  const std::string prefix = pickle_name.substr(0, pickle_name.size() - 8);
  auto root = Unpickler(entries.at(pickle_name)).run();
  TensorMap tensors;
  collect(root, "", tensors, entries, prefix, 0);
  return tensors;
}

TensorMap xtts_state_dict(TensorMap&& checkpoint) {
  TensorMap result;
  for (auto& [name, tensor] : checkpoint) {
    std::string key = name;
    if (key.rfind("model.", 0) == 0) key = key.substr(6);
    if (key.rfind("xtts.", 0) == 0) key = key.substr(5);
    if (key.rfind("dvae.", 0) == 0) continue;
    auto rename = [&key](std::string_view from, std::string_view to) {
      if (key.size() >= from.size() && key.compare(key.size() - from.size(), from.size(), from) == 0) {
        key = key.substr(0, key.size() - from.size()) + std::string(to);
      }
    };
    rename(".parametrizations.weight.original0", ".weight_g");
    rename(".parametrizations.weight.original1", ".weight_v");
    result[key] = std::move(tensor);
  }
  return result;
}

void write_safetensors(const std::filesystem::path& path, const TensorMap& tensors) {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    header[name] = {{"dtype", to_string(tensor.dtype)},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string text = dump_json(header);
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xFF);
  out += text;
  out.reserve(out.size() + offset);
  for (const auto& [name, tensor] : tensors) out += tensor.bytes;
  write_file_atomically(path, out);
}

}  // namespace gpufleet::xtts
