// The Harmony chat format's data model: messages, system and developer content, tool namespaces,
// the structural token ids, and the error type every Harmony failure throws.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/core/error.hpp"
#include "gptoss/core/token.hpp"

namespace gptoss::harmony {

// Token ids of the format's structural tokens in the o200k_harmony vocabulary.
namespace tokens {
inline constexpr token_id return_ = 200002;  // ends the final answer of a completion
inline constexpr token_id constrain = 200003;
inline constexpr token_id channel = 200005;
inline constexpr token_id start = 200006;
inline constexpr token_id end = 200007;
inline constexpr token_id message = 200008;
inline constexpr token_id call = 200012;  // ends a tool call

// The parser ends a message on any of these; a sampler stops on <|return|> or <|call|> only,
// because <|end|> between two assistant messages of one completion is normal.
inline constexpr bool is_stop(token_id t) { return t == return_ || t == end || t == call; }
inline constexpr bool is_sampling_stop(token_id t) { return t == return_ || t == call; }
}  // namespace tokens

// Harmony errors are malformed conversations or model output, so they are format errors; `kind`
// is the machine-readable name used by the golden cases and printed by `gptoss harmony`.
enum class ErrorKind {
  header_trailing_tokens,
  expected_start_token,
  eos_in_header,
  unknown_role,
  empty_channel,
  header_without_role,
  header_not_utf8,
  tool_without_name,
  system_content_outside_system,
  developer_content_outside_developer,
};

inline std::string_view to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::header_trailing_tokens: return "header_trailing_tokens";
    case ErrorKind::expected_start_token: return "expected_start_token";
    case ErrorKind::eos_in_header: return "eos_in_header";
    case ErrorKind::unknown_role: return "unknown_role";
    case ErrorKind::empty_channel: return "empty_channel";
    case ErrorKind::header_without_role: return "header_without_role";
    case ErrorKind::header_not_utf8: return "header_not_utf8";
    case ErrorKind::tool_without_name: return "tool_without_name";
    case ErrorKind::system_content_outside_system: return "system_content_outside_system";
    case ErrorKind::developer_content_outside_developer: return "developer_content_outside_developer";
  }
  return "unknown";
}

struct harmony_error : format_error {
  harmony_error(ErrorKind k, const std::string& what)
      : format_error("harmony: " + std::string(to_string(k)) + ": " + what), kind(k) {}
  ErrorKind kind;
};

enum class Role { system, developer, user, assistant, tool };

inline std::string_view to_string(Role r) {
  switch (r) {
    case Role::system: return "system";
    case Role::developer: return "developer";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "unknown";
}

inline std::optional<Role> role_from_string(std::string_view s) {
  for (Role r : {Role::system, Role::developer, Role::user, Role::assistant, Role::tool})
    if (to_string(r) == s) return r;
  return std::nullopt;
}

enum class ReasoningEffort { low, medium, high };

inline std::string_view to_string(ReasoningEffort e) {
  switch (e) {
    case ReasoningEffort::low: return "low";
    case ReasoningEffort::medium: return "medium";
    case ReasoningEffort::high: return "high";
  }
  return "medium";
}

// One function of a tool namespace. `parameters` is a JSON Schema; its key order is kept because
// the rendered TypeScript-like text lists properties in that order.
struct ToolDescription {
  std::string name;
  std::string description;
  std::optional<nlohmann::ordered_json> parameters;
  // Calls must follow `parameters` exactly (structured decoding constrains the arguments to the
  // schema); not part of the rendered prompt.
  bool strict = false;
};

struct ToolNamespace {
  std::string name;
  std::optional<std::string> description;
  std::vector<ToolDescription> tools;
};

struct ChannelConfig {
  std::vector<std::string> valid_channels{"analysis", "commentary", "final"};
  bool channel_required = true;
};

// What `SystemContent{}` gives is the reference library's default system message.
struct SystemContent {
  std::optional<std::string> model_identity = "You are ChatGPT, a large language model trained by OpenAI.";
  std::optional<ReasoningEffort> reasoning_effort = ReasoningEffort::medium;
  std::optional<std::string> knowledge_cutoff = "2024-06";
  std::optional<std::string> conversation_start_date;
  std::optional<ChannelConfig> channel_config = ChannelConfig{};
  std::vector<ToolNamespace> tools;  // built-in tools: browser_tools(), python_tool()
};

// The developer message carries the instructions (the "system prompt" of other chat formats) and
// the function tools (namespace `functions`).
struct DeveloperContent {
  std::optional<std::string> instructions;
  std::vector<ToolNamespace> tools;
};

using Content = std::variant<std::string, SystemContent, DeveloperContent>;

struct Message {
  Role role = Role::user;
  std::optional<std::string> name;  // author name; for role tool the tool name (required)
  std::optional<std::string> recipient;
  std::optional<std::string> channel;
  std::optional<std::string> content_type;
  std::vector<Content> content;

  // The text parts concatenated (a parsed message has exactly one).
  std::string text() const {
    std::string out;
    for (const auto& c : content)
      if (const auto* s = std::get_if<std::string>(&c)) out += *s;
    return out;
  }
};

// The conversation a caller builds turn by turn, e.g.
//   Conversation().system(SystemContent{.reasoning_effort = ReasoningEffort::high})
//                 .developer("Answer in French.").user("Hello");
class Conversation {
 public:
  Conversation& add(Message m) {
    messages_.push_back(std::move(m));
    return *this;
  }
  Conversation& system(SystemContent c = {}) { return add(make(Role::system, std::move(c))); }
  Conversation& developer(DeveloperContent c) { return add(make(Role::developer, std::move(c))); }
  Conversation& developer(std::string instructions) {
    DeveloperContent c;
    c.instructions = std::move(instructions);
    return developer(std::move(c));
  }
  Conversation& user(std::string text) { return add(make(Role::user, std::move(text))); }
  Conversation& assistant(std::string text, std::string channel = "final") {
    Message m = make(Role::assistant, std::move(text));
    m.channel = std::move(channel);
    return add(std::move(m));
  }
  // A tool's answer to the assistant, e.g. tool_result("functions.get_weather", "{\"temp\": 20}").
  Conversation& tool_result(std::string tool_name, std::string text, std::string channel = "commentary") {
    Message m = make(Role::tool, std::move(text));
    m.name = std::move(tool_name);
    m.recipient = "assistant";
    m.channel = std::move(channel);
    return add(std::move(m));
  }

  const std::vector<Message>& messages() const { return messages_; }
  std::vector<Message>& messages() { return messages_; }

 private:
  static Message make(Role role, Content c) {
    Message m;
    m.role = role;
    m.content.push_back(std::move(c));
    return m;
  }

  std::vector<Message> messages_;
};

}  // namespace gptoss::harmony
