// gptoss generate: continue a token sequence, or answer a prompt as a Harmony user turn.
#include <cstdio>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "chat_args.hpp"
#include "gptoss/generate/reply.hpp"
#include "gptoss/harmony/json.hpp"
#include "model_loader.hpp"
#include "sampling_args.hpp"

namespace gptoss::cli {
namespace {

// --tokens: raw continuation, printed as ids.
int generate_tokens(const Args& args, GenerateOptions opt) {
  if (args.has("stop")) opt.stop_tokens = token_list(args, "stop");
  auto prompt = token_list(args, "tokens");
  auto model = load_model(args);
  const bool json = args.flag("json");
  bool first = true;
  auto tokens = generate(*model, prompt, opt, [&](token_id t) {
    if (!json) {
      fmt::print("{}{}", first ? "" : ",", t);
      std::fflush(stdout);
      first = false;
    }
    return true;
  });
  if (json) fmt::print("{}\n", nlohmann::json{{"tokens", tokens}}.dump());
  else fmt::print("\n");
  return 0;
}

// --prompt: a Harmony conversation (system, optional developer, user); prints the final answer,
// streamed, or with --json every parsed message of the reply.
int generate_prompt(const Args& args, GenerateOptions opt) {
  auto model = load_model(args);
  const auto tok = load_vocabulary(args);
  harmony::Conversation conv;
  harmony::SystemContent sys;
  sys.reasoning_effort = reasoning_effort(args);
  conv.system(sys);
  if (args.has("system")) conv.developer(args.str("system"));
  conv.user(args.str("prompt"));
  const bool json = args.flag("json");
  auto turn = generate_reply(*model, tok, conv, opt, [&](const ReplyDelta& d) {
    if (!json && d.channel == "final") fmt::print("{}", d.text), std::fflush(stdout);
  });
  if (json) {
    nlohmann::ordered_json out{{"messages", harmony::to_json(turn.messages)}, {"tokens", turn.tokens}};
    if (turn.parse_failed) out["error"] = "reply is not valid Harmony";
    fmt::print("{}\n", out.dump());
  } else {
    fmt::print("\n");
    if (turn.parse_failed) fmt::print(stderr, "(the model's reply was not valid Harmony)\n");
  }
  return 0;
}

int run_generate(const Args& args) {
  GenerateOptions opt;
  opt.sampling = sampling_options(args, 0.0f);
  opt.max_tokens = args.number<int>("max-tokens", 32);
  if (opt.max_tokens < 0) throw usage_error("--max-tokens must be >= 0");
  if (args.has("tokens") == args.has("prompt")) throw usage_error("give exactly one of --tokens and --prompt");
  return args.has("tokens") ? generate_tokens(args, opt) : generate_prompt(args, opt);
}

const Register reg{{"generate", "continue token ids, or answer a prompt",
                    "usage: gptoss generate --model DIR [--device cpu|cuda] (--tokens 1,2,3 | --prompt TEXT) [--max-tokens N] [--json]\n"
                    "                       [--temperature T] [--top-p P] [--top-k K] [--min-p M] [--seed S]\n\n"
                    + model_options_usage +
                    "  --tokens IDS       the prompt as comma-separated token ids; prints the new ids\n"
                    "  --prompt TEXT      a user message, rendered in the Harmony format; prints the final answer\n"
                    "  --max-tokens N     tokens to generate (default 32)\n"
                    + sampling_usage(0.0f) +
                    "  --stop IDS         with --tokens: ids that end generation (included in the output)\n"
                    "  --json             print {\"tokens\": [...]} (--tokens) or the parsed messages (--prompt)\n"
                    "  --reasoning-effort E, --system TEXT, --vocab FILE   with --prompt, as for `gptoss chat`\n",
                    {"json"},
                    with_sampling_options(with_model_options({"tokens", "prompt", "max-tokens", "stop", "reasoning-effort",
                                           "system", "vocab"})),
                    run_generate}};

}  // namespace
}  // namespace gptoss::cli
