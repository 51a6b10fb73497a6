// The o200k pre-tokenizer, hand-written: splits text into the pieces that the regex
//
//   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//   |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//   |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// yields as successive leftmost-first matches. Each alternative's backtracking is resolved in
// closed form (see the comments); the result is exactly the regex's. Input must be UTF-8; bytes
// that are not are treated as one "other" character each, so hostile input cannot derail it.
#pragma once
#include <cstddef>
#include <string_view>
#include <vector>

#include "gptoss/text/char_class.hpp"
#include "gptoss/text/utf8.hpp"

namespace gptoss::text {

namespace detail {

class PieceScanner {
 public:
  using u8 = unsigned char;
  PieceScanner(const u8* end) : end_(end), table_(char_class_table()) {}

  // End of the piece that starts at p (p < end).
  const u8* piece_end(const u8* p) const {
    const Char c = peek(p);
    switch (c.cls) {
      case CharClass::upper:
      case CharClass::lower:
      case CharClass::letter:
        return words(p, c, false);
      case CharClass::number:
        return numbers(p);
      case CharClass::mark:
        return words(p, c, true);
      case CharClass::other:  // never \r or \n, which are spaces
        if (const u8* q = words(p, c, true)) return q;
        return punctuation(p);
      case CharClass::space:
        if (*p != '\r' && *p != '\n') {
          if (const u8* q = words(p, c, true)) return q;
          if (*p == ' ' && p + 1 < end_ && is_punct(peek(p + 1).cls)) return punctuation(p + 1);
        }
        return spaces(p);
    }
    return p + c.len;
  }

 private:
  struct Char {
    CharClass cls;
    std::uint8_t len;
  };

  static bool is_upper_set(CharClass c) {  // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
    return c == CharClass::upper || c == CharClass::letter || c == CharClass::mark;
  }
  static bool is_lower_set(CharClass c) {  // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
    return c == CharClass::lower || c == CharClass::letter || c == CharClass::mark;
  }
  static bool is_punct(CharClass c) {  // [^\s\p{L}\p{N}]
    return c == CharClass::other || c == CharClass::mark;
  }

  Char peek(const u8* p) const {
    if (*p < 0x80) return {table_(*p), 1};
    utf8::Decoded d = utf8::decode(p, end_);
    if (!d.valid) return {CharClass::other, 1};
    return {table_(d.cp), d.len};
  }

  // Alternatives 1 and 2 at p, with `prefix`: p's character may serve as [^\r\n\p{L}\p{N}]?.
  // Returns nullptr when neither matches.
  const u8* words(const u8* p, Char c, bool prefix) const {
    const u8* s = prefix ? p + c.len : p;
    // Scan the run of the upper set, remembering where its last lower-set character ends.
    const u8* q = s;
    const u8* last_lower = nullptr;
    while (q < end_) {
      Char d = peek(q);
      if (!is_upper_set(d.cls)) break;
      q += d.len;
      if (is_lower_set(d.cls)) last_lower = q;
    }
    // Alternative 1: upper* lower+. If a lower-set character follows the run, upper* takes the
    // whole run and lower+ continues; otherwise upper* gives back up to the run's last
    // lower-set character, which lower+ takes.
    if (q < end_ && peek(q).cls == CharClass::lower) {
      while (q < end_) {
        Char d = peek(q);
        if (!is_lower_set(d.cls)) break;
        q += d.len;
      }
      return contraction(q);
    }
    if (last_lower) return contraction(last_lower);
    // Without the prefix a mark at p is itself a lower-set character: alternative 1 matches it.
    if (prefix && c.cls == CharClass::mark) return contraction(p + c.len);
    // Alternative 2: upper+ lower* (lower* is empty here, or alternative 1 would have matched).
    if (q > s) return contraction(q);
    return nullptr;
  }

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)? at p. Unicode case folding also maps U+017F (long s) to s.
  const u8* contraction(const u8* p) const {
    if (p >= end_ || *p != '\'') return p;
    const std::size_t left = static_cast<std::size_t>(end_ - p) - 1;
    auto lower = [](u8 b) { return static_cast<u8>(b | 0x20); };
    if (left >= 1) {
      u8 a = lower(p[1]);
      if (a == 's' || a == 't' || a == 'm' || a == 'd') return p + 2;
    }
    if (left >= 2) {
      u8 a = lower(p[1]), b = lower(p[2]);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return p + 3;
      if (p[1] == 0xC5 && p[2] == 0xBF) return p + 3;
    }
    return p;
  }

  // \p{N}{1,3}
  const u8* numbers(const u8* p) const {
    for (int i = 0; i < 3 && p < end_; ++i) {
      Char d = peek(p);
      if (d.cls != CharClass::number) break;
      p += d.len;
    }
    return p;
  }

  // [^\s\p{L}\p{N}]+[\r\n/]* at p (the optional leading space is already skipped).
  const u8* punctuation(const u8* p) const {
    while (p < end_) {
      Char d = peek(p);
      if (!is_punct(d.cls)) break;
      p += d.len;
    }
    while (p < end_ && (*p == '\r' || *p == '\n' || *p == '/')) ++p;
    return p;
  }

  // \s*[\r\n]+ | \s+(?!\S) | \s+ at p, a whitespace character.
  const u8* spaces(const u8* p) const {
    const u8* q = p;
    const u8* last_start = p;
    const u8* after_newline = nullptr;
    while (q < end_) {
      Char d = peek(q);
      if (d.cls != CharClass::space) break;
      if (*q == '\r' || *q == '\n') after_newline = q + 1;
      last_start = q;
      q += d.len;
    }
    // \s* backtracks to the run's last line break, which [\r\n]+ then takes.
    if (after_newline) return after_newline;
    // (?!\S) fails before a non-space: the run gives back its last character, unless that
    // leaves nothing, and then plain \s+ takes the single character.
    if (q < end_ && last_start > p) return last_start;
    return q;
  }

  const u8* end_;
  const CharClassTable& table_;
};

}  // namespace detail

// Calls on_piece(std::string_view) for each successive piece of text.
template <class F>
void for_each_piece(std::string_view text, F&& on_piece) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  detail::PieceScanner scanner(end);
  while (p < end) {
    const unsigned char* q = scanner.piece_end(p);
    on_piece(std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(q - p)));
    p = q;
  }
}

inline std::vector<std::string_view> split_pieces(std::string_view text) {
  std::vector<std::string_view> pieces;
  for_each_piece(text, [&](std::string_view piece) { pieces.push_back(piece); });
  return pieces;
}

}  // namespace gptoss::text
