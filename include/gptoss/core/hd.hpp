// GPTOSS_HD marks the math both backends share: plain functions on the host, also device
// functions when compiled by nvcc, so the host tests cover the device math too.
#pragma once

#if defined(__CUDACC__)
#define GPTOSS_HD __host__ __device__
#else
#define GPTOSS_HD
#endif
