// Unicode character classes for the o200k pre-tokenizer, looked up through a two-level table
// built once from the generated run list (compact in the source, one or two loads at run time).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "gptoss/text/unicode_tables.hpp"

namespace gptoss::text {

using unicode::CharClass;

namespace detail {

class CharClassTable {
 public:
  CharClassTable() {
    // Expand the runs into 256-code-point blocks, sharing identical blocks (most of the code space).
    constexpr std::size_t n_runs = std::size(unicode::class_runs);
    std::array<std::uint8_t, 256> block{};
    std::size_t run = 0;
    for (std::uint32_t hi = 0; hi < 0x110000 / 256; ++hi) {
      for (std::uint32_t lo = 0; lo < 256; ++lo) {
        std::uint32_t cp = hi * 256 + lo;
        while (run + 1 < n_runs && (unicode::class_runs[run + 1] >> 3) <= cp) ++run;
        block[lo] = static_cast<std::uint8_t>(unicode::class_runs[run] & 7);
      }
      std::size_t found = blocks_.size() / 256;
      for (std::size_t b = 0; b * 256 < blocks_.size(); ++b)
        if (std::equal(block.begin(), block.end(), blocks_.begin() + b * 256)) {
          found = b;
          break;
        }
      if (found == blocks_.size() / 256) blocks_.insert(blocks_.end(), block.begin(), block.end());
      index_[hi] = static_cast<std::uint16_t>(found);
    }
  }
  CharClass operator()(char32_t cp) const {
    if (cp >= 0x110000) return CharClass::other;
    return static_cast<CharClass>(blocks_[index_[cp >> 8] * 256u + (cp & 255u)]);
  }

 private:
  std::array<std::uint16_t, 0x110000 / 256> index_{};
  std::vector<std::uint8_t> blocks_;
};

inline const CharClassTable& char_class_table() {
  static const CharClassTable table;
  return table;
}

}  // namespace detail

inline CharClass char_class(char32_t cp) { return detail::char_class_table()(cp); }

}  // namespace gptoss::text
