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

// Table 3-7 of the Unicode standard: what a lead byte starts. `more` continuation bytes follow, the
// first in [lo, hi] (narrower after E0, ED, F0 and F4: no overlong forms, no surrogates, nothing
// above U+10FFFF), the others in [80, BF]. ASCII has more == 0; a byte that starts nothing (80-C1,
// F5-FF) is not `valid`.
struct Lead {
  std::uint8_t more;
  unsigned char lo, hi;
  bool valid;
};
constexpr Lead lead(unsigned char b) {
  if (b < 0x80) return {0, 0x80, 0xBF, true};
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF, true};
  if (b >= 0xE0 && b <= 0xEF) return {2, (unsigned char)(b == 0xE0 ? 0xA0 : 0x80), (unsigned char)(b == 0xED ? 0x9F : 0xBF), true};
  if (b >= 0xF0 && b <= 0xF4) return {3, (unsigned char)(b == 0xF0 ? 0x90 : 0x80), (unsigned char)(b == 0xF4 ? 0x8F : 0xBF), true};
  return {0, 0, 0, false};
}

// Decodes the sequence at p (p < end).
inline Decoded decode(const unsigned char* p, const unsigned char* end) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1, true};
  const Lead l = lead(b0);
  if (!l.valid) return {0xFFFD, 1, false};
  const std::size_t need = l.more + 1u;
  char32_t cp = b0 & (0x7F >> need);  // the lead's payload bits
  unsigned char lo = l.lo, hi = l.hi;
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

// The code point at s[i] (U+FFFD where the bytes there are not one); advances i past it.
inline char32_t next(std::string_view s, std::size_t& i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const Decoded d = decode(p + i, p + s.size());
  i += d.len;
  return d.cp;
}

// Where validation of s stops, as Rust's Utf8Error reports it: the valid prefix's length and the
// length of the ill-formed sequence there (its maximal subpart); error_len == 0 means s ends inside
// a character that more bytes may still complete.
struct Check {
  bool valid;
  std::size_t valid_up_to;
  std::size_t error_len;
};
inline Check check(std::string_view s) {
  const std::size_t ok = valid_prefix(s);
  if (ok == s.size()) return {true, ok, 0};
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + ok;
  const auto* end = reinterpret_cast<const unsigned char*>(s.data()) + s.size();
  const Decoded d = decode(p, end);
  const bool unfinished = p + d.len == end && lead(*p).valid;
  return {false, ok, unfinished ? 0 : std::size_t(d.len)};
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
    return (!d.valid && d.len == k && lead(*p).valid) ? k : 0;
  }
  return 0;
}

}  // namespace gptoss::text::utf8
