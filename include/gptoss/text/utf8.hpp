// UTF-8 decoding with the Unicode "maximal subpart" rule for ill-formed input: each maximal
// prefix of a well-formed sequence that cannot be completed becomes one U+FFFD (the same as
// Python's errors="replace", WHATWG TextDecoder and Rust's from_utf8_lossy).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gptoss::text::utf8 {

inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

struct Decoded {
  char32_t cp;       // the code point, or U+FFFD where invalid
  std::uint8_t len;  // bytes consumed (for invalid input: the maximal subpart, at least 1)
  bool valid;
};

// Decodes the sequence at p (p < end).
inline Decoded decode(const unsigned char* p, const unsigned char* end) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1, true};
  // Table 3-7 of the Unicode standard: the lead byte fixes the length and the range of byte 2.
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  char32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {0xFFFD, 1, false};
  }
  for (std::size_t i = 1; i < need; ++i) {
    if (p + i >= end) return {0xFFFD, static_cast<std::uint8_t>(i), false};
    const unsigned char b = p[i];
    if (b < lo || b > hi) return {0xFFFD, static_cast<std::uint8_t>(i), false};
    cp = (cp << 6) | (b & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  return {cp, static_cast<std::uint8_t>(need), true};
}

inline void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of the longest prefix of s that is valid UTF-8.
inline std::size_t valid_prefix(std::string_view s) {
  const auto* begin = reinterpret_cast<const unsigned char*>(s.data());
  const auto* p = begin;
  const auto* end = begin + s.size();
  while (p < end) {
    // Eight ASCII bytes at a time: the common case.
    while (end - p >= 8) {
      std::uint64_t w;
      __builtin_memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p == end) break;
    if (*p < 0x80) {
      ++p;
      continue;
    }
    Decoded d = decode(p, end);
    if (!d.valid) break;
    p += d.len;
  }
  return static_cast<std::size_t>(p - begin);
}

inline bool is_valid(std::string_view s) { return valid_prefix(s) == s.size(); }

// s with every ill-formed subsequence replaced by U+FFFD.
inline std::string replace_invalid(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  const auto* begin = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = begin + s.size();
  const auto* p = begin;
  while (p < end) {
    std::size_t ok = valid_prefix(std::string_view(reinterpret_cast<const char*>(p), end - p));
    out.append(reinterpret_cast<const char*>(p), ok);
    p += ok;
    if (p == end) break;
    p += decode(p, end).len;
    out += replacement_character;
  }
  return out;
}

// Number of trailing bytes of s that form an incomplete but so far well-formed sequence
// (0..3): what a streaming decoder must hold back until more bytes arrive.
inline std::size_t incomplete_tail(std::string_view s) {
  const std::size_t n = s.size();
  for (std::size_t k = 1; k <= 3 && k <= n; ++k) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + (n - k);
    if ((*p & 0xC0) == 0x80) continue;  // a continuation byte: the lead is further back
    Decoded d = decode(p, p + k);
    // Invalid only because it ran out of bytes: consumed everything there was.
    return (!d.valid && d.len == k && *p >= 0xC2 && *p <= 0xF4) ? k : 0;
  }
  return 0;
}

}  // namespace gptoss::text::utf8
