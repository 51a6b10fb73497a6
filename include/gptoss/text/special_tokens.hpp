// The special tokens of o200k_harmony: ids 199998..201087 after the 199998 ordinary BPE tokens.
// Named ones are listed; every other id N in the range is <|reserved_N|>.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "gptoss/core/token.hpp"

namespace gptoss::text {

inline constexpr token_id n_ordinary_tokens = 199998;
inline constexpr token_id first_special_token = n_ordinary_tokens;
inline constexpr token_id o200k_harmony_vocab_size = 201088;

struct NamedSpecial {
  token_id id;
  std::string_view text;
};

inline constexpr NamedSpecial named_special_tokens[] = {
    {199998, "<|startoftext|>"}, {199999, "<|endoftext|>"}, {200002, "<|return|>"},
    {200003, "<|constrain|>"},   {200005, "<|channel|>"},   {200006, "<|start|>"},
    {200007, "<|end|>"},         {200008, "<|message|>"},   {200012, "<|call|>"},
    {200018, "<|endofprompt|>"},  // openai/harmony calls it <|reserved_200018|>; both are accepted
};

// The text of special token id (first_special_token <= id < o200k_harmony_vocab_size).
inline std::string special_token_text(token_id id) {
  for (const auto& s : named_special_tokens)
    if (s.id == id) return std::string(s.text);
  return "<|reserved_" + std::to_string(id) + "|>";
}

}  // namespace gptoss::text
