// Reading the ordinary (BPE) tokens of o200k from either file users have:
//  * o200k_base.tiktoken: one line per token, `base64(bytes) SPACE rank`;
//  * the Hugging Face tokenizer.json next to the gpt-oss weights: model.vocab maps GPT-2
//    byte-level strings to ids (= ranks); its merges are implied by the ranks and not read.
// Both must give exactly the ranks 0..199997; malformed files throw format_error.
#pragma once
#include <array>
#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/core/error.hpp"
#include "gptoss/text/bpe.hpp"
#include "gptoss/text/special_tokens.hpp"
#include "gptoss/text/utf8.hpp"

namespace gptoss::text {

namespace detail {

// Collects (rank, bytes) pairs and checks that they are exactly the ranks 0..n_ordinary-1.
class RankCollector {
 public:
  explicit RankCollector(std::string name) : name_(std::move(name)), spans_(n_ordinary_tokens, unset) {}

  std::string& pool() { return pool_; }

  // The token's bytes were just appended to pool() from `offset` on. where() says where the
  // token is in the file, for the error message (built only on error).
  template <class Where>
  void add(std::uint64_t rank, std::size_t offset, Where&& where) {
    if (rank >= n_ordinary_tokens)
      throw format_error(name_ + ": " + where() + ": rank " + std::to_string(rank) + " is outside 0.." +
                         std::to_string(n_ordinary_tokens - 1));
    if (spans_[rank].offset != unset.offset)
      throw format_error(name_ + ": " + where() + ": rank " + std::to_string(rank) + " appears twice");
    spans_[rank] = {static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(pool_.size() - offset)};
    ++count_;
  }

  BpeRanks finish() {
    if (count_ != n_ordinary_tokens) {
      std::size_t missing = 0;
      while (spans_[missing].offset != unset.offset) ++missing;
      throw format_error(name_ + ": has " + std::to_string(count_) + " of the " +
                         std::to_string(n_ordinary_tokens) + " o200k tokens (rank " + std::to_string(missing) +
                         " is missing); is the file truncated?");
    }
    try {
      return BpeRanks(std::move(pool_), std::move(spans_));
    } catch (const format_error& e) {
      throw format_error(name_ + ": " + e.what());
    }
  }

 private:
  static constexpr BpeRanks::Span unset{0xFFFFFFFFu, 0};
  std::string name_;
  std::string pool_;
  std::vector<BpeRanks::Span> spans_;
  std::size_t count_ = 0;
};

// Appends the decoded base64 text to out; false if it is not canonical padded base64.
inline bool decode_base64(std::string_view in, std::string& out) {
  static const auto table = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return t;
  }();
  if (in.empty() || in.size() % 4 != 0) return false;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int pad = 0;
    if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      int d = k >= 4 - pad ? 0 : table[static_cast<unsigned char>(in[i + k])];
      if (d < 0) return false;
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>(v >> 8);
    if (pad < 1) out += static_cast<char>(v);
  }
  return true;
}

// GPT-2's byte-level alphabet: byte b is written as the code point byte_to_cp[b].
inline const std::array<char32_t, 256>& gpt2_byte_to_cp() {
  static const auto table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

// Appends the bytes a GPT-2 byte-level string stands for; false if it has another character.
inline bool decode_gpt2_bytes(std::string_view s, std::string& out) {
  static const auto inverse = [] {
    std::array<std::int16_t, 324> t{};
    t.fill(-1);
    const auto& fwd = gpt2_byte_to_cp();
    for (int b = 0; b < 256; ++b) t[fwd[b]] = static_cast<std::int16_t>(b);
    return t;
  }();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    utf8::Decoded d = utf8::decode(p, end);
    if (!d.valid || d.cp >= inverse.size() || inverse[d.cp] < 0) return false;
    out += static_cast<char>(inverse[d.cp]);
    p += d.len;
  }
  return !s.empty();
}

inline std::string describe_bytes(std::string_view s) {
  std::string shown(s.substr(0, 40));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  return "'" + shown + (s.size() > 40 ? "...'" : "'");
}

// SAX reader for tokenizer.json: keeps model.vocab and added_tokens, skips the rest (notably the
// 446k merges) without building a DOM.
class TokenizerJsonReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit TokenizerJsonReader(const std::string& name) : name_(name), ranks_(name) {}

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t v) override {
    if (v < 0) return bad("a negative id");
    return number(static_cast<std::uint64_t>(v));
  }
  bool number_unsigned(number_unsigned_t v) override { return number(v); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool string(string_t& s) override {
    if (in(Where::model) && key_ == "type") model_type_ = s;
    if (in(Where::added_token) && key_ == "content") added_content_ = s;
    if (in(Where::vocab)) return bad("a vocab value that is not an id");
    return value();
  }
  bool start_object(std::size_t) override {
    Where w = Where::other;
    if (stack_.empty()) w = Where::top;
    else if (in(Where::top) && key_ == "model") w = Where::model;
    else if (in(Where::model) && key_ == "vocab") w = Where::vocab;
    else if (in(Where::added_tokens)) w = Where::added_token;
    if (w == Where::added_token) added_id_ = -1, added_content_.reset();
    if (w == Where::vocab) saw_vocab_ = true;
    stack_.push_back(w);
    return true;
  }
  bool key(string_t& k) override {
    if (in(Where::vocab)) {
      // The id arrives next; decode the bytes now so the string is not kept around.
      vocab_offset_ = ranks_.pool().size();
      if (!decode_gpt2_bytes(k, ranks_.pool()))
        return bad("vocab entry " + describe_bytes(k) + " is not a GPT-2 byte-level string");
      return true;  // the vocab's keys are not needed after this
    }
    key_ = k;
    return true;
  }
  bool end_object() override {
    if (in(Where::added_token)) {
      if (added_id_ < 0 || !added_content_) return bad("an added token without id or content");
      added_.push_back({static_cast<token_id>(added_id_), *added_content_});
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    stack_.push_back(in(Where::top) && key_ == "added_tokens" ? Where::added_tokens : Where::other);
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return bad(std::string("malformed JSON: ") + e.what());
  }

  // The ordinary tokens, after checking the added tokens against the o200k_harmony table.
  BpeRanks finish() {
    if (!error_.empty()) throw format_error(error_);
    if (!model_type_.empty() && model_type_ != "BPE")
      throw format_error(name_ + ": model.type is '" + model_type_ + "', not a BPE tokenizer");
    if (!saw_vocab_) throw format_error(name_ + ": no model.vocab object; not a Hugging Face tokenizer.json");
    for (const auto& [id, text] : added_) {
      const bool known = id >= first_special_token && id < o200k_harmony_vocab_size &&
                         (text == special_token_text(id) || (id == 200018 && text == "<|reserved_200018|>"));
      if (!known)
        throw format_error(name_ + ": added token " + std::to_string(id) + " '" + text +
                           "' is not the o200k_harmony special token with that id");
    }
    return ranks_.finish();
  }

 private:
  enum class Where { top, model, vocab, added_tokens, added_token, other };
  bool in(Where w) const { return !stack_.empty() && stack_.back() == w; }

  bool number(std::uint64_t v) {
    if (in(Where::vocab)) {
      try {
        ranks_.add(v, vocab_offset_, [&] {
          return "vocab entry for the bytes " + describe_bytes(std::string_view(ranks_.pool()).substr(vocab_offset_));
        });
      } catch (const format_error& e) {
        error_ = e.what();  // already names the file
        return false;
      }
      return true;
    }
    if (in(Where::added_token) && key_ == "id") added_id_ = static_cast<std::int64_t>(std::min<std::uint64_t>(v, 1ull << 40));
    return true;
  }
  bool value() {
    if (in(Where::vocab)) return bad("a vocab value that is not an id");
    return true;
  }
  bool bad(const std::string& message) {
    error_ = name_ + ": " + message;
    return false;
  }

  std::string name_;
  RankCollector ranks_;
  std::vector<Where> stack_;
  std::string key_;
  std::size_t vocab_offset_ = 0;
  bool saw_vocab_ = false;
  std::string model_type_;
  std::int64_t added_id_ = -1;
  std::optional<std::string> added_content_;
  std::vector<std::pair<token_id, std::string>> added_;
  std::string error_;
};

}  // namespace detail

// Ranks from the text of an o200k_base.tiktoken file; `name` is used in error messages.
inline BpeRanks parse_tiktoken(std::string_view text, const std::string& name) {
  detail::RankCollector ranks(name);
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto where = [&] { return "line " + std::to_string(line_no); };
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos)
      throw format_error(name + ": " + where() + ": expected 'base64 rank', got " + detail::describe_bytes(line));
    std::string_view digits = line.substr(space + 1);
    std::uint64_t rank = 0;
    bool ok = !digits.empty() && digits.size() <= 9;
    for (char c : digits) {
      ok = ok && c >= '0' && c <= '9';
      rank = rank * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!ok) throw format_error(name + ": " + where() + ": bad rank " + detail::describe_bytes(digits));
    const std::size_t offset = ranks.pool().size();
    if (!detail::decode_base64(line.substr(0, space), ranks.pool()))
      throw format_error(name + ": " + where() + ": bad base64 " + detail::describe_bytes(line.substr(0, space)));
    ranks.add(rank, offset, where);
  }
  if (line_no == 0) throw format_error(name + ": empty vocabulary file");
  return ranks.finish();
}

// Ranks from the text of a Hugging Face tokenizer.json.
inline BpeRanks parse_tokenizer_json(std::string_view text, const std::string& name) {
  detail::TokenizerJsonReader reader(name);
  nlohmann::json::sax_parse(text.begin(), text.end(), &reader);
  return reader.finish();
}

inline std::string read_file(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw io_error("cannot open " + path.string());
  std::string data;
  char buffer[1 << 16];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) data.append(buffer, got);
  if (std::ferror(f.get())) throw io_error("cannot read " + path.string());
  return data;
}

// Ranks from either file, told apart by content: tokenizer.json is a JSON object, a .tiktoken
// line starts with base64.
inline BpeRanks load_bpe_ranks(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path)) throw io_error(path.string() + " is a directory, not a vocabulary file");
  // Opening a FIFO would wait for a writer forever.
  if (std::filesystem::exists(path) && !std::filesystem::is_regular_file(path))
    throw io_error(path.string() + " is not a regular file");
  const std::string data = read_file(path);
  const std::string name = path.string();
  const std::size_t first = data.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw format_error(name + ": empty vocabulary file");
  if (data[first] == '{' || path.extension() == ".json") return parse_tokenizer_json(data, name);
  return parse_tiktoken(data, name);
}

}  // namespace gptoss::text
