// A random checkpoint that lives in memory only, for `gptoss bench --synthetic`: the shapes of the
// real models can be measured on machines whose disk cannot hold them (gpt-oss-120b is 65 GB).
#pragma once
#include <filesystem>
#include <string>

#include "gptoss/io/checkpoint.hpp"
#include "gptoss/tools/synth.hpp"

namespace gptoss::cli {

// The weights are written into an anonymous memory file (memfd), reached through a temporary
// folder that holds config.json and a link to it; the folder is removed with this object, and the
// memory once the checkpoint that maps it is gone too.
class InMemoryCheckpoint {
 public:
  InMemoryCheckpoint(const ModelConfig& config, const tools::SynthOptions& options);
  ~InMemoryCheckpoint();
  InMemoryCheckpoint(const InMemoryCheckpoint&) = delete;
  InMemoryCheckpoint& operator=(const InMemoryCheckpoint&) = delete;

  io::Checkpoint open() const { return io::Checkpoint::open(dir_); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void release() noexcept;
  std::filesystem::path dir_;
  int fd_ = -1;
};

}  // namespace gptoss::cli
