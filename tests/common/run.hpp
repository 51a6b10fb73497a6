// Running the gptoss program from a test: exit code, stdout and stderr.
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "common/temp_dir.hpp"

namespace test {

struct RunResult {
  int exit_code;  // -1 when killed by a signal
  std::string out, err;
};

// Runs `gptoss ARGS` through the shell (ARGS already quoted), optionally feeding `input` on stdin.
inline RunResult run_cli(const std::string& args, const std::string& input = "") {
  TempDir dir;
  write_file(dir / "in", input);
  const std::string cmd = std::string("timeout 120 '") + GPTOSS_CLI + "' " + args + " < '" + (dir / "in").string() +
                          "' > '" + (dir / "out").string() + "' 2> '" + (dir / "err").string() + "'";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(dir / "out");
  r.err = read_file(dir / "err");
  return r;
}

}  // namespace test
