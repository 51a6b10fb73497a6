#include "structured_args.hpp"

#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "gptoss/constrain/requests.hpp"

namespace gptoss::cli {
namespace {

constrain::ojson read_json_file(const std::string& file, const std::string& option) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw usage_error(fmt::format("{} {}: cannot open the file", option, file));
  std::stringstream s;
  s << in.rdbuf();
  try {
    return constrain::ojson::parse(s.str());
  } catch (const nlohmann::json::exception& e) {
    throw usage_error(fmt::format("{} {}: not JSON: {}", option, file, e.what()));
  }
}

}  // namespace

std::vector<Opt> with_structured_options(std::vector<Opt> own, bool response_format) {
  if (response_format) {
    own.push_back({"--json-schema", "make the final answer a JSON document valid for the schema in FILE (a JSON schema, or an "
                                    "OpenAI response_format object {\"type\":\"json_schema\",...})", "FILE"});
    own.push_back({"--json-object", "make the final answer a JSON object (any)", ""});
  }
  own.push_back({"--tools", "function tools the model may call: a JSON array in the OpenAI `tools` shape, described to "
                            "the model in the developer message; a call's arguments follow the tool's parameters when the "
                            "call is forced (--tool-choice required or NAME) or the tool has \"strict\": true, else they are any JSON object", "FILE"});
  own.push_back({"--tool-choice", "with --tools: auto (the model decides; default), none (no call), required (some call), or the NAME of "
                                  "the tool to call", "C"});
  own.push_back({"--reasoning-budget", "most tokens of reasoning before the final answer (or the forced tool call); "
                                       "N >= 0 (default: unlimited)", "N"});
  return own;
}

StructuredArgs structured_args(const Args& args) {
  StructuredArgs out;
  if (args.has("json-schema") && args.flag("json-object")) throw usage_error("--json-schema and --json-object exclude each other");
  if (args.has("json-schema")) {
    out.schema_file = args.str("json-schema");
    const auto j = read_json_file(out.schema_file, "--json-schema");
    const auto type = j.is_object() ? j.find("type") : j.end();
    const bool response_format = j.is_object() && type != j.end() && type->is_string() &&
                                 (*type == "json_schema" || *type == "json_object") &&
                                 (j.contains("json_schema") || j.contains("schema") || *type == "json_object");
    try {
      if (response_format) out.so.response_format = constrain::response_format_from_json(j);
      else out.so.response_format = {constrain::ResponseFormat::Kind::json_schema, j};
    } catch (const error& e) {
      throw usage_error(fmt::format("--json-schema {}: {}", out.schema_file, e.what()));
    }
  } else if (args.flag("json-object")) {
    out.so.response_format = {constrain::ResponseFormat::Kind::json_object, {}};
  }
  if (args.has("tools")) {
    out.tools_file = args.str("tools");
    const auto j = read_json_file(out.tools_file, "--tools");
    try {
      out.tools = constrain::function_tools_from_json(j);
    } catch (const error& e) {
      throw usage_error(fmt::format("--tools {}: {}", out.tools_file, e.what()));
    }
  }
  if (args.has("tool-choice")) {
    if (!args.has("tools")) throw usage_error("--tool-choice needs --tools");
    const std::string c = args.str("tool-choice");
    if (c == "auto" || c == "none" || c == "required") {
      out.so.tool_choice = constrain::tool_choice_from_json(constrain::ojson(c));
    } else {
      const bool declared = std::any_of(out.tools.begin(), out.tools.end(), [&](const auto& t) { return t.name == c; });
      if (!declared) {
        std::string names;
        for (const auto& t : out.tools) names += (names.empty() ? "" : ", ") + t.name;
        throw usage_error(fmt::format("--tool-choice must be auto, none, required or a tool of {} ({}), not '{}'", out.tools_file,
                                      names.empty() ? "none declared" : names, c));
      }
      out.so.tool_choice = constrain::tool_choice_from_json(constrain::ojson{{"type", "function"}, {"name", c}});
    }
  }
  if (args.has("reasoning-budget")) out.so.reasoning_budget = args.number_in<int>("reasoning-budget", 0, 0, 1 << 24);
  out.active = args.has("json-schema") || args.flag("json-object") || args.has("tools") || args.has("reasoning-budget");
  return out;
}

std::optional<harmony::DeveloperContent> StructuredArgs::developer(const std::optional<std::string>& instructions) const {
  if (!instructions && tools.empty()) return std::nullopt;
  harmony::DeveloperContent d;
  d.instructions = instructions;
  if (!tools.empty()) d.tools.push_back({"functions", std::nullopt, tools});
  return d;
}

std::unique_ptr<constrain::Constraint> StructuredArgs::constraint(const text::Tokenizer& tok, const harmony::Conversation& conv) const {
  try {
    return std::make_unique<constrain::Constraint>(tok, conv, so);
  } catch (const constrain::schema_error& e) {
    // The tools' schemas are reported under /tools/NAME/parameters.
    const bool tool = e.path.rfind("/tools/", 0) == 0;
    throw usage_error(fmt::format("{} {}: the schema at {} is refused: {}", tool ? "--tools" : "--json-schema",
                                  tool ? tools_file : schema_file, e.path.empty() ? "/" : e.path, e.reason));
  }
}

}  // namespace gptoss::cli
