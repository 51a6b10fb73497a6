// gptoss: run, inspect, tokenize and benchmark gpt-oss models from the command line.
// Options are parsed by CLI11, which also writes every --help from the commands' declarations.
#include <cstdio>
#include <exception>
#include <iostream>
#include <list>
#include <tuple>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/version.hpp"

using namespace gptoss::cli;

namespace {

// The synopsis of each command as its source file declares it, in lower case as all of this
// program's messages are.
class Formatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    if (app->get_parent() == nullptr) return "usage: gptoss COMMAND [OPTIONS]   (gptoss COMMAND --help for its options)\n";
    auto it = registry().find(app->get_name());
    return it == registry().end() ? CLI::Formatter::make_usage(app, name) : "usage: " + it->second.usage + "\n";
  }
};

// What CLI11 parsed for one command, bound to its options.
struct Parsed {
  const Command* command = nullptr;
  CLI::App* app = nullptr;
  std::map<std::string, std::string> values;  // bound by CLI11, read only where given
  std::vector<std::tuple<std::string, CLI::Option*, bool>> options;  // key, option, is a flag
  std::vector<std::string> words;
};

int usage_failure(const Command& cmd, const std::string& message) {
  fmt::print(stderr, "gptoss {}: {}\nusage: {}\nRun 'gptoss {} --help' for every option.\n", cmd.name, message, cmd.usage,
             cmd.name);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gptoss: OpenAI's gpt-oss models on the CPU and CUDA (version " GPTOSS_VERSION_STRING ")", "gptoss"};
  app.formatter(std::make_shared<Formatter>());
  app.set_version_flag("--version", "gptoss " GPTOSS_VERSION_STRING);
  app.require_subcommand(0, 1);

  std::list<Parsed> parsed;  // stable addresses: CLI11 keeps pointers into `values`
  for (const auto& [name, cmd] : registry()) {
    Parsed& p = parsed.emplace_back();
    p.command = &cmd;
    p.app = app.add_subcommand(name, cmd.summary);
    p.app->group("Commands");
    if (!cmd.details.empty()) p.app->footer(cmd.details);
    std::vector<Opt> opts = cmd.options;
    opts.push_back(verbose_opt);
    opts.push_back(quiet_opt);
    for (const Opt& o : opts) {
      const std::string key = long_name(o.names);
      CLI::Option* option = o.value_name.empty() ? p.app->add_flag(o.names, o.help)
                                                 : p.app->add_option(o.names, p.values[key], o.help)->type_name(o.value_name);
      p.options.emplace_back(key, option, o.value_name.empty());
    }
    if (!cmd.words_name.empty()) p.app->add_option(cmd.words_name, p.words, "what to do: see the usage line")->type_name("");
  }

  if (argc < 2) {
    fmt::print(stderr, "{}", app.help());
    return 2;
  }
  const std::string first = argv[1];
  if (first.rfind("-", 0) != 0 && !registry().count(first)) {
    fmt::print(stderr, "gptoss: unknown command '{}'\n\n{}", first, app.help());
    return 2;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own error codes (106 for a conversion, 109 for extras, ...) all mean bad arguments.
    auto it = registry().find(first);
    if (it == registry().end()) {
      fmt::print(stderr, "gptoss: {}\n\n{}", e.what(), app.help());
      return 2;
    }
    return usage_failure(it->second, e.what());
  }

  const Parsed* chosen = nullptr;
  for (const Parsed& p : parsed)
    if (p.app->parsed()) chosen = &p;
  if (!chosen) {
    fmt::print(stderr, "gptoss: no command given\n\n{}", app.help());
    return 2;
  }
  const Command& cmd = *chosen->command;
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  for (const Opt& o : cmd.options) {
    // "-n,--max-tokens,--n-predict" is named "-n/--max-tokens".
    const std::string key = long_name(o.names);
    const bool has_short = o.names.size() > 1 && o.names[0] == '-' && o.names[1] != '-';
    option_labels()[key] = (has_short ? o.names.substr(0, o.names.find(',')) + "/" : std::string()) + "--" + key;
  }
  for (const auto& [key, option, is_flag] : chosen->options) {
    if (option->count() == 0) continue;
    if (is_flag) flags.insert(key);
    else values[key] = chosen->values.at(key);
  }
  try {
    if (flags.count("verbose") && flags.count("quiet")) throw usage_error("-v/--verbose and -q/--quiet exclude each other");
    return cmd.run(Args(std::move(values), std::move(flags), chosen->words));
  } catch (const usage_error& e) {
    return usage_failure(cmd, e.what());
  } catch (const gptoss::error& e) {
    fmt::print(stderr, "gptoss {}: error: {}\n", cmd.name, one_line(e.what()));
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "gptoss {}: error: out of memory\n", cmd.name);
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "gptoss {}: error: {}\n", cmd.name, one_line(e.what()));
    return 1;
  }
}
