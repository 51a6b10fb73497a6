// Options that ask for structured replies (`generate --prompt`, `chat`): --json-schema and
// --json-object (generate only), --tools, --tool-choice and --reasoning-budget. The reply is then
// generated under a constrain::Constraint (see docs/structured-output.md).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "gptoss/constrain/constraint.hpp"
#include "gptoss/harmony/harmony.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss::cli {

// The options above; `response_format` adds --json-schema and --json-object.
std::vector<Opt> with_structured_options(std::vector<Opt> own, bool response_format);

// The names of those options, for Args::refuse where they do not apply.
inline constexpr std::initializer_list<const char*> structured_option_names = {"json-schema", "json-object", "tools", "tool-choice",
                                                                                "reasoning-budget"};

struct StructuredArgs {
  constrain::StructuredOutput so;
  std::vector<harmony::ToolDescription> tools;  // from --tools, for the developer message
  bool active = false;                          // any of the options given: decode under a constraint

  // The developer message: the instructions (if any) and the tools (if any); nullopt when neither.
  std::optional<harmony::DeveloperContent> developer(const std::optional<std::string>& instructions) const;

  // A constraint for one reply to `conv`. A schema the engine refuses is a usage_error naming the
  // file it came from, the keyword's path and what is wrong.
  std::unique_ptr<constrain::Constraint> constraint(const text::Tokenizer& tok, const harmony::Conversation& conv) const;

  std::string schema_file, tools_file;
};

// Reads the files and checks the values; bad ones are usage_errors (exit 2).
StructuredArgs structured_args(const Args& args);

}  // namespace gptoss::cli
