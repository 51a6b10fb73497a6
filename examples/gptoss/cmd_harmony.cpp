// gptoss harmony render|parse: the Harmony chat format as a JSON filter (stdin -> stdout), in the
// schema of the golden cases. Failures print {"error": KIND} on stdout, a line on stderr, exit 1.
#include <iostream>
#include <iterator>
#include <string>

#include <fmt/core.h>

#include "cli.hpp"
#include "gptoss/core/json.hpp"
#include "gptoss/harmony/requests.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace {

using namespace gptoss;
using harmony::ordered_json;

int fail(std::string_view kind, std::string_view message) {
  fmt::print("{}\n", ordered_json{{"error", kind}}.dump());
  fmt::print(stderr, "gptoss harmony: {}\n", cli::one_line(message));
  return 1;
}

int run(const cli::Args& args) {
  const auto& words = args.words();
  if (words.size() != 1 || (words[0] != "render" && words[0] != "parse"))
    throw cli::usage_error("expected exactly one of 'render' or 'parse'");
  const bool render = words[0] == "render";

  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  // Rendering and copying JSON recurse: 256 levels are far more than any real schema needs.
  ordered_json request;
  try {
    request = parse_json<ordered_json>(input, "input", 256);
  } catch (const format_error& e) {
    return fail("invalid_json", e.what());
  }
  text::Tokenizer tok = args.has("vocab") ? text::Tokenizer::from_file(args.str("vocab"))
                                          : text::Tokenizer::load_default();
  try {
    ordered_json out = render ? harmony::render_request(tok, request) : harmony::parse_request(tok, request);
    fmt::print("{}\n", out.dump(-1, ' ', false, ordered_json::error_handler_t::replace));
    return 0;
  } catch (const harmony::harmony_error& e) {
    return fail(harmony::to_string(e.kind), e.what());
  } catch (const input_error& e) {
    return fail("invalid_input", e.what());
  }
}

const cli::Register reg{{
    .name = "harmony",
    .summary = "render or parse Harmony conversations (JSON on stdin)",
    .usage = "gptoss harmony render|parse [--vocab FILE] < request.json",
    .options = {{"--vocab", "tokenizer.json or o200k_base.tiktoken (default: the built-in search)", "FILE"}},
    .run = run,
    .details = "render: reads {\"render\": {\"mode\", \"next_role\", \"auto_drop_analysis\"}, \"messages\": [...]}\n"
               "        and prints {\"text\": ..., \"tokens\": [...]}.\n"
               "parse:  reads {\"input\": {\"role\", \"strict\", \"tokens\": [...]}} and prints {\"messages\": [...]}.\n"
               "Modes: completion, conversation, training, message. Errors print {\"error\": KIND} and exit 1.",
    .words_name = "ACTION",
}};

}  // namespace
