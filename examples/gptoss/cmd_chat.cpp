// gptoss chat: an interactive, streaming conversation in the Harmony format.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <fmt/core.h>

#include "chat_args.hpp"
#include "gptoss/generate/reply.hpp"
#include "model_loader.hpp"
#include "sampling_args.hpp"

namespace gptoss::cli {
namespace {

int run_chat(const Args& args) {
  auto model = load_model(args);
  const auto tok = load_vocabulary(args);
  GenerateOptions opt;
  opt.sampling = sampling_options(args, 1.0f);
  opt.max_tokens = args.number<int>("max-tokens", 2048);
  if (opt.max_tokens < 1) throw usage_error("--max-tokens must be >= 1");
  const bool show_reasoning = args.flag("show-reasoning");
  const bool tty_in = isatty(fileno(stdin)), tty_out = isatty(fileno(stdout));
  const char* dim = tty_out ? "\x1b[2m" : "";
  const char* plain = tty_out ? "\x1b[0m" : "";

  harmony::Conversation conv;
  harmony::SystemContent sys;
  sys.reasoning_effort = reasoning_effort(args);
  conv.system(sys);
  if (args.has("system")) conv.developer(args.str("system"));

  std::string line;
  for (;;) {
    if (tty_in) fmt::print("{}> {}", tty_out ? "\x1b[1m" : "", plain), std::fflush(stdout);
    if (!std::getline(std::cin, line) || line == "/exit" || line == "/quit") break;
    if (line.empty()) continue;
    conv.user(line);
    std::string shown_channel;
    auto turn = generate_reply(*model, tok, conv, opt, [&](const ReplyDelta& d) {
      if (d.channel != shown_channel) {
        if (!shown_channel.empty()) fmt::print("{}\n", plain);
        shown_channel = d.channel;
        if (!d.recipient.empty()) fmt::print("{}[tool call to {}]{} ", dim, d.recipient, plain);
        else if (d.channel == "analysis" && show_reasoning) fmt::print("{}[analysis] ", dim);
      }
      if (d.channel != "analysis" || show_reasoning || !d.recipient.empty()) fmt::print("{}", d.text), std::fflush(stdout);
    });
    fmt::print("{}\n", plain);
    if (turn.parse_failed) {
      fmt::print(stderr, "(the model's reply was not valid Harmony; raw text follows)\n{}\n", tok.decode(turn.tokens));
      continue;
    }
    for (auto& m : turn.messages) conv.add(m);
    if (!turn.messages.empty() && turn.messages.back().recipient)
      fmt::print("{}(this chat runs no tools: the call above is shown, not executed){}\n", dim, plain);
  }
  return 0;
}

const Register reg{{"chat", "talk with the model (Harmony format, streaming)",
                    "usage: gptoss chat --model DIR [--device cpu|cuda] [--reasoning-effort low|medium|high] [--system TEXT]\n"
                    "                   [--show-reasoning] [--vocab FILE] [sampling options]\n\n"
                    + model_options_usage +
                    "  --reasoning-effort E  low, medium (default) or high, set in the system message\n"
                    "  --system TEXT      instructions for the model (the Harmony developer message)\n"
                    "  --show-reasoning   also print the analysis channel, dimmed\n"
                    "  --vocab FILE       tokenizer.json or o200k_base.tiktoken (default: next to the model)\n"
                    "  --max-tokens N     most tokens per reply (default 2048)\n"
                    + sampling_usage(1.0f) +
                    "\nType a message and press enter; /exit or end of input quits.\n",
                    {"show-reasoning"},
                    with_sampling_options(with_model_options({"reasoning-effort", "system", "vocab", "max-tokens"})),
                    run_chat}};

}  // namespace
}  // namespace gptoss::cli
