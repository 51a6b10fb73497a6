// Writing safetensors files tensor by tensor: the header is written first (every tensor's dtype
// and shape are declared up front), then each tensor's bytes are streamed in order, so files of
// any size are written without holding them in memory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/core/error.hpp"
#include "gptoss/io/safetensors.hpp"

namespace gptoss::io {

struct TensorSpec {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t bytes() const {
    std::uint64_t n = dtype_info(dtype).bytes;
    for (auto d : shape) n *= std::uint64_t(d);
    return n;
  }
};

// fill(tensor index, byte offset within the tensor, destination) produces the tensor's bytes in
// pieces of at most `chunk` bytes, in order.
using TensorFiller = std::function<void(std::size_t, std::uint64_t, std::span<std::byte>)>;

inline void write_safetensors(const std::filesystem::path& path, const std::vector<TensorSpec>& tensors,
                              const TensorFiller& fill, const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", dtype_info(t.dtype).name}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes()}}};
    offset += t.bytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned

  std::ofstream out(path, std::ios::binary);
  if (!out) throw io_error(path.string() + ": cannot create");
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out.write(text.data(), std::streamsize(text.size()));
  constexpr std::size_t chunk = 1 << 22;
  std::vector<std::byte> buf(chunk);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::uint64_t total = tensors[i].bytes();
    for (std::uint64_t done = 0; done < total; done += chunk) {
      std::size_t len = std::size_t(std::min<std::uint64_t>(chunk, total - done));
      fill(i, done, std::span<std::byte>(buf.data(), len));
      out.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(len));
    }
  }
  if (!out.flush()) throw io_error(path.string() + ": write failed (disk full?)");
}

}  // namespace gptoss::io
