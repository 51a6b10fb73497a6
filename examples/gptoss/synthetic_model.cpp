#include "synthetic_model.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace gptoss::cli {

InMemoryCheckpoint::InMemoryCheckpoint(const ModelConfig& config, const tools::SynthOptions& options) {
  std::string pattern = (std::filesystem::temp_directory_path() / "gptoss-synthetic-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw io_error(pattern + ": cannot create a temporary folder: " + std::strerror(errno));
  dir_ = pattern;
  try {
    fd_ = ::memfd_create("gptoss-synthetic-weights", MFD_CLOEXEC);
    if (fd_ < 0) throw io_error(std::string("memfd_create: ") + std::strerror(errno));
    // Writing to and mapping DIR/model.safetensors reach the memory file through /proc.
    const std::string target = "/proc/self/fd/" + std::to_string(fd_);
    if (::symlink(target.c_str(), (dir_ / "model.safetensors").c_str()) != 0)
      throw io_error((dir_ / "model.safetensors").string() + ": cannot link to the memory file: " + std::strerror(errno));
    tools::SynthOptions opt = options;
    opt.layout = Layout::original;  // one file, which the link stands for
    tools::synthesize_checkpoint(config, dir_, opt);
  } catch (...) {
    release();
    throw;
  }
}

InMemoryCheckpoint::~InMemoryCheckpoint() { release(); }

void InMemoryCheckpoint::release() noexcept {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  if (fd_ >= 0) ::close(fd_);
  dir_.clear(), fd_ = -1;
}

}  // namespace gptoss::cli
