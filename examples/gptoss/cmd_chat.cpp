// gptoss chat: an interactive, streaming conversation in the Harmony format, with a few commands
// (/help) that the program answers itself. Ctrl-C stops the reply being written and keeps both the
// program and the conversation.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/core.h>

#include "chat_args.hpp"
#include "gptoss/engine/reply.hpp"
#include "gptoss/harmony/json.hpp"
#include "model_loader.hpp"
#include "sampling_args.hpp"
#include "structured_args.hpp"

namespace gptoss::cli {
namespace {

std::atomic<bool> interrupted{false};
extern "C" void on_interrupt(int) { interrupted = true; }

// SIGINT sets `interrupted` while a reply is written; otherwise Ctrl-C ends the program as usual.
class InterruptGuard {
 public:
  InterruptGuard() {
    interrupted = false;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_);
  }
  ~InterruptGuard() { sigaction(SIGINT, &old_, nullptr); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction old_ {};
};

const char* const help_text =
    "Type a message and press enter. Commands:\n"
    "  /help                     this list\n"
    "  /reset                    forget the conversation (keeps the system message and /system's instructions)\n"
    "  /save FILE                write the conversation to FILE as JSON\n"
    "  /load FILE                continue a conversation saved with /save\n"
    "  /system TEXT              set the instructions for the model (no TEXT: remove them)\n"
    "  /effort low|medium|high   set the reasoning effort\n"
    "  /tool TEXT                answer the model's last tool call with TEXT (the tool's result); the model goes on\n"
    "  /exit, /quit              leave (as does end of input)\n"
    "A message that starts with / is written //. Ctrl-C stops a reply and keeps the conversation.\n";

// The conversation: the system message first, then the developer message if any, then the turns.
struct Chat {
  harmony::Conversation conv;
  std::vector<harmony::ToolDescription> tools;  // --tools: kept in the developer message with the instructions

  harmony::SystemContent& system() {
    auto& ms = conv.messages();
    if (ms.empty() || ms.front().role != harmony::Role::system || !std::holds_alternative<harmony::SystemContent>(ms.front().content.at(0))) {
      harmony::Conversation fresh;
      fresh.system();
      ms.insert(ms.begin(), fresh.messages().front());
    }
    return std::get<harmony::SystemContent>(ms.front().content.at(0));
  }

  void set_instructions(const std::string& text) {
    system();
    auto& ms = conv.messages();
    auto it = ms.begin() + 1;
    const bool has = it != ms.end() && it->role == harmony::Role::developer;
    if (text.empty() && tools.empty()) {
      if (has) ms.erase(it);
      return;
    }
    harmony::DeveloperContent dev;
    if (!text.empty()) dev.instructions = text;
    if (!tools.empty()) dev.tools.push_back({"functions", std::nullopt, tools});
    harmony::Conversation one;
    one.developer(std::move(dev));
    if (has) *it = one.messages().front();
    else ms.insert(it, one.messages().front());
  }

  void reset() {
    auto& ms = conv.messages();
    std::erase_if(ms, [](const harmony::Message& m) { return m.role != harmony::Role::system && m.role != harmony::Role::developer; });
  }

  void save(const std::string& file) const {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    if (!out) throw io_error(file + ": cannot write");
    out << nlohmann::ordered_json{{"messages", harmony::to_json(conv.messages())}}.dump(2) << "\n";
    if (!out.flush()) throw io_error(file + ": cannot write");
  }

  void load(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw io_error(file + ": cannot open");
    std::stringstream s;
    s << in.rdbuf();
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(s.str());
    } catch (const nlohmann::json::exception& e) {
      throw format_error(file + ": not JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("messages")) throw format_error(file + ": expected {\"messages\": [...]} as /save writes it");
    harmony::Conversation loaded;
    for (auto& m : harmony::messages_from_json(j.at("messages"))) loaded.add(std::move(m));
    conv = std::move(loaded);
    system();
  }
};

enum class CommandResult { done, reply, exit };

// Runs one /command: done, reply (the model should write the next turn: /tool) or exit.
CommandResult run_command(Chat& chat, const std::string& line, bool quiet) {
  const auto space = line.find(' ');
  const std::string name = line.substr(0, space);
  std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
  while (!arg.empty() && arg.front() == ' ') arg.erase(arg.begin());
  while (!arg.empty() && arg.back() == ' ') arg.pop_back();
  auto note = [&](const std::string& text) {
    if (!quiet) fmt::print(stderr, "({})\n", text);
  };
  try {
    if (name == "/exit" || name == "/quit") return CommandResult::exit;
    if (name == "/help") {
      fmt::print("{}", help_text);
    } else if (name == "/reset") {
      chat.reset();
      note("conversation cleared");
    } else if (name == "/save" || name == "/load") {
      if (arg.empty()) throw input_error(name + " needs a file name");
      if (name == "/save") chat.save(arg);
      else chat.load(arg);
      note(fmt::format("{} {} messages {} {}", name == "/save" ? "saved" : "loaded", chat.conv.messages().size(),
                       name == "/save" ? "to" : "from", arg));
    } else if (name == "/system") {
      chat.set_instructions(arg);
      note(arg.empty() ? "instructions removed" : "instructions set");
    } else if (name == "/effort") {
      chat.system().reasoning_effort = parse_effort(arg, "the effort");
      note("reasoning effort " + arg);
    } else if (name == "/tool") {
      const auto& ms = chat.conv.messages();
      if (ms.empty() || ms.back().role != harmony::Role::assistant || !ms.back().recipient)
        throw input_error("the model's last message is not a tool call");
      if (arg.empty()) throw input_error("/tool needs the tool's result");
      chat.conv.tool_result(*ms.back().recipient, arg);
      return CommandResult::reply;
    } else {
      fmt::print(stderr, "unknown command {} (/help lists the commands; start a message with // to send a /)\n", name);
    }
  } catch (const usage_error& e) {
    fmt::print(stderr, "{}: {}\n", name, e.what());  // "/effort: the effort must be low, medium or high, ..."
  } catch (const error& e) {
    fmt::print(stderr, "{}: {}\n", name, one_line(e.what()));
  }
  return CommandResult::done;
}

int run_chat(const Args& args) {
  GenerateOptions opt;
  opt.sampling = sampling_options(args, 1.0f);
  const int max_tokens = args.number_in<int>("max-tokens", 2048, 1, 1 << 24);
  const bool reasoning = show_reasoning(args, false), quiet = args.flag("quiet");
  const StructuredArgs structured = structured_args(args);
  Chat chat;
  chat.tools = structured.tools;
  chat.system().reasoning_effort = reasoning_effort(args);
  chat.set_instructions(args.str("system", ""));
  const auto tok = load_vocabulary(args);  // before the model: a bad --vocab fails at once
  if (structured.active) structured.constraint(tok, chat.conv);  // a refused schema: exit 2 before the model loads
  auto model = load_model(args);
  // The conversation lives in one engine slot, whose KV cache is kept between turns: a turn reads
  // only the tokens its prompt adds to the last one's.
  const std::int64_t most = model->config().max_context();
  const std::int64_t ctx = args.number_in<std::int64_t>("ctx-size", std::min<std::int64_t>(8192, most), 16, most);
  engine::Engine eng(*model, {.parallel = 1, .ctx_size = ctx, .step_tokens = 2048, .max_queue = 1});
  const bool tty_in = isatty(fileno(stdin)), tty_out = isatty(fileno(stdout));
  const char* dim = tty_out ? "\x1b[2m" : "";
  const char* plain = tty_out ? "\x1b[0m" : "";
  if (tty_in && !quiet) fmt::print(stderr, "/help lists the commands; /exit or Ctrl-D quits.\n");

  std::string line;
  for (;;) {
    if (tty_in) fmt::print("{}> {}", tty_out ? "\x1b[1m" : "", plain), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line.front() == '/' && line.rfind("//", 0) != 0) {
      const CommandResult r = run_command(chat, line, quiet);
      if (r == CommandResult::exit) break;
      if (r == CommandResult::done) continue;
    } else {
      if (line.rfind("//", 0) == 0) line.erase(0, 1);
      chat.conv.user(line);
    }
    // Under --json-schema/--tools/--reasoning-budget, a fresh constraint for each reply. The
    // conversation can have changed (/load): what it refuses skips the reply.
    std::unique_ptr<constrain::Constraint> constraint;
    if (structured.active) {
      try {
        constraint = structured.constraint(tok, chat.conv);
      } catch (const std::exception& e) {
        fmt::print(stderr, "(no reply: {})\n", one_line(e.what()));
        chat.conv.messages().pop_back();
        continue;
      }
    }
    opt.constraint = constraint.get();
    const std::int64_t prompt_tokens = std::int64_t(harmony::render_for_completion(tok, chat.conv).size());
    if (prompt_tokens >= ctx) {
      fmt::print(stderr, "(no reply: the conversation's {} tokens fill the context of {} (-c/--ctx-size); /reset starts afresh)\n",
                 prompt_tokens, ctx);
      chat.conv.messages().pop_back();
      continue;
    }
    opt.max_tokens = int(std::min<std::int64_t>(max_tokens, ctx - prompt_tokens));
    std::string shown_channel;
    Timings timings;
    timings.start();
    opt.cancelled = [&] {
      timings.token();
      return interrupted.load();
    };
    Reply turn;
    engine::Result request;
    {
      InterruptGuard guard;
      turn = engine::generate_reply(eng, tok, chat.conv, opt, [&](const ReplyDelta& d) {
        if (d.channel != shown_channel) {
          if (!shown_channel.empty()) fmt::print("{}\n", plain);
          shown_channel = d.channel;
          if (!d.recipient.empty()) fmt::print("{}[tool call to {}]{} ", dim, d.recipient, plain);
          else if (d.channel == "analysis" && reasoning) fmt::print("{}[analysis] ", dim);
        }
        if (d.channel != "analysis" || reasoning || !d.recipient.empty()) fmt::print("{}", d.text), std::fflush(stdout);
      }, &request);
    }
    fmt::print("{}\n", plain);
    std::fflush(stdout);
    const bool stopped = interrupted.exchange(false);
    const bool ended = !turn.tokens.empty() && harmony::tokens::is_sampling_stop(turn.tokens.back());
    if (!quiet) {
      if (stopped) fmt::print(stderr, "(reply stopped)\n");
      else if (!ended && opt.max_tokens < max_tokens)
        fmt::print(stderr, "(the reply was cut off at the end of the context of {} tokens; raise -c/--ctx-size or /reset)\n", ctx);
      else if (!ended) fmt::print(stderr, "(the reply was cut off at the limit of {} tokens; raise -n/--max-tokens)\n", max_tokens);
      for (std::size_t i = std::size_t(timings.tokens()); i < turn.tokens.size(); ++i) timings.token();
      timings.report(std::size_t(prompt_tokens - request.cached_tokens), std::size_t(request.cached_tokens));
    }
    if (turn.parse_failed) {
      fmt::print(stderr, "(the model's reply was not valid Harmony; raw text follows)\n{}\n", tok.decode(turn.tokens));
      continue;
    }
    // A stopped or cut-off reply keeps the messages it completed.
    for (auto& m : turn.messages) chat.conv.add(m);
    if (!turn.messages.empty() && turn.messages.back().recipient)
      fmt::print("{}(this chat runs no tools: the call to {} above is shown, not executed; /tool TEXT answers it){}\n", dim,
                 *turn.messages.back().recipient, plain);
  }
  return 0;
}

const Register reg{{
    .name = "chat",
    .summary = "talk with the model (Harmony format, streaming)",
    .usage = "gptoss chat -m DIR [--reasoning-effort low|medium|high] [--system TEXT] [--show-reasoning] [--tools FILE] [OPTIONS]",
    .options = with_sampling_options(
        with_structured_options(
            with_harmony_options(with_model_options({{"-n,--max-tokens,--n-predict", "most tokens per reply (default 2048)", "N"},
                                                   {"-c,--ctx-size", "most tokens of the conversation, replies included, with its KV cache reserved at start (default 8192, at most the model's context)", "N"}}), false),
            false),
        1.0f),
    .run = run_chat,
    .details = help_text,
}};

}  // namespace
}  // namespace gptoss::cli
