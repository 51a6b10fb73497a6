// The smallest program that embeds gptoss: load a checkpoint compiled for its shape, then greedily
// continue a prompt, one token at a time, on the host.
#include <cstdio>
#include <vector>

#include <gptoss/gptoss.hpp>

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: embed_example MODEL_DIR   (e.g. tests/data/tiny/original)\n");
    return 2;
  }
  auto model = gptoss::Transformer<gptoss::dynamic_config>(gptoss::io::Checkpoint::open(argv[1]));
  std::vector<gptoss::token_id> prompt = {1, 2, 3};
  auto sequence = model.new_sequence(64);
  auto logits = model.prefill(sequence, prompt);
  for (int i = 0; i < 8; ++i) {
    gptoss::token_id next = gptoss::argmax(logits);
    std::printf("%u ", next);
    model.decode(sequence, next, logits);
  }
  std::printf("\n");
} catch (const gptoss::error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
