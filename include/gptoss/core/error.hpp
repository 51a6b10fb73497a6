// Errors: every failure the library reports is an exception deriving from gptoss::error, with a
// message that names the file, tensor, field or token at fault.
#pragma once
#include <stdexcept>
#include <string>

namespace gptoss {

struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A file could not be opened, mapped or read.
struct io_error : error {
  using error::error;
};

// A file's contents are malformed: bad header, bad offsets, wrong dtype or shape, bad JSON.
struct format_error : error {
  using error::error;
};

// A checkpoint's configuration does not match the configuration the program was compiled for.
struct config_error : error {
  using error::error;
};

// A caller passed a bad value: a token id outside the vocabulary, a prompt longer than the context.
struct input_error : error {
  using error::error;
};

}  // namespace gptoss
