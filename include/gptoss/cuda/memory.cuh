// Device memory: an owning RAII buffer, pinned host staging memory, streams and events, device
// queries and the device's measured bandwidth.
#pragma once
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>

#include "gptoss/cuda/error.cuh"

namespace gptoss::gpu {

// Whether an NVIDIA driver is installed here: its device nodes or its library. Tells a machine
// without a GPU stack from one whose stack is broken, which cudaGetDeviceCount reports alike.
inline bool driver_present() {
  std::error_code ec;
  if (std::filesystem::exists("/dev/nvidiactl", ec) || std::filesystem::exists("/dev/nvidia0", ec)) return true;
  if (void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
    dlclose(lib);
    return true;
  }
  return false;
}

// What cudaGetDeviceCount's status means. No device, and no driver at all (the runtime then says
// "insufficient driver"), are machines without a GPU: 0 devices. Any other error, or "insufficient
// driver" with a driver installed (a driver older than the runtime), is a broken setup: an error,
// never mistaken for "no GPU".
enum class DeviceProbe { devices, none, broken };
inline DeviceProbe classify_device_count(cudaError_t status, bool driver_installed) {
  if (status == cudaSuccess) return DeviceProbe::devices;
  if (status == cudaErrorNoDevice) return DeviceProbe::none;
  if (status == cudaErrorInsufficientDriver && !driver_installed) return DeviceProbe::none;
  return DeviceProbe::broken;
}

// Number of usable CUDA devices: 0 on a machine without a GPU or without a driver; a cuda_error
// when the driver or runtime fails.
inline int device_count() {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  cudaGetLastError();
  switch (classify_device_count(status, status == cudaSuccess || driver_present())) {
    case DeviceProbe::devices: return n;
    case DeviceProbe::none: return 0;
    case DeviceProbe::broken: break;
  }
  throw cuda_error(std::string("CUDA is installed but unusable: cudaGetDeviceCount failed with ") +
                   cudaGetErrorName(status) + ": " + cudaGetErrorString(status) +
                   (status == cudaErrorInsufficientDriver ? " (the NVIDIA driver is older than this CUDA runtime)" : ""));
}

inline bool has_device() { return device_count() > 0; }

inline std::string device_name(int device) {
  cudaDeviceProp p{};
  GPTOSS_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  return p.name;
}

struct MemoryInfo {
  std::size_t free = 0, total = 0;
};
inline MemoryInfo memory_info() {
  MemoryInfo m;
  GPTOSS_CUDA_CHECK(cudaMemGetInfo(&m.free, &m.total));
  return m;
}

inline double gib(std::size_t bytes) { return double(bytes) / double(1u << 30); }

// Owns n elements of device memory (uninitialised). Move-only.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n) {
    if (n) GPTOSS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)));
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { release(); }

  T* get() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }

 private:
  void release() {
    if (p_) cudaFree(p_);  // errors on free cannot be reported from a destructor
    p_ = nullptr;
  }
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// Page-locked host memory, so that copies to and from the device can be asynchronous.
template <class T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t n) : n_(n) {
    if (n) GPTOSS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&p_), n * sizeof(T)));
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      if (p_) cudaFreeHost(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
  }
  T* get() const { return p_; }
  T& operator[](std::size_t i) const { return p_[i]; }
  std::size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// Owns a stream; the model runs all its work on one.
class Stream {
 public:
  Stream() { GPTOSS_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  cudaStream_t get() const { return s_; }
  void synchronize() const { GPTOSS_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

// Owns an event, for timing work on a stream.
class Event {
 public:
  Event() { GPTOSS_CUDA_CHECK(cudaEventCreate(&e_)); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  void record(cudaStream_t s) const { GPTOSS_CUDA_CHECK(cudaEventRecord(e_, s)); }
  // Milliseconds from `start` to this event, once this one has completed.
  float ms_since(const Event& start) const {
    GPTOSS_CUDA_CHECK(cudaEventSynchronize(e_));
    float ms = 0.0f;
    GPTOSS_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
    return ms;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

// Owns an executable CUDA graph: work recorded once from a stream and launched again as a whole.
class GraphExec {
 public:
  GraphExec() = default;
  // Ends the capture running on `s` and instantiates what it recorded.
  static GraphExec end_capture(cudaStream_t s) {
    cudaGraph_t graph = nullptr;
    GPTOSS_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
    GraphExec g;
    const cudaError_t made = cudaGraphInstantiate(&g.exec_, graph, 0);
    cudaGraphDestroy(graph);
    GPTOSS_CUDA_CHECK(made);
    return g;
  }
  GraphExec(GraphExec&& o) noexcept : exec_(std::exchange(o.exec_, nullptr)) {}
  GraphExec& operator=(GraphExec&& o) noexcept {
    if (this != &o) {
      if (exec_) cudaGraphExecDestroy(exec_);
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  ~GraphExec() {
    if (exec_) cudaGraphExecDestroy(exec_);
  }
  void launch(cudaStream_t s) const { GPTOSS_CUDA_CHECK(cudaGraphLaunch(exec_, s)); }
  explicit operator bool() const { return exec_ != nullptr; }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// The current device's memory bandwidth in GB/s, as a device-to-device copy of `bytes` moves it
// (bytes read plus bytes written, the best of a few copies): the ceiling of memory-bound kernels.
inline double measure_copy_bandwidth(std::size_t bytes = std::size_t(1) << 30) {
  DeviceBuffer<std::uint8_t> from(bytes), to(bytes);
  GPTOSS_CUDA_CHECK(cudaMemset(from.get(), 1, bytes));  // real pages, not a first touch, in the timing
  const Stream stream;
  const Event start, stop;
  double best = 0.0;
  for (int pass = 0; pass < 5; ++pass) {
    start.record(stream.get());
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(to.get(), from.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
    stop.record(stream.get());
    best = std::max(best, 2.0 * double(bytes) / (double(stop.ms_since(start)) * 1e6));
  }
  return best;
}

}  // namespace gptoss::gpu
