// What the constraint engine precomputes once per vocabulary: the ordinary tokens sorted by their
// bytes with the length of the prefix each shares with the one before (so a walk over all tokens
// reuses the automaton states of shared prefixes and skips every token under a dead prefix at
// once), and which tokens are plain JSON string content (whole UTF-8 characters, no '"', '\\' or
// control bytes) with their character counts, for the fast path inside strings.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <span>
#include <string_view>
#include <vector>

#include "gptoss/text/tokenizer.hpp"
#include "gptoss/text/utf8.hpp"

namespace gptoss::constrain {

// A set of token ids as a bitmap over the vocabulary.
class TokenMask {
 public:
  explicit TokenMask(std::size_t n = 0) : n_(n), words_((n + 63) / 64) {}
  std::size_t size() const { return n_; }
  void clear() { std::fill(words_.begin(), words_.end(), 0); }
  void set(token_id t) { words_[t >> 6] |= std::uint64_t(1) << (t & 63); }
  bool test(token_id t) const { return t < n_ && (words_[t >> 6] >> (t & 63) & 1); }
  // Sets ids [0, n): the ordinary tokens.
  void set_prefix(std::size_t n) {
    std::size_t full = n / 64;
    std::fill(words_.begin(), words_.begin() + std::ptrdiff_t(full), ~std::uint64_t(0));
    if (n % 64) words_[full] |= (std::uint64_t(1) << (n % 64)) - 1;
  }
  std::size_t count() const {
    std::size_t c = 0;
    for (auto w : words_) c += std::size_t(__builtin_popcountll(w));
    return c;
  }
  std::span<std::uint64_t> words() { return words_; }
  std::span<const std::uint64_t> words() const { return words_; }

 private:
  std::size_t n_;
  std::vector<std::uint64_t> words_;
};

class TokenTable {
 public:
  struct Sorted {
    std::vector<token_id> ids;      // by bytes
    std::vector<std::uint16_t> lcp;  // prefix shared with the previous entry
  };

  explicit TokenTable(const text::Tokenizer& tok) : n_ordinary_(tok.ranks().size()), vocab_(tok.vocab_size()) {
    bytes_.resize(n_ordinary_);
    plain_.resize(n_ordinary_);
    chars_.resize(n_ordinary_);
    std::vector<token_id> others;
    for (token_id t = 0; t < n_ordinary_; ++t) {
      bytes_[t] = tok.token_bytes(t);
      max_len_ = std::max(max_len_, bytes_[t].size());
      std::uint32_t chars = 0;
      plain_[t] = plain_chars(bytes_[t], chars);
      chars_[t] = std::uint16_t(std::min<std::uint32_t>(chars, 0xFFFF));
      if (!plain_[t]) others.push_back(t);
    }
    std::vector<token_id> all(n_ordinary_);
    std::iota(all.begin(), all.end(), 0);
    all_ = sorted(std::move(all));
    non_plain_ = sorted(std::move(others));
  }

  // The table of a tokenizer, built on first use and kept (tokenizers live as long as programs).
  static std::shared_ptr<const TokenTable> of(const text::Tokenizer& tok) {
    static std::mutex m;
    static std::map<const text::Tokenizer*, std::shared_ptr<const TokenTable>> cache;
    std::lock_guard lock(m);
    auto& slot = cache[&tok];
    if (!slot) slot = std::make_shared<const TokenTable>(tok);
    return slot;
  }

  std::size_t vocab_size() const { return vocab_; }
  std::size_t n_ordinary() const { return n_ordinary_; }
  std::size_t max_token_bytes() const { return max_len_; }
  std::string_view bytes(token_id t) const { return bytes_[t]; }
  bool plain(token_id t) const { return plain_[t]; }
  std::uint32_t chars(token_id t) const { return chars_[t]; }
  const Sorted& all() const { return all_; }
  const Sorted& non_plain() const { return non_plain_; }

  // Whether bytes are whole UTF-8 characters a JSON string holds raw; counts the characters.
  static bool plain_chars(std::string_view s, std::uint32_t& chars) {
    chars = 0;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
      if (*p < 0x20 || *p == '"' || *p == '\\') return false;
      const text::utf8::Decoded d = text::utf8::decode(p, end);
      if (!d.valid) return false;
      p += d.len, ++chars;
    }
    return true;
  }

 private:
  Sorted sorted(std::vector<token_id> ids) const {
    std::sort(ids.begin(), ids.end(), [&](token_id a, token_id b) { return bytes_[a] < bytes_[b]; });
    Sorted s;
    s.lcp.resize(ids.size());
    for (std::size_t i = 1; i < ids.size(); ++i) {
      std::string_view a = bytes_[ids[i - 1]], b = bytes_[ids[i]];
      std::size_t k = 0;
      while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
      s.lcp[i] = std::uint16_t(std::min<std::size_t>(k, 0xFFFF));
    }
    s.ids = std::move(ids);
    return s;
  }

  std::size_t n_ordinary_, vocab_, max_len_ = 0;
  std::vector<std::string_view> bytes_;  // views into the tokenizer's rank table
  std::vector<bool> plain_;
  std::vector<std::uint16_t> chars_;
  Sorted all_, non_plain_;
};

namespace detail {

// Sets in `mask` every token of `list` whose bytes the matcher accepts from state s0. `states`
// is scratch (one state per byte depth). M: step(const S&, unsigned char, S&) and dead(const S&).
template <class M, class S>
void walk_tokens(const M& m, const S& s0, const TokenTable& table, const TokenTable::Sorted& list, std::vector<S>& states,
                 TokenMask& mask) {
  if (states.size() < table.max_token_bytes() + 1) states.resize(table.max_token_bytes() + 1);
  states[0] = s0;
  std::size_t valid = 0;                  // states[0..valid] hold the previous token's prefixes
  std::size_t dead_at = std::size_t(-1);  // the previous token's prefix of this length is dead
  for (std::size_t i = 0; i < list.ids.size(); ++i) {
    const token_id t = list.ids[i];
    const std::size_t l = i == 0 ? 0 : list.lcp[i];
    if (dead_at <= l) continue;  // shares a dead prefix
    dead_at = std::size_t(-1);
    valid = std::min(valid, l);
    std::string_view b = table.bytes(t);
    std::size_t d = valid;
    bool alive = true;
    while (d < b.size()) {
      m.step(states[d], (unsigned char)b[d], states[d + 1]);
      ++d;
      if (m.dead(states[d])) {
        alive = false;
        dead_at = d;
        break;
      }
    }
    valid = d;
    if (alive) mask.set(t);
  }
}

}  // namespace detail

}  // namespace gptoss::constrain
