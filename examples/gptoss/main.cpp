// gptoss: run, inspect, tokenize and benchmark gpt-oss models from the command line.
#include <cstdio>
#include <exception>

#include <fmt/core.h>

#include "cli.hpp"
#include "gptoss/core/error.hpp"

using namespace gptoss::cli;

static void print_overview(std::FILE* out) {
  fmt::print(out, "usage: gptoss COMMAND [OPTIONS]\n\ncommands:\n");
  for (const auto& [name, cmd] : registry()) fmt::print(out, "  {:<12} {}\n", name, cmd.summary);
  fmt::print(out, "\n`gptoss COMMAND --help` shows a command's options.\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h") {
    print_overview(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  auto it = registry().find(argv[1]);
  if (it == registry().end()) {
    fmt::print(stderr, "gptoss: unknown command '{}'\n\n", argv[1]);
    print_overview(stderr);
    return 2;
  }
  const Command& cmd = it->second;
  std::vector<std::string> rest(argv + 2, argv + argc);
  for (const auto& a : rest)
    if (a == "--help" || a == "-h") {
      fmt::print("{}", cmd.usage);
      return 0;
    }
  try {
    Args args(rest, cmd.flags, cmd.options);
    return cmd.run(args);
  } catch (const usage_error& e) {
    fmt::print(stderr, "gptoss {}: {}\n\n{}", cmd.name, e.what(), cmd.usage);
    return 2;
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
