// Test helpers: the tiny fixture's golden tensors (computed by the reference implementation) and
// comparisons against them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/compare.hpp"
#include "gptoss/core/token.hpp"
#include "gptoss/io/safetensors.hpp"

namespace test {

inline const std::string data_dir = GPTOSS_TEST_DATA;
inline const std::string tiny_dir = data_dir + "/tiny";

class Golden {
 public:
  Golden() : file_(tiny_dir + "/golden.safetensors") {}

  std::vector<float> floats(const std::string& name) const {
    const auto& t = get(name, gptoss::io::DType::F32);
    std::vector<float> v(std::size_t(t.elements()));
    std::memcpy(v.data(), file_.bytes(t).data(), v.size() * sizeof(float));
    return v;
  }
  std::vector<gptoss::token_id> tokens(const std::string& name) const {
    const auto& t = get(name, gptoss::io::DType::I32);
    std::vector<std::int32_t> raw(std::size_t(t.elements()));
    std::memcpy(raw.data(), file_.bytes(t).data(), raw.size() * sizeof(std::int32_t));
    return {raw.begin(), raw.end()};
  }
  std::vector<std::int64_t> shape(const std::string& name) const { return file_.find(name)->shape; }

 private:
  const gptoss::io::TensorInfo& get(const std::string& name, gptoss::io::DType dtype) const {
    const auto* t = file_.find(name);
    if (!t || t->dtype != dtype) throw std::runtime_error("golden tensor missing or of another dtype: " + name);
    return *t;
  }
  gptoss::io::SafetensorsFile file_;
};

// The fixture README's tolerance for float32 code: 1e-4 of the row's largest |logit|.
inline constexpr double logits_tolerance = 1e-4;

}  // namespace test
