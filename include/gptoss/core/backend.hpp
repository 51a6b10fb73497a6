// Backend tags: a model or operator is instantiated for the host or for CUDA devices.
#pragma once

namespace gptoss {
struct host {};
struct cuda {};
}  // namespace gptoss
