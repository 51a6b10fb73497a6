// safetensors: an 8-byte little-endian header length, a JSON header naming every tensor's dtype,
// shape and byte range, then the data. Every field is checked before any byte is trusted.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/core/error.hpp"
#include "gptoss/io/mapped_file.hpp"

namespace gptoss::io {

enum class DType { BF16, F16, F32, F64, U8, I8, I16, I32, I64, U16, U32, U64, BOOL, F8_E4M3, F8_E5M2 };

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t bytes;
};
inline constexpr DTypeInfo dtype_table[] = {
    {DType::BF16, "BF16", 2}, {DType::F16, "F16", 2},   {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},   {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::I32, "I32", 4},   {DType::I64, "I64", 8},
    {DType::U16, "U16", 2},   {DType::U32, "U32", 4},   {DType::U64, "U64", 8},
    {DType::BOOL, "BOOL", 1}, {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1}};

inline const DTypeInfo& dtype_info(DType d) {
  for (const auto& i : dtype_table)
    if (i.dtype == d) return i;
  return dtype_table[0];  // unreachable: every enumerator is in the table
}

// Limits that keep a hostile header from costing memory or time before it is rejected.
inline constexpr std::uint64_t max_header_bytes = 100u << 20;
inline constexpr std::size_t max_tensor_rank = 8;
inline constexpr std::size_t max_tensors = 1u << 16;  // gpt-oss-120b has a few hundred

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin, end;  // byte range within the data section

  std::int64_t elements() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::string shape_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path) : file_(path) { parse(); }

  const std::filesystem::path& path() const { return file_.path(); }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }
  // The tensor's bytes, inside the mapping.
  std::span<const std::byte> bytes(const TensorInfo& t) const {
    return {file_.data() + data_start_ + t.begin, std::size_t(t.end - t.begin)};
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw format_error(file_.path().string() + ": " + what);
  }

  void parse() {
    if (file_.size() < 8) fail("truncated: " + std::to_string(file_.size()) + " bytes, no safetensors header");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | std::uint64_t(std::to_integer<std::uint8_t>(file_.data()[i]));
    if (n > max_header_bytes) fail("header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(max_header_bytes) + " bytes");
    if (n > file_.size() - 8) fail("truncated: header of " + std::to_string(n) + " bytes but the file has " + std::to_string(file_.size()) + " bytes");
    data_start_ = 8 + n;
    const std::uint64_t data_size = file_.size() - data_start_;

    nlohmann::json header;
    try {
      const char* text = reinterpret_cast<const char*>(file_.data() + 8);
      header = nlohmann::json::parse(text, text + n);
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) fail("header is not a JSON object");
    if (header.size() > max_tensors + 1)
      fail("header lists " + std::to_string(header.size()) + " entries, more than the limit of " + std::to_string(max_tensors) + " tensors");

    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        if (!entry.is_object()) fail("__metadata__ is not an object");
        for (const auto& [k, v] : entry.items()) {
          if (!v.is_string()) fail("__metadata__ value '" + k + "' is not a string");
          metadata_[k] = v.get<std::string>();
        }
        continue;
      }
      tensors_.emplace(name, parse_entry(name, entry, data_size));
    }
    check_no_overlap();
  }

  TensorInfo parse_entry(const std::string& name, const nlohmann::json& e, std::uint64_t data_size) const {
    auto where = "tensor '" + name + "': ";
    if (!e.is_object()) fail(where + "entry is not an object");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!e.contains(key)) fail(where + "missing field '" + key + "'");
    TensorInfo t;
    t.name = name;
    if (!e["dtype"].is_string()) fail(where + "dtype is not a string");
    auto dt = e["dtype"].get<std::string>();
    auto info = std::find_if(std::begin(dtype_table), std::end(dtype_table), [&](auto& i) { return dt == i.name; });
    if (info == std::end(dtype_table)) fail(where + "unknown dtype '" + dt + "'");
    t.dtype = info->dtype;

    const auto& shape = e["shape"];
    if (!shape.is_array() || shape.size() > max_tensor_rank) fail(where + "shape is not an array of at most 8 dimensions");
    std::uint64_t elements = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) fail(where + "shape has a dimension that is not a non-negative integer");
      auto v = d.get<std::uint64_t>();
      if (v > (std::uint64_t(1) << 40) || (v && elements > (std::uint64_t(1) << 48) / v)) fail(where + "shape is too large");
      elements *= v;
      t.shape.push_back(std::int64_t(v));
    }
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(where + "data_offsets is not a pair of non-negative integers");
    t.begin = off[0].get<std::uint64_t>();
    t.end = off[1].get<std::uint64_t>();
    if (t.begin > t.end) fail(where + "data_offsets begin after they end");
    if (t.end > data_size)
      fail(where + "data ends at byte " + std::to_string(t.end) + " of a data section of " + std::to_string(data_size) + " bytes (truncated file?)");
    if (t.end - t.begin != elements * info->bytes)
      fail(where + "holds " + std::to_string(t.end - t.begin) + " bytes but " + dt + " " + t.shape_string() + " needs " + std::to_string(elements * info->bytes));
    return t;
  }

  void check_no_overlap() const {
    std::vector<const TensorInfo*> order;
    for (const auto& [_, t] : tensors_) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](auto a, auto b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < order.size(); ++i)
      if (order[i]->begin < order[i - 1]->end)
        fail("tensors '" + order[i - 1]->name + "' and '" + order[i]->name + "' overlap");
  }

  MappedFile file_;
  std::uint64_t data_start_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace gptoss::io
