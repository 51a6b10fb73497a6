// Decoding allocates nothing: once a sequence has run its first steps (which size the workspace
// for the model's longest context), further decode steps, alone or batched as the engine runs
// them, make no heap allocation. This program replaces the global operator new to count them.
#define BOOST_TEST_MODULE decode_allocations
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <span>
#include <vector>

#include "common/golden.hpp"
#include "gptoss/model/transformer.hpp"
#include "gptoss/tools/presets.hpp"

namespace {
std::atomic<long> allocations{0};

void* counted(std::size_t n, std::size_t align = 0) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = align ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, std::size_t(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, std::size_t(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace gptoss;
using namespace gptoss::tools;

namespace {

template <ModelConfig C>
Transformer<C> open_tiny() {
  return Transformer<C>(io::Checkpoint::open(test::tiny_dir + "/original"), {.threads = 2});
}

// Allocations made by f.
template <class F>
long allocations_in(F&& f) {
  const long before = allocations.load();
  f();
  return allocations.load() - before;
}

template <ModelConfig C>
void check_decode_allocates_nothing() {
  auto model = open_tiny<C>();
  const std::int64_t V = model.config().vocab_size;
  std::mt19937 rng(3);
  std::vector<token_id> prompt(20);
  for (auto& t : prompt) t = token_id(rng() % std::uint32_t(V));

  // One sequence, greedy decoding as generate() runs it.
  auto seq = model.new_sequence(200);
  model.prefill(seq, prompt);
  Candidate best[1];
  token_id next = 1;
  for (int i = 0; i < 3; ++i) model.decode_top_k(seq, next, best), next = best[0].token;
  BOOST_CHECK_EQUAL(allocations_in([&] {
                      for (int i = 0; i < 40; ++i) model.decode_top_k(seq, next, best), next = best[0].token;
                    }),
                    0);

  // Four sequences in one forward call a step, logits into the caller's buffer: the engine's step.
  std::vector<KvCache> seqs;
  for (int i = 0; i < 4; ++i) {
    seqs.push_back(model.new_sequence(200));
    model.prefill(seqs.back(), std::span<const token_id>(prompt).first(std::size_t(5 + i)));
  }
  std::vector<token_id> tokens(4, 7);
  std::vector<StepOf<KvCache>> steps;
  for (int i = 0; i < 4; ++i) steps.push_back({seqs[std::size_t(i)], std::span<const token_id>(&tokens[std::size_t(i)], 1)});
  std::vector<float> logits(std::size_t(4 * V));
  for (int i = 0; i < 3; ++i) model.forward(steps, Logits::last, logits);
  BOOST_CHECK_EQUAL(allocations_in([&] {
                      for (int i = 0; i < 40; ++i) model.forward(steps, Logits::last, logits);
                    }),
                    0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(compiled_config_decodes_without_allocating) { check_decode_allocates_nothing<tiny_test>(); }
BOOST_AUTO_TEST_CASE(dynamic_config_decodes_without_allocating) { check_decode_allocates_nothing<dynamic_config>(); }

// The counter works: it sees an allocation (so that the checks above can fail).
BOOST_AUTO_TEST_CASE(the_counter_sees_allocations) {
  BOOST_CHECK_GE(allocations_in([] { auto* v = new std::vector<int>(100); delete v; }), 2);
}
