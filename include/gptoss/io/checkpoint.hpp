// A gpt-oss checkpoint on disk: config.json plus safetensors files, in the original layout
// (`original/` of the official release) or the Hugging Face layout. The layout is detected from
// config.json; the files are memory-mapped and every tensor is checked when it is asked for.
#pragma once
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gptoss/config/config_json.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/core/tensor.hpp"
#include "gptoss/io/safetensors.hpp"

namespace gptoss::io {

class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw io_error(dir.string() + ": not a directory (expected a folder holding config.json and *.safetensors)");
    Checkpoint c;
    c.dir_ = dir;
    c.config_ = read_config(dir / "config.json", &c.layout_);

    std::vector<fs::path> files;
    if (fs::exists(dir / "model.safetensors.index.json")) {
      auto index = detail::read_json_file(dir / "model.safetensors.index.json", 64u << 20);
      const auto* map = detail::find_field(index, {"weight_map"});
      if (!map || !map->is_object())
        throw format_error((dir / "model.safetensors.index.json").string() + ": missing object 'weight_map'");
      for (const auto& [name, shard] : map->items()) {
        if (!shard.is_string() || shard.get<std::string>().find('/') != std::string::npos)
          throw format_error((dir / "model.safetensors.index.json").string() + ": bad shard name for tensor '" + name + "'");
        fs::path p = dir / shard.get<std::string>();
        if (std::find(files.begin(), files.end(), p) == files.end()) files.push_back(p);
      }
    } else {
      for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw io_error(dir.string() + ": no *.safetensors files");
    for (const auto& p : files) {
      c.files_.push_back(std::make_unique<SafetensorsFile>(p));
      for (const auto& [name, info] : c.files_.back()->tensors()) {
        if (c.index_.count(name))
          throw format_error(p.string() + ": tensor '" + name + "' also appears in " + c.index_[name].file->path().string());
        c.index_[name] = {&info, c.files_.back().get()};
      }
    }
    return c;
  }

  const ModelConfig& config() const { return config_; }
  Layout layout() const { return layout_; }
  const std::filesystem::path& dir() const { return dir_; }

  struct Entry {
    const TensorInfo* info;
    const SafetensorsFile* file;
  };
  const std::map<std::string, Entry>& tensors() const { return index_; }

  std::uint64_t weight_bytes() const {
    std::uint64_t n = 0;
    for (const auto& [_, e] : index_) n += e.info->end - e.info->begin;
    return n;
  }

  // A tensor checked for presence, dtype and exact shape; its bytes stay in the mapping.
  const Entry& expect(const std::string& name, DType dtype, std::initializer_list<std::int64_t> shape) const {
    auto it = index_.find(name);
    if (it == index_.end()) throw format_error(dir_.string() + ": tensor '" + name + "' is missing");
    const TensorInfo& t = *it->second.info;
    std::string where = it->second.file->path().string() + ": tensor '" + name + "'";
    if (t.dtype != dtype)
      throw format_error(where + " has dtype " + dtype_info(t.dtype).name + ", expected " + dtype_info(dtype).name);
    if (!std::equal(t.shape.begin(), t.shape.end(), shape.begin(), shape.end())) {
      TensorInfo want{"", dtype, std::vector<std::int64_t>(shape), 0, 0};
      throw format_error(where + " has shape " + t.shape_string() + ", expected " + want.shape_string());
    }
    return it->second;
  }

  Bf16Matrix bf16_matrix(const std::string& name, std::int64_t rows, std::int64_t cols) const {
    return {static_cast<const bf16*>(aligned(expect(name, DType::BF16, {rows, cols}), alignof(bf16))), int(rows), int(cols)};
  }
  Bf16Vector bf16_vector(const std::string& name, std::int64_t n) const {
    return {static_cast<const bf16*>(aligned(expect(name, DType::BF16, {n}), alignof(bf16))), int(n)};
  }
  // MXFP4 [experts, rows, cols] from its `blocks` U8 [E, rows, cols/32, 16] and `scales` U8 [E, rows, cols/32].
  Mxfp4Experts mxfp4_experts(const std::string& blocks, const std::string& scales, std::int64_t experts,
                             std::int64_t rows, std::int64_t cols) const {
    const std::int64_t nb = cols / mxfp4::block_elems;
    return {static_cast<const std::uint8_t*>(aligned(expect(blocks, DType::U8, {experts, rows, nb, mxfp4::block_bytes}), 1)),
            static_cast<const std::uint8_t*>(aligned(expect(scales, DType::U8, {experts, rows, nb}), 1)),
            int(experts), int(rows), int(cols)};
  }

 private:
  // Tensors are used in place; one whose bytes are misaligned for its type (legal in safetensors,
  // rare in practice) is copied once into aligned memory.
  const void* aligned(const Entry& e, std::size_t alignment) const {
    auto bytes = e.file->bytes(*e.info);
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignment == 0) return bytes.data();
    auto copy = std::make_unique<std::byte[]>(bytes.size());
    std::memcpy(copy.get(), bytes.data(), bytes.size());
    copies_.push_back(std::move(copy));
    return copies_.back().get();
  }

  std::filesystem::path dir_;
  ModelConfig config_{};
  Layout layout_ = Layout::original;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> index_;
  mutable std::vector<std::unique_ptr<std::byte[]>> copies_;
};

}  // namespace gptoss::io
