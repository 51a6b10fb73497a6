// Scanning a checkpoint's weights for NaN and Inf. Loading checks structure only (names, dtypes,
// shapes, offsets); values are not read until the forward pass, where a corrupted or badly
// converted tensor would surface as garbage logits far from its cause. This scan names it.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <set>
#include <string>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/io/checkpoint.hpp"
#include "gptoss/io/layout.hpp"

namespace gptoss {

// Reads every BF16 value (NaN or Inf: all exponent bits set) and every MXFP4 scale byte (255 is
// E8M0's NaN; the E2M1 values themselves are all finite) of the checkpoint. Throws format_error
// naming the first bad tensor (in name order) and the element. progress(done, total) counts bytes.
inline void check_weights_finite(const io::Checkpoint& ckpt, const ModelConfig& c,
                                 const std::function<void(std::uint64_t, std::uint64_t)>& progress = {}) {
  std::set<std::string> scales;
  for (int l = 0; l < c.num_hidden_layers; ++l)
    for (io::Param p : {io::Param::mlp1_scales, io::Param::mlp2_scales}) scales.insert(io::tensor_name(ckpt.layout(), p, l));

  std::uint64_t total = 0, done = 0;
  for (const auto& [name, e] : ckpt.tensors()) total += e.info->end - e.info->begin;
  for (const auto& tensor : ckpt.tensors()) {
    const std::string& name = tensor.first;  // not a structured binding: the lambda captures it
    const io::Checkpoint::Entry& e = tensor.second;
    const auto bytes = e.file->bytes(*e.info);
    auto fail = [&](std::size_t element, const char* what) {
      throw format_error(e.file->path().string() + ": tensor '" + name + "' holds " + what + " at element " +
                         std::to_string(element));
    };
    if (e.info->dtype == io::DType::BF16) {
      for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
        std::uint16_t v;
        std::memcpy(&v, bytes.data() + i, 2);
        if ((v & 0x7f80u) == 0x7f80u) fail(i / 2, (v & 0x7fu) ? "NaN" : "Inf");
      }
    } else if (e.info->dtype == io::DType::U8 && scales.count(name)) {
      for (std::size_t i = 0; i < bytes.size(); ++i)
        if (bytes[i] == std::byte{255}) fail(i, "an MXFP4 scale of 255 (NaN)");
    }
    done += bytes.size();
    if (progress) progress(done, total);
  }
}

}  // namespace gptoss
