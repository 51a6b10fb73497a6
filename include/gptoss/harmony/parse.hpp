// Parsing model output in the Harmony format: a streaming parser fed one token at a time (what a
// chat loop uses to show text as it is sampled) and parse_completion() for a finished sequence.
//
// Behaviour follows the reference library (spec section 7), including how it recovers from a
// header without <|message|> in non-strict mode and how it turns broken UTF-8 into U+FFFD.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gptoss/harmony/message.hpp"
#include "gptoss/text/tokenizer.hpp"
#include "gptoss/text/utf8.hpp"

namespace gptoss::harmony {

namespace detail {

// Unicode White_Space, which is what the reference's trim() and channel-name scan use.
inline bool is_unicode_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

inline std::string_view trim(std::string_view s) {
  std::size_t begin = 0, end = 0;
  bool any = false;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t at = i;
    if (!is_unicode_space(text::utf8::next(s, i))) {
      if (!any) begin = at;
      any = true;
      end = i;
    }
  }
  return any ? s.substr(begin, end - begin) : std::string_view();
}

// Header words are split on ASCII whitespace only (space, \t, \n, \f, \r; not \v).
inline std::vector<std::string> split_ascii_whitespace(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; };
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

inline std::string join_words(std::span<const std::string> words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// A parsed header, plus the words no header field took (the content of a recovered message).
struct ParsedHeader {
  Message fields;  // role, name, recipient, channel, content_type; no content
  std::vector<std::string> rest;
};

// Spec 7.2. With `fields_from_words` false (recovering a header that never got <|message|>),
// only the channel and role are taken and all other words are left in `rest`.
inline ParsedHeader parse_header(std::string text, std::optional<Role> role, bool fields_from_words) {
  ParsedHeader h;
  constexpr std::string_view channel_marker = "<|channel|>", constrain_marker = "<|constrain|>";
  if (std::size_t at = text.find(channel_marker); at != std::string::npos) {
    // The name runs up to whitespace or the next marker.
    std::size_t begin = at + channel_marker.size(), end = begin;
    while (end < text.size()) {
      std::size_t next = end;
      char32_t c = text::utf8::next(text, next);
      if (is_unicode_space(c) || c == U'<') break;
      end = next;
    }
    if (end == begin) throw harmony_error(ErrorKind::empty_channel, "<|channel|> without a channel name");
    h.fields.channel = text.substr(begin, end - begin);
    text = text.substr(0, at) + text.substr(end);
  }
  text = std::string(trim(text));
  // "to=x<|constrain|>json" must split into two words.
  if (text.find(constrain_marker) != std::string::npos) {
    std::string spaced;
    for (std::size_t i = 0; i < text.size();) {
      if (text.compare(i, constrain_marker.size(), constrain_marker) == 0) {
        spaced += " ";
        spaced += constrain_marker;
        i += constrain_marker.size();
      } else {
        spaced += text[i++];
      }
    }
    text = std::string(trim(spaced));
  }
  std::vector<std::string> words = split_ascii_whitespace(text);
  std::size_t first = 0;  // words[first..] are still unused
  if (role) {
    h.fields.role = *role;
  } else {
    if (words.empty()) throw harmony_error(ErrorKind::header_without_role, "message header has no role");
    if (auto r = role_from_string(words[0])) {
      h.fields.role = *r;
    } else if (words.size() > 1 || words[0].starts_with("to=")) {
      // An unknown author that addresses someone is a tool (`functions.f to=assistant`).
      h.fields.role = Role::tool;
      first = 1;
    } else {
      throw harmony_error(ErrorKind::unknown_role, "unknown role '" + words[0] + "'");
    }
    if (h.fields.role == Role::tool) h.fields.name = words[0];
  }
  if (first < words.size() && words[first] == to_string(h.fields.role)) ++first;
  std::size_t last = words.size();  // words[first..last) are left
  if (fields_from_words && last > first) {
    std::string word = words[--last];
    if (word.starts_with("to=")) {
      h.fields.recipient = word.substr(3);
    } else if (last == first) {
      h.fields.recipient = word;  // a lone word is a recipient, even `<|constrain|>json` (quirk)
    } else {
      h.fields.content_type = word;
      std::string r = words[--last];
      h.fields.recipient = r.starts_with("to=") ? r.substr(3) : r;
    }
  }
  h.rest.assign(words.begin() + static_cast<std::ptrdiff_t>(first), words.begin() + static_cast<std::ptrdiff_t>(last));
  return h;
}

}  // namespace detail

// Parses Harmony output token by token. Typical use while sampling:
//
//   StreamParser p(tok, Role::assistant);   // the prompt ended with <|start|>assistant
//   for each sampled token t: p.push(t); if (p.last_content_delta()) show(*p.last_content_delta());
//   p.finish();                             // end of input; closes an unterminated message
//   p.messages()                            // the completed messages
//
// push()/finish() throw harmony_error on malformed output; messages completed before stay.
class StreamParser {
 public:
  enum class State { expect_start, header, content };

  // `role`: the tokens start inside a header whose role is known (the prompt ended with
  // `<|start|>role`); without it they must start with <|start|>. `strict` = false recovers from a
  // header that runs into a stop token without <|message|>.
  explicit StreamParser(const text::Tokenizer& tok, std::optional<Role> role = std::nullopt, bool strict = true)
      : tok_(&tok), next_role_(role), strict_(strict), state_(role ? State::header : State::expect_start) {}

  void push(token_id t) {
    delta_.reset();
    switch (state_) {
      case State::expect_start:
        if (t != tokens::start)
          throw harmony_error(ErrorKind::expected_start_token,
                              "unexpected token " + std::to_string(t) + " while expecting <|start|>");
        state_ = State::header;
        return;
      case State::header:
        if (t == tokens::message) return begin_content();
        if (!strict_ && tokens::is_stop(t)) return recover_headerless_message();
        header_tokens_.push_back(t);
        return;
      case State::content:
        if (tokens::is_stop(t)) return end_message();
        add_content(t);
        return;
    }
  }

  // End of input. Fine between messages; closes a message whose stop token never came.
  void finish() {
    delta_.reset();
    if (state_ == State::header)
      throw harmony_error(ErrorKind::eos_in_header, "end of input while waiting for the message header to complete");
    if (state_ == State::content) end_message();
  }

  const std::vector<Message>& messages() const { return messages_; }
  State state() const { return state_; }

  // The header of the message being read (only while in its content), or the role given at
  // construction until the first header has been read.
  std::optional<Role> current_role() const { return state_ == State::content ? header_.role : next_role_; }
  std::optional<std::string> current_channel() const { return content_field(&Message::channel); }
  std::optional<std::string> current_recipient() const { return content_field(&Message::recipient); }
  std::optional<std::string> current_content_type() const { return content_field(&Message::content_type); }
  // Author name of the current message (a tool's name), when it has one.
  std::optional<std::string> current_name() const { return content_field(&Message::name); }
  // Text completed by the last token (none for header tokens, stop tokens or unfinished UTF-8).
  const std::optional<std::string>& last_content_delta() const { return delta_; }
  // The current message's content so far ("" outside content).
  const std::string& current_content() const { return content_; }

 private:
  std::optional<std::string> content_field(std::optional<std::string> Message::*field) const {
    return state_ == State::content ? header_.*field : std::nullopt;
  }

  // The header tokens as text; it must be valid UTF-8 and use only ids of the vocabulary.
  std::string header_text(std::span<const token_id> ids) const {
    std::string bytes;
    for (token_id t : ids) {
      if (t >= tok_->vocab_size())
        throw harmony_error(ErrorKind::header_not_utf8, "unknown token id " + std::to_string(t) + " in a header");
      bytes += tok_->token_bytes(t);
    }
    if (!text::utf8::is_valid(bytes))
      throw harmony_error(ErrorKind::header_not_utf8, "message header is not valid UTF-8");
    return bytes;
  }

  void begin_content() {
    state_ = State::expect_start;  // where a failed header leaves the parser
    std::vector<token_id> ids = std::move(header_tokens_);
    header_tokens_.clear();
    auto h = detail::parse_header(header_text(ids), next_role_, true);
    if (!h.rest.empty())
      throw harmony_error(ErrorKind::header_trailing_tokens,
                          "unexpected words left in message header: '" + detail::join_words(h.rest) + "'");
    next_role_.reset();
    header_ = std::move(h.fields);
    state_ = State::content;
  }

  // Non-strict mode, a stop token inside a header: the model skipped <|message|>. For the first
  // message of a parse that began with a known role, the header words become the content
  // (`<|channel|>analysis I must refuse<|end|>`); any other such message is dropped.
  void recover_headerless_message() {
    state_ = State::expect_start;
    std::vector<token_id> ids = std::move(header_tokens_);
    header_tokens_.clear();
    std::optional<Role> role = std::exchange(next_role_, std::nullopt);
    if (!role || ids.empty()) return;
    auto h = detail::parse_header(header_text(ids), role, false);
    h.fields.content = {detail::join_words(h.rest)};
    messages_.push_back(std::move(h.fields));
  }

  // Content bytes are emitted as soon as they form whole UTF-8 characters. Like the reference,
  // one token resolves at most one invalid sequence (as U+FFFD); later bytes wait for the next
  // token or the end of the message.
  void add_content(token_id t) {
    if (t >= tok_->vocab_size()) saw_unknown_ = true;
    if (saw_unknown_) return;  // the reference cannot decode past an unknown id: see end_message
    pending_ += tok_->token_bytes(t);
    const text::utf8::Check c = text::utf8::check(pending_);
    std::string delta = pending_.substr(0, c.valid_up_to);
    std::size_t consumed = c.valid_up_to;
    if (!c.valid && c.error_len > 0) {
      delta += text::utf8::replacement_character;
      consumed += c.error_len;
    }
    pending_.erase(0, consumed);
    if (!delta.empty()) {
      content_ += delta;
      delta_ = std::move(delta);
    }
  }

  void end_message() {
    std::string text = std::move(content_);
    if (saw_unknown_) text += text::utf8::replacement_character;  // everything from the unknown id on
    text += text::utf8::replace_invalid(pending_);
    Message m = std::move(header_);
    m.content = {std::move(text)};
    messages_.push_back(std::move(m));
    header_ = Message{};
    content_.clear();
    pending_.clear();
    saw_unknown_ = false;
    state_ = State::expect_start;
  }

  const text::Tokenizer* tok_;
  std::optional<Role> next_role_;  // the role given at construction, until the first header
  bool strict_;
  State state_;
  std::vector<token_id> header_tokens_;
  Message header_;       // the current message's header fields (in content)
  std::string content_;  // its text so far
  std::string pending_;  // bytes of an unfinished (or not yet resolved) UTF-8 sequence
  bool saw_unknown_ = false;
  std::optional<std::string> delta_;
  std::vector<Message> messages_;
};

// Parses a finished token sequence (then signals end of input, so a message without a stop token
// is still returned). `role` and `strict` as for StreamParser.
inline std::vector<Message> parse_completion(const text::Tokenizer& tok, std::span<const token_id> ids,
                                             std::optional<Role> role = std::nullopt, bool strict = true) {
  StreamParser p(tok, role, strict);
  for (token_id t : ids) p.push(t);
  p.finish();
  return p.messages();
}

}  // namespace gptoss::harmony
