// Incremental decoding for streaming output: a token may end in the middle of a multi-byte
// character, so the decoder holds back an incomplete trailing sequence until the next token
// completes it, and only ever returns valid UTF-8 (bytes that cannot become valid are U+FFFD).
#pragma once
#include <string>

#include "gptoss/text/tokenizer.hpp"
#include "gptoss/text/utf8.hpp"

namespace gptoss::text {

class StreamDecoder {
 public:
  // The tokenizer must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // The text completed by this token (possibly empty). Throws input_error for an unknown id,
  // leaving the decoder as it was.
  std::string feed(token_id id) {
    pending_ += tokenizer_->token_bytes(id);
    const std::size_t keep = utf8::incomplete_tail(pending_);
    std::string out = utf8::replace_invalid(std::string_view(pending_).substr(0, pending_.size() - keep));
    pending_.erase(0, pending_.size() - keep);
    return out;
  }

  // What is still held back, with U+FFFD for an unfinished sequence; resets the decoder.
  std::string finish() {
    std::string out = utf8::replace_invalid(pending_);
    pending_.clear();
    return out;
  }

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;  // at most 3 bytes between calls
};

}  // namespace gptoss::text
