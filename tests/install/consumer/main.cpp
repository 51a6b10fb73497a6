// A program that uses gptoss as users do: greedy decoding of four tokens after the tiny fixture's
// greedy prompt (tests/data/tiny/README.md, `greedy.prompt`).
#include <cstdio>

#include <gptoss/gptoss.hpp>

// The installed headers carry the version of the project that installed them.
static_assert(GPTOSS_VERSION_MAJOR >= 0 && GPTOSS_VERSION_MINOR >= 0 && GPTOSS_VERSION_PATCH >= 0);
static_assert(GPTOSS_VERSION == GPTOSS_VERSION_MAJOR * 10000 + GPTOSS_VERSION_MINOR * 100 + GPTOSS_VERSION_PATCH);

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer CHECKPOINT_DIR\n");
    return 2;
  }
  gptoss::Transformer<gptoss::tiny_test> model(gptoss::io::Checkpoint::open(argv[1]));
  std::vector<gptoss::token_id> prompt = {567, 434, 468, 74, 189, 140, 979};
  auto seq = model.new_sequence(16);
  auto logits = model.prefill(seq, prompt);
  for (int i = 0; i < 4; ++i) {
    auto t = gptoss::argmax(logits);
    std::printf("%u ", t);
    model.decode(seq, t, logits);
  }
  std::printf("\n");
} catch (const gptoss::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
