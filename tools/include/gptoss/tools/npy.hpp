// Writing NumPy .npy files (format version 1.0), for logits and other float arrays (`gptoss logits`).
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "gptoss/core/error.hpp"

namespace gptoss::tools {

inline void write_npy(const std::filesystem::path& path, std::span<const float> data, std::vector<std::int64_t> shape) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' padded to a multiple of 64 bytes.
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw io_error(path.string() + ": cannot create");
  const std::uint16_t len = std::uint16_t(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(char(len & 0xff)).put(char(len >> 8));
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size_bytes()));
  if (!out.flush()) throw io_error(path.string() + ": write failed");
}

}  // namespace gptoss::tools
