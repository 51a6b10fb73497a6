// Rendering Harmony conversations to token ids.
//
// Structural tokens (<|start|>, <|channel|>, ...) are emitted as ids; every piece of text (role
// names, recipients, channels, contents) goes through encode_ordinary, so text that looks like a
// special token can never become one. Each piece is encoded on its own, as the reference does.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gptoss/harmony/message.hpp"
#include "gptoss/harmony/tools.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss::harmony {

struct RenderOptions {
  // Leave out the chain of thought (channel `analysis`) that precedes the first final answer,
  // once the conversation's last assistant message is a final answer (spec 5.1).
  bool auto_drop_analysis = true;
};

namespace detail {

inline std::string system_text(const SystemContent& sys, bool conversation_has_function_tools) {
  std::vector<std::string> sections, top;
  if (sys.model_identity) top.push_back(*sys.model_identity);
  if (sys.knowledge_cutoff) top.push_back("Knowledge cutoff: " + *sys.knowledge_cutoff);
  if (sys.conversation_start_date) top.push_back("Current date: " + *sys.conversation_start_date);
  if (!top.empty()) sections.push_back(join(top, "\n"));
  if (sys.reasoning_effort) sections.push_back("Reasoning: " + std::string(to_string(*sys.reasoning_effort)));
  if (!sys.tools.empty()) sections.push_back(tools_section(sys.tools));
  if (sys.channel_config && !sys.channel_config->valid_channels.empty()) {
    std::string s = "# Valid channels: " + join(sys.channel_config->valid_channels, ", ") + ".";
    if (sys.channel_config->channel_required) s += " Channel must be included for every message.";
    if (conversation_has_function_tools) s += "\nCalls to these tools must go to the commentary channel: 'functions'.";
    sections.push_back(std::move(s));
  }
  return join(sections, "\n\n");
}

inline std::string developer_text(const DeveloperContent& dev) {
  std::vector<std::string> sections;
  if (dev.instructions) {
    sections.push_back("# Instructions");
    sections.push_back(*dev.instructions);
  }
  if (!dev.tools.empty()) sections.push_back(tools_section(dev.tools));
  return join(sections, "\n\n");
}

// Whether a developer message declares a non-empty `functions` namespace: the system message then
// tells the model where tool calls go.
inline bool has_function_tools(std::span<const Message> messages) {
  for (const auto& m : messages)
    for (const auto& c : m.content)
      if (const auto* dev = std::get_if<DeveloperContent>(&c)) {
        auto by_name = namespaces_by_name(dev->tools);
        if (auto it = by_name.find("functions"); it != by_name.end() && !it->second->tools.empty()) return true;
      }
  return false;
}

inline void append(std::vector<token_id>& out, const std::vector<token_id>& ids) {
  out.insert(out.end(), ids.begin(), ids.end());
}

inline void render_into(std::vector<token_id>& out, const text::Tokenizer& tok, const Message& m,
                        bool conversation_has_function_tools) {
  auto text = [&](std::string_view s) { append(out, tok.encode_ordinary(s)); };
  out.push_back(tokens::start);
  if (m.role == Role::tool) {
    if (!m.name) throw harmony_error(ErrorKind::tool_without_name, "a tool message needs the tool's name");
    text(*m.name);
  } else {
    text(to_string(m.role));
    if (m.name) text(":" + *m.name);
  }
  if (m.recipient && *m.recipient != "all") text(" to=" + *m.recipient);
  if (m.channel) {
    out.push_back(tokens::channel);
    text(*m.channel);
  }
  if (m.content_type) {
    constexpr std::string_view marker = "<|constrain|>";
    std::string_view ct = *m.content_type;
    if (ct.starts_with(marker)) {
      text(" ");
      out.push_back(tokens::constrain);
      if (ct.size() > marker.size()) text(ct.substr(marker.size()));
    } else {
      text(" " + *m.content_type);
    }
  }
  out.push_back(tokens::message);
  for (const auto& c : m.content) {
    if (const auto* s = std::get_if<std::string>(&c)) {
      text(*s);
    } else if (const auto* sys = std::get_if<SystemContent>(&c)) {
      if (m.role != Role::system)
        throw harmony_error(ErrorKind::system_content_outside_system,
                            "system content in a " + std::string(to_string(m.role)) + " message");
      text(system_text(*sys, conversation_has_function_tools));
    } else if (const auto* dev = std::get_if<DeveloperContent>(&c)) {
      if (m.role != Role::developer)
        throw harmony_error(ErrorKind::developer_content_outside_developer,
                            "developer content in a " + std::string(to_string(m.role)) + " message");
      text(developer_text(*dev));
    }
  }
  // Any recipient on an assistant message marks a tool call, even `all` (which is not printed).
  out.push_back(m.role == Role::assistant && m.recipient ? tokens::call : tokens::end);
}

}  // namespace detail

// One message on its own, no filtering.
inline std::vector<token_id> render_message(const text::Tokenizer& tok, const Message& m) {
  std::vector<token_id> out;
  detail::render_into(out, tok, m, false);
  return out;
}

// The messages of a conversation, with earlier chain of thought dropped as RenderOptions says.
inline std::vector<token_id> render_conversation(const text::Tokenizer& tok, std::span<const Message> messages,
                                                 RenderOptions opt = {}) {
  const Message* last_assistant = nullptr;
  for (const auto& m : messages)
    if (m.role == Role::assistant) last_assistant = &m;
  bool drop = opt.auto_drop_analysis && last_assistant && last_assistant->channel == "final";
  std::size_t first_final = messages.size();
  for (std::size_t i = 0; i < messages.size(); ++i)
    if (messages[i].channel == "final") {
      first_final = i;
      break;
    }
  bool functions = detail::has_function_tools(messages);
  std::vector<token_id> out;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (drop && i < first_final && messages[i].channel == "analysis") continue;
    detail::render_into(out, tok, messages[i], functions);
  }
  return out;
}

// The prompt for sampling: the conversation, then `<|start|>` and the next role (normally
// `<|start|>assistant`, after which the model writes its header: `<|channel|>...`).
inline std::vector<token_id> render_for_completion(const text::Tokenizer& tok, std::span<const Message> messages,
                                                   Role next = Role::assistant, RenderOptions opt = {}) {
  std::vector<token_id> out = render_conversation(tok, messages, opt);
  out.push_back(tokens::start);
  detail::append(out, tok.encode_ordinary(to_string(next)));
  return out;
}

// A training example: a conversation whose last message is a final answer ends with <|return|>.
inline std::vector<token_id> render_for_training(const text::Tokenizer& tok, std::span<const Message> messages,
                                                 RenderOptions opt = {}) {
  std::vector<token_id> out = render_conversation(tok, messages, opt);
  if (!messages.empty() && !out.empty() && messages.back().role == Role::assistant &&
      messages.back().channel == "final")
    out.back() = tokens::return_;
  return out;
}

inline std::vector<token_id> render_conversation(const text::Tokenizer& tok, const Conversation& c,
                                                 RenderOptions opt = {}) {
  return render_conversation(tok, c.messages(), opt);
}
inline std::vector<token_id> render_for_completion(const text::Tokenizer& tok, const Conversation& c,
                                                   Role next = Role::assistant, RenderOptions opt = {}) {
  return render_for_completion(tok, c.messages(), next, opt);
}
inline std::vector<token_id> render_for_training(const text::Tokenizer& tok, const Conversation& c,
                                                 RenderOptions opt = {}) {
  return render_for_training(tok, c.messages(), opt);
}

}  // namespace gptoss::harmony
