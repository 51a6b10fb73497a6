// gptoss generate: continue a token sequence, or answer a prompt as a Harmony user turn.
#include <algorithm>
#include <cstdio>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "chat_args.hpp"
#include "gptoss/generate/reply.hpp"
#include "gptoss/harmony/json.hpp"
#include "model_loader.hpp"
#include "sampling_args.hpp"
#include "structured_args.hpp"

namespace gptoss::cli {
namespace {

constexpr int default_tokens_ids = 32;      // --tokens: a continuation to look at
constexpr int default_tokens_reply = 2048;  // --prompt: room for the reasoning and the answer

// -c/--ctx-size: the most tokens of context, prompt and reply together; the reply is cut there.
void apply_context_size(const Args& args, const AnyModel& model, std::size_t prompt, GenerateOptions& opt) {
  const std::int64_t limit = model.config().max_context();
  if (!args.has("ctx-size")) return;
  const auto ctx = args.number<std::int64_t>("ctx-size");
  if (ctx < 1 || ctx > limit)
    throw usage_error(fmt::format("-c/--ctx-size must be between 1 and {} (the model's context), not {}", limit, ctx));
  if (std::int64_t(prompt) >= ctx)
    throw input_error(fmt::format("the prompt of {} tokens leaves no room in a context of {} tokens (-c/--ctx-size)", prompt, ctx));
  opt.max_tokens = int(std::min<std::int64_t>(opt.max_tokens, ctx - std::int64_t(prompt)));
}

// Model text for a terminal: invalid UTF-8 and control characters other than line breaks and tabs
// shown as \xNN.
std::string one_line_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return out;
}

// --tokens: raw continuation, printed as ids.
int generate_tokens(const Args& args, GenerateOptions opt) {
  args.refuse({"system", "reasoning-effort", "vocab", "show-reasoning", "hide-reasoning"},
              "applies only to a text prompt (-p/--prompt or -f/--file), not to --tokens");
  args.refuse(structured_option_names, "applies only to a text prompt (-p/--prompt or -f/--file), not to --tokens");
  if (args.has("stop")) opt.stop_tokens = token_list(args, "stop");
  auto prompt = token_list(args, "tokens");
  auto model = load_model(args);
  apply_context_size(args, *model, prompt.size(), opt);
  const bool json = args.flag("json");
  bool first = true;
  Timings timings;
  timings.start();
  auto tokens = generate(*model, prompt, opt, [&](token_id t) {
    timings.token();
    if (!json) {
      fmt::print("{}{}", first ? "" : ",", t);
      std::fflush(stdout);
      first = false;
    }
    return true;
  });
  if (json) fmt::print("{}\n", nlohmann::json{{"tokens", tokens}}.dump());
  else fmt::print("\n");
  std::fflush(stdout);
  if (!args.flag("quiet")) timings.report(prompt.size());
  return 0;
}

// A text prompt: a Harmony conversation (system, optional developer, user). Prints the reasoning
// on stderr (unless hidden) and the final answer on stdout, streamed; with --json only the parsed
// messages of the reply, on stdout.
int generate_prompt(const Args& args, GenerateOptions opt) {
  args.refuse({"stop"}, "applies only to --tokens (a text prompt stops at the end of the reply)");
  const bool json = args.flag("json"), quiet = args.flag("quiet");
  const bool reasoning = show_reasoning(args, true) && !json;
  harmony::SystemContent sys;
  sys.reasoning_effort = reasoning_effort(args);
  const std::string question = prompt_text(args);
  const StructuredArgs structured = structured_args(args);
  const auto tok = load_vocabulary(args);  // before the model: a bad --vocab fails at once
  harmony::Conversation conv;
  conv.system(sys);
  if (auto dev = structured.developer(args.has("system") ? std::optional(args.str("system")) : std::nullopt)) conv.developer(*dev);
  conv.user(question);
  // Before the model too: a schema the engine refuses is reported at once.
  const auto constraint = structured.active ? structured.constraint(tok, conv) : nullptr;
  opt.constraint = constraint.get();
  auto model = load_model(args);
  const std::size_t prompt_tokens = harmony::render_for_completion(tok, conv).size();
  apply_context_size(args, *model, prompt_tokens, opt);

  std::string shown;          // the channel (and recipient) of the text on stderr's open line
  bool stderr_open = false;   // stderr's last line is unfinished
  bool final_printed = false;
  Timings timings;
  timings.start();
  // generate_reply keeps the token callback for itself; the cancellation check comes after each
  // token but the last, which the count below adds.
  opt.cancelled = [&] {
    timings.token();
    return false;
  };
  auto turn = generate_reply(*model, tok, conv, opt, [&](const ReplyDelta& d) {
    if (json) return;
    if (d.channel == "final" && d.recipient.empty()) {
      if (stderr_open) fmt::print(stderr, "\n"), std::fflush(stderr);
      stderr_open = false;
      shown.clear();
      fmt::print("{}", d.text), std::fflush(stdout);
      final_printed = true;
    } else if (reasoning || !d.recipient.empty()) {
      // The reasoning and tool calls on stderr, each message after its channel: "[analysis] ...".
      const std::string header = d.recipient.empty() ? "[" + d.channel + "] " : "[tool call to " + d.recipient + "] ";
      if (header != shown) fmt::print(stderr, "{}{}", stderr_open ? "\n" : "", header);
      shown = header;
      fmt::print(stderr, "{}", d.text), std::fflush(stderr);
      stderr_open = true;
    }
  });
  const bool cut = turn.tokens.size() >= std::size_t(opt.max_tokens) &&
                   (turn.tokens.empty() || !harmony::tokens::is_sampling_stop(turn.tokens.back()));
  if (json) {
    nlohmann::ordered_json out{{"messages", harmony::to_json(turn.messages)}, {"tokens", turn.tokens}};
    if (turn.parse_failed) out["error"] = "reply is not valid Harmony";
    if (cut) out["truncated"] = true;
    fmt::print("{}\n", out.dump());
  } else {
    if (stderr_open) fmt::print(stderr, "\n");
    if (final_printed) fmt::print("\n");
    std::fflush(stdout);
    if (turn.parse_failed) {
      // A random (synthetic) model rarely writes valid Harmony: its text is still worth seeing.
      fmt::print(stderr, "(the model's reply was not valid Harmony; its raw text follows)\n");
      std::fflush(stderr);
      fmt::print("{}\n", one_line_text(tok.decode(turn.tokens)));
      std::fflush(stdout);
    }
  }
  if (!quiet) {
    if (cut)
      fmt::print(stderr, "(the reply was cut off at the limit of {} tokens{}; raise -n/--max-tokens)\n", opt.max_tokens,
                 final_printed ? "" : ", before the final answer");
    for (std::size_t i = std::size_t(timings.tokens()); i < turn.tokens.size(); ++i) timings.token();
    timings.report(prompt_tokens);
  }
  return 0;
}

int run_generate(const Args& args) {
  const bool tokens = args.has("tokens");
  const int given_modes = int(tokens) + int(args.has("prompt") || args.has("file"));
  if (given_modes != 1) throw usage_error("give exactly one of --tokens and -p/--prompt (or -f/--file)");
  GenerateOptions opt;
  opt.sampling = sampling_options(args, 0.0f);
  opt.max_tokens = args.number_in<int>("max-tokens", tokens ? default_tokens_ids : default_tokens_reply, 0, 1 << 24);
  return tokens ? generate_tokens(args, opt) : generate_prompt(args, opt);
}

const Register reg{{
    .name = "generate",
    .summary = "continue token ids, or answer a prompt",
    .usage = "gptoss generate -m DIR (-p TEXT | -f FILE | --tokens 1,2,3) [-n N] [-c N] [--json] [--json-schema FILE] [--tools FILE] [OPTIONS]",
    .options = with_sampling_options(
        with_structured_options(with_harmony_options(
            with_model_options({
                {"-p,--prompt", "a user message, rendered in the Harmony format; prints the reasoning on stderr and the final answer", "TEXT"},
                {"-f,--file", "read the user message from FILE (- for standard input)", "FILE"},
                {"--tokens", "the prompt as comma-separated token ids; prints the new ids", "IDS"},
                {"-n,--max-tokens,--n-predict", fmt::format("most tokens to generate (default {} with a text prompt, {} with --tokens)", default_tokens_reply, default_tokens_ids), "N"},
                {"-c,--ctx-size", "most tokens of context, prompt and reply together (default: the model's)", "N"},
                {"--stop", "with --tokens: ids that end generation (included in the output)", "IDS"},
                {"--json", "print only JSON on stdout: {\"tokens\": [...]} (--tokens) or the parsed messages", ""},
            }),
            true), true),
        0.0f),
    .run = run_generate,
    .details = "A reply cut off by -n/--max-tokens says so on stderr and still exits 0. After generating, one line of\n"
               "timings (prefill and decode tokens/s) goes to stderr unless -q/--quiet.\n"
               "--json-schema, --json-object, --tools, --tool-choice and --reasoning-budget decode under a constraint\n"
               "(docs/structured-output.md): the reply is always well-formed Harmony and, unless cut off by -n, the\n"
               "final answer (or a tool call's arguments) valid JSON of its schema. They need a text prompt. A schema\n"
               "the engine refuses exits 2, naming the file and the keyword's path. A tool call goes to stderr\n"
               "([tool call to functions.NAME] ARGS); --json shows it as the last message, with its recipient.",
}};

}  // namespace
}  // namespace gptoss::cli
