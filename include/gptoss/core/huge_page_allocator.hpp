// An allocator for large arrays that are streamed through, such as the KV cache: allocations of
// 2 MB or more are aligned to 2 MB and, on Linux, marked for transparent huge pages, so that a
// pass over them does not miss the TLB at every 4 KB page (the KV cache of one head is read 256
// bytes every 2 KB). Smaller ones are aligned to a cache line.
#pragma once
#include <cstddef>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace gptoss {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr std::size_t huge_page = std::size_t(2) << 20;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  static std::size_t alignment(std::size_t bytes) { return bytes >= huge_page ? huge_page : 64; }

  T* allocate(std::size_t n) {
    if (n > std::size_t(-1) / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    void* p = ::operator new(bytes, std::align_val_t(alignment(bytes)));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // Advice only: without huge pages available the memory is still valid, in 4 KB pages.
    if (bytes >= huge_page) ::madvise(p, bytes - bytes % huge_page, MADV_HUGEPAGE);
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    ::operator delete(p, std::align_val_t(alignment(n * sizeof(T))));
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
};

}  // namespace gptoss
