// Byte-pair encoding with tiktoken semantics over a rank table: a piece that is itself a token is
// one id; otherwise start from its bytes and repeatedly merge the adjacent pair whose
// concatenation has the lowest rank (the leftmost on ties) until no adjacent pair is a token.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "gptoss/core/error.hpp"
#include "gptoss/core/token.hpp"

namespace gptoss::text {

class BpeRanks {
 public:
  static constexpr std::uint32_t none = 0xFFFFFFFFu;
  static constexpr std::size_t max_token_length = 256;  // o200k's longest token has 128 bytes

  struct Span {
    std::uint32_t offset, length;
  };

  BpeRanks() = default;

  // pool holds the tokens' bytes, spans[r] where rank r's bytes are in it. Throws format_error
  // for an empty or duplicated token or a byte value that is not a token of its own.
  BpeRanks(std::string pool, std::vector<Span> spans) : pool_(std::move(pool)), spans_(std::move(spans)) {
    std::size_t capacity = 1024;
    while (capacity < spans_.size() * 2 + spans_.size() / 2) capacity *= 2;
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(capacity));
    slots_.assign(capacity, Slot{0, 0, none});
    for (std::uint32_t r = 0; r < spans_.size(); ++r) {
      std::string_view t = bytes(r);
      if (t.empty() || t.size() > max_token_length)
        throw format_error("token " + std::to_string(r) + " has " + std::to_string(t.size()) + " bytes (1.." +
                           std::to_string(max_token_length) + " expected)");
      if (std::uint32_t other = rank(t); other != none)
        throw format_error("tokens " + std::to_string(other) + " and " + std::to_string(r) + " have the same bytes");
      const auto* p = reinterpret_cast<const unsigned char*>(t.data());
      std::size_t i = slot_index(hash(p, t.size()));
      while (slots_[i].rank != none) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = Slot{short_key(p, t.size()), static_cast<std::uint32_t>(t.size()), r};
    }
    for (int b = 0; b < 256; ++b) {
      const char c = static_cast<char>(b);
      byte_rank_[b] = rank(std::string_view(&c, 1));
      if (byte_rank_[b] == none) throw format_error("byte " + std::to_string(b) + " is not a token of its own");
    }
    // Every piece's merging starts with byte pairs: look those up directly.
    two_byte_.resize(65536);
    for (int pair = 0; pair < 65536; ++pair) {
      const char b[2] = {static_cast<char>(pair >> 8), static_cast<char>(pair & 255)};
      two_byte_[pair] = rank(std::string_view(b, 2));
    }
  }

  std::size_t size() const { return spans_.size(); }

  std::string_view bytes(std::uint32_t r) const { return {pool_.data() + spans_[r].offset, spans_[r].length}; }

  // The rank of these bytes, or `none`.
  std::uint32_t rank(std::string_view s) const {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    if (slots_.empty()) return none;
    const std::uint64_t key = short_key(p, n);
    for (std::size_t i = slot_index(hash(p, n));; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& slot = slots_[i];
      if (slot.rank == none) return none;
      if (slot.key == key && slot.length == n &&
          (n <= 8 || std::memcmp(pool_.data() + spans_[slot.rank].offset + 8, p + 8, n - 8) == 0))
        return slot.rank;
    }
  }

  // Appends the ids of one pre-tokenized piece.
  void encode(std::string_view piece, std::vector<token_id>& out) const {
    if (piece.empty()) return;
    if (piece.size() == 1) {
      out.push_back(byte_rank_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    if (piece.size() <= max_token_length) {
      if (std::uint32_t r = rank(piece); r != none) {
        out.push_back(r);
        return;
      }
    }
    if (piece.size() <= small_piece) {
      merge_small(piece, out);
    } else {
      merge_large(piece, out);
    }
  }

 private:
  struct Slot {
    std::uint64_t key;  // short_key of the bytes
    std::uint32_t length;
    std::uint32_t rank;  // `none`: empty slot
  };

  static std::uint64_t load64(const unsigned char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static std::uint64_t load32(const unsigned char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  // Up to 8 bytes that, together with the length, identify a string of at most 8 bytes (and
  // are its first 8 bytes when longer). Overlapping loads avoid a byte loop.
  static std::uint64_t short_key(const unsigned char* p, std::size_t n) {
    if (n >= 8) return load64(p);
    if (n >= 4) return load32(p) | (load32(p + n - 4) << 32);
    if (n > 0) return p[0] | (std::uint64_t{p[n / 2]} << 8) | (std::uint64_t{p[n - 1]} << 16);
    return 0;
  }
  static std::uint64_t mix(std::uint64_t h) {
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
  }
  static std::uint64_t hash(const unsigned char* p, std::size_t n) {
    std::uint64_t h = short_key(p, n) ^ (n * 0x9E3779B97F4A7C15ull);
    if (n > 8) {
      std::size_t i = 8;
      for (; i + 8 <= n; i += 8) h = mix(h) ^ load64(p + i);
      if (i < n) h = mix(h) ^ load64(p + n - 8);
    }
    return mix(h) * 0x9E3779B97F4A7C15ull;
  }
  std::size_t slot_index(std::uint64_t h) const { return static_cast<std::size_t>(h >> shift_); }

  std::uint32_t rank_at(std::string_view piece, std::size_t begin, std::size_t end) const {
    if (end - begin == 2)
      return two_byte_[static_cast<unsigned char>(piece[begin]) << 8 | static_cast<unsigned char>(piece[begin + 1])];
    return rank(piece.substr(begin, end - begin));
  }

  // Pieces up to this length merge with a linear scan over fixed arrays (no allocation); longer
  // ones with a heap, so that a huge piece costs O(n log n), not O(n^2).
  static constexpr std::size_t small_piece = 256;

  void merge_small(std::string_view piece, std::vector<token_id>& out) const {
    const std::uint32_t n = static_cast<std::uint32_t>(piece.size());
    // Parts as a linked list indexed by their first byte (no shifting when two parts join).
    std::uint32_t next[small_piece + 1];
    std::uint32_t part[small_piece];  // rank of the part starting here
    std::uint32_t pair[small_piece];  // rank of the part starting here merged with the next one
    for (std::uint32_t i = 0; i < n; ++i) {
      next[i] = i + 1;
      part[i] = byte_rank_[static_cast<unsigned char>(piece[i])];
      pair[i] = i + 1 < n ? rank_at(piece, i, i + 2) : none;
    }
    for (;;) {
      std::uint32_t best = 0, before_best = none;
      for (std::uint32_t prev = none, i = 0; i < n; prev = i, i = next[i])
        if (pair[i] < pair[best]) best = i, before_best = prev;
      if (pair[best] == none) break;
      // The part after best joins it.
      part[best] = pair[best];
      next[best] = next[next[best]];
      pair[best] = next[best] < n ? rank_at(piece, best, next[next[best]]) : none;
      if (before_best != none) pair[before_best] = rank_at(piece, before_best, next[best]);
    }
    for (std::uint32_t i = 0; i < n; i = next[i]) out.push_back(part[i]);
  }

  void merge_large(std::string_view piece, std::vector<token_id>& out) const {
    const std::uint32_t n = static_cast<std::uint32_t>(piece.size());
    // Parts as a linked list indexed by their first byte; next[n] is the end sentinel.
    constexpr std::uint32_t dead = 0xFFFFFFFFu;
    std::vector<std::uint32_t> next(n + 1), prev(n + 1), part(n);
    for (std::uint32_t i = 0; i < n; ++i) part[i] = byte_rank_[static_cast<unsigned char>(piece[i])];
    for (std::uint32_t i = 0; i <= n; ++i) {
      next[i] = i + 1;
      prev[i] = i - 1;  // wraps for 0; never read there
    }
    struct Candidate {
      std::uint32_t rank, left, end;  // merging the parts [left, end) (two of them when pushed)
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto consider = [&](std::uint32_t left) {
      std::uint32_t mid = next[left];
      if (mid >= n) return;
      std::uint32_t end = next[mid];
      if (std::uint32_t r = rank_at(piece, left, end); r != none) heap.push({r, left, end});
    };
    for (std::uint32_t i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
      Candidate c = heap.top();
      heap.pop();
      // Stale when either part has changed since the candidate was pushed.
      if (next[c.left] == dead || next[c.left] >= n || next[next[c.left]] != c.end) continue;
      next[next[c.left]] = dead;
      next[c.left] = c.end;
      part[c.left] = c.rank;
      if (c.end < n) prev[c.end] = c.left;
      if (c.left > 0) consider(prev[c.left]);
      consider(c.left);
    }
    for (std::uint32_t i = 0; i < n; i = next[i]) out.push_back(part[i]);
  }

  std::string pool_;
  std::vector<Span> spans_;
  std::vector<Slot> slots_;
  unsigned shift_ = 64;
  std::uint32_t byte_rank_[256] = {};
  std::vector<std::uint32_t> two_byte_;  // rank of each byte pair (b0 << 8 | b1), or `none`
};

}  // namespace gptoss::text
