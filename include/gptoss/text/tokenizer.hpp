// The o200k_harmony tokenizer of gpt-oss: o200k BPE (tiktoken semantics) plus the Harmony special
// tokens 199998..201087. Input bytes that are not UTF-8 are first replaced with U+FFFD (maximal
// subpart rule), as tiktoken's string APIs see them.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gptoss/core/error.hpp"
#include "gptoss/core/token.hpp"
#include "gptoss/text/bpe.hpp"
#include "gptoss/text/pretokenize.hpp"
#include "gptoss/text/special_tokens.hpp"
#include "gptoss/text/utf8.hpp"
#include "gptoss/text/vocab_file.hpp"

namespace gptoss::text {

class Tokenizer {
 public:
  // How special-token text that is not in the allowed list is treated.
  enum class Disallowed { plain, error };

  explicit Tokenizer(BpeRanks ranks) : ranks_(std::move(ranks)) {
    for (token_id id = first_special_token; id < o200k_harmony_vocab_size; ++id)
      special_text_.push_back(special_token_text(id));
    for (token_id id = first_special_token; id < o200k_harmony_vocab_size; ++id)
      special_ids_.emplace(special_text_[id - first_special_token], id);
    special_ids_.emplace("<|reserved_200018|>", 200018);
  }

  // Loads tokenizer.json or o200k_base.tiktoken (told apart by content).
  static Tokenizer from_file(const std::filesystem::path& path) { return Tokenizer(load_bpe_ranks(path)); }

  // The first of: the file $GPTOSS_VOCAB; o200k_base.tiktoken in the data directory
  // GPTOSS_VOCAB_DIR (a compile definition, if set); in <prefix>/share/gptoss next to an installed
  // program (<exe dir>/../share/gptoss) or next to the installed headers. Throws io_error listing
  // the places it looked.
  static Tokenizer load_default() {
    if (const char* env = std::getenv("GPTOSS_VOCAB"); env && *env) return from_file(env);
    std::vector<std::filesystem::path> candidates;
#ifdef GPTOSS_VOCAB_DIR
    candidates.push_back(std::filesystem::path(GPTOSS_VOCAB_DIR) / "o200k_base.tiktoken");
#endif
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share/gptoss/o200k_base.tiktoken");
    // Installed, this header is <prefix>/include/gptoss/text/tokenizer.hpp (usable only when the
    // compiler saw it by an absolute path).
    if (const std::filesystem::path header(__FILE__); header.is_absolute())
      candidates.push_back(header.parent_path().parent_path().parent_path().parent_path() / "share/gptoss/o200k_base.tiktoken");
    std::string tried;
    for (const auto& c : candidates) {
      if (std::filesystem::is_regular_file(c, ec)) return from_file(c);
      tried += (tried.empty() ? "" : ", ") + c.string();
    }
    throw io_error("no vocabulary file found: set GPTOSS_VOCAB to o200k_base.tiktoken or tokenizer.json (looked in " +
                   tried + ")");
  }

  // Every byte is ordinary text: special-token text is encoded like any other.
  std::vector<token_id> encode_ordinary(std::string_view bytes) const {
    std::vector<token_id> out;
    out.reserve(bytes.size() / 3 + 4);
    with_valid_utf8(bytes, [&](std::string_view text) { encode_text(text, out); });
    return out;
  }

  // The special tokens whose text is in `allowed` become their ids; other special-token text is
  // plain text or, with Disallowed::error, an input_error naming it. As in tiktoken, a string in
  // `allowed` that is not a special token matches nothing.
  std::vector<token_id> encode(std::string_view bytes, const std::vector<std::string>& allowed,
                               Disallowed on_disallowed) const {
    std::vector<bool> is_allowed(special_text_.size(), false);
    for (const auto& s : allowed)
      if (auto it = special_ids_.find(s); it != special_ids_.end()) is_allowed[it->second - first_special_token] = true;
    return encode_specials(bytes, is_allowed, on_disallowed);
  }

  std::vector<token_id> encode_with_all_specials(std::string_view bytes) const {
    return encode_specials(bytes, std::vector<bool>(special_text_.size(), true), Disallowed::plain);
  }

  // The bytes of the tokens (special tokens: their text). Throws input_error for an id outside
  // the vocabulary.
  std::string decode(std::span<const token_id> ids) const {
    std::string out;
    for (token_id id : ids) out += token_bytes(id);
    return out;
  }

  std::string_view token_bytes(token_id id) const {
    if (id < ranks_.size()) return ranks_.bytes(id);
    if (is_special(id)) return special_text_[id - first_special_token];
    throw input_error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                      std::to_string(o200k_harmony_vocab_size - 1) + ")");
  }

  // The id of a special token's text; throws input_error if it is none.
  token_id special(std::string_view text) const {
    if (auto it = special_ids_.find(std::string(text)); it != special_ids_.end()) return it->second;
    throw input_error("'" + std::string(text) + "' is not a special token");
  }

  bool is_special(token_id id) const { return id >= first_special_token && id < o200k_harmony_vocab_size; }

  std::size_t vocab_size() const { return o200k_harmony_vocab_size; }

  // The BPE rank table (ids 0..199997), for tools and tests.
  const BpeRanks& ranks() const { return ranks_; }

 private:
  template <class F>
  static void with_valid_utf8(std::string_view bytes, F&& f) {
    if (utf8::is_valid(bytes)) {
      f(bytes);
    } else {
      f(std::string_view(utf8::replace_invalid(bytes)));
    }
  }

  void encode_text(std::string_view text, std::vector<token_id>& out) const {
    for_each_piece(text, [&](std::string_view piece) { ranks_.encode(piece, out); });
  }

  // Special tokens all look like <|name|> with no '|' in the name, so a candidate is found by
  // "<|" and the next "|>", and at most one special token can start at a position.
  std::vector<token_id> encode_specials(std::string_view bytes, const std::vector<bool>& is_allowed,
                                        Disallowed on_disallowed) const {
    std::vector<token_id> out;
    out.reserve(bytes.size() / 3 + 4);
    with_valid_utf8(bytes, [&](std::string_view text) {
      std::size_t done = 0;  // text before this is encoded
      for (std::size_t pos = text.find("<|"); pos != std::string_view::npos; pos = text.find("<|", pos + 1)) {
        const std::size_t close = text.find("|>", pos + 2);
        if (close == std::string_view::npos) break;
        if (close - pos > max_special_length) continue;
        auto it = special_ids_.find(std::string(text.substr(pos, close + 2 - pos)));
        if (it == special_ids_.end()) continue;
        if (!is_allowed[it->second - first_special_token]) {
          if (on_disallowed == Disallowed::error)
            throw input_error("the text contains the special token " + it->first + ", which is not allowed here");
          continue;
        }
        encode_text(text.substr(done, pos - done), out);
        out.push_back(it->second);
        done = close + 2;
        pos = close + 1;
      }
      encode_text(text.substr(done), out);
    });
    return out;
  }

  static constexpr std::size_t max_special_length = 32;

  BpeRanks ranks_;
  std::vector<std::string> special_text_;  // by id - first_special_token
  std::unordered_map<std::string, token_id> special_ids_;
};

}  // namespace gptoss::text
