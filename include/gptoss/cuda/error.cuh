// Error checking for the CUDA backend: every runtime call and every kernel launch goes through
// GPTOSS_CUDA_CHECK or check_launch, which turn a failure into a gptoss::cuda_error naming the
// call, the file and line, and CUDA's own description.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "gptoss/core/error.hpp"

namespace gptoss {

// A CUDA runtime call or kernel launch failed (no device, out of memory, a fault in a kernel).
struct cuda_error : error {
  using error::error;
};

namespace gpu {

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clears a sticky-free error so later calls do not report it again
  throw cuda_error(std::string("CUDA error in ") + call + " (" + file + ":" + std::to_string(line) +
                   "): " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

// After a <<<...>>> launch: configuration errors are reported at once by cudaGetLastError; faults
// inside the kernel surface at the next synchronizing call, which is checked too.
inline void check_launch(const char* kernel, const char* file, int line) {
  check(cudaGetLastError(), kernel, file, line);
}

}  // namespace gpu
}  // namespace gptoss

#define GPTOSS_CUDA_CHECK(call) ::gptoss::gpu::check((call), #call, __FILE__, __LINE__)
#define GPTOSS_CUDA_LAUNCHED(kernel) ::gptoss::gpu::check_launch("launch of " kernel, __FILE__, __LINE__)
