// Drives a libFuzzer target without libFuzzer (any compiler): every file of a corpus folder, then seeded
// mutations of them (bytes flipped, cut, repeated, spliced; half through the target's own mutator where it
// has one) and pure random inputs. A crash or sanitizer report fails the CTest run; the real fuzzing is
// scripts/fuzz.sh.
//
//   <target>_replay CORPUS_DIR [MUTATIONS]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// A target's own structure-aware mutator, where it has one (as libFuzzer looks for it).
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed)
    __attribute__((weak));

namespace {

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string mutate(std::string input, const std::vector<std::string>& corpus, std::mt19937& random) {
  if (LLVMFuzzerCustomMutator != nullptr && random() % 2 == 0) {
    constexpr size_t kMaxSize = 1 << 16;
    input.resize(std::min(input.size(), kMaxSize));
    const size_t size = input.size();
    input.resize(kMaxSize);
    input.resize(LLVMFuzzerCustomMutator(reinterpret_cast<uint8_t*>(input.data()), size, kMaxSize,
                                         static_cast<unsigned>(random())));
    return input;
  }
  const int edits = 1 + static_cast<int>(random() % 4);
  for (int i = 0; i < edits; ++i) {
    switch (random() % 5) {
      case 0:
        if (!input.empty()) input[random() % input.size()] = static_cast<char>(random());
        break;
      case 1:
        if (!input.empty()) input.resize(random() % input.size());
        break;
      case 2:
        if (!input.empty()) input.insert(random() % input.size(), input.substr(0, random() % input.size()));
        break;
      case 3:
        if (!corpus.empty()) input += corpus[random() % corpus.size()];
        break;
      default:
        input.insert(input.empty() ? 0 : random() % input.size(), 1, static_cast<char>(random()));
    }
  }
  return input.substr(0, 1 << 16);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
    return 2;
  }
  std::vector<std::string> corpus;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream file(entry.path(), std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  for (const auto& input : corpus) run(input);
  const long mutations = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 10000;
  std::mt19937 random(20261127);
  for (long i = 0; i < mutations; ++i) {
    if (!corpus.empty() && i % 4 != 0) {
      run(mutate(corpus[random() % corpus.size()], corpus, random));
    } else {
      std::string bytes(random() % 256, '\0');
      for (auto& byte : bytes) byte = static_cast<char>(random());
      run(bytes);
    }
  }
  std::printf("%zu corpus inputs and %ld mutations ran without a crash\n", corpus.size(), mutations);
  return 0;
}
