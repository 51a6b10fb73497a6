// Shared by the fuzz targets: a scratch folder for the loaders that read files, and a check that
// turns a broken invariant into a crash libFuzzer records.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "gptoss/text/tokenizer.hpp"

namespace fuzz {

// One folder per process (fuzzing jobs run side by side), in /dev/shm when there is one: each
// input is written there before a loader reads it back, so the disk is never touched.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto d = base / ("gptoss-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return d;
  }();
  return dir;
}

inline std::filesystem::path write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out.flush()) std::abort();
  return path;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

// The real o200k_harmony vocabulary, loaded once per process.
inline const gptoss::text::Tokenizer& tokenizer() {
  static const auto tok = gptoss::text::Tokenizer::from_file(GPTOSS_FUZZ_VOCAB);
  return tok;
}

}  // namespace fuzz
