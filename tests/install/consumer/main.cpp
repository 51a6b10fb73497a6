// A program that uses gptoss as users do: greedy decoding of four tokens after the tiny fixture's
// greedy prompt (tests/data/tiny/README.md, `greedy.prompt`).
#include <cstdio>

#include <gptoss/gptoss.hpp>

// The installed headers carry the version of the project that installed them.
static_assert(GPTOSS_VERSION_MAJOR >= 0 && GPTOSS_VERSION_MINOR >= 0 && GPTOSS_VERSION_PATCH >= 0);
static_assert(GPTOSS_VERSION == GPTOSS_VERSION_MAJOR * 10000 + GPTOSS_VERSION_MINOR * 100 + GPTOSS_VERSION_PATCH);

// A config of the user's own, as an embedded deployment would compile in: the tiny fixture's
// shape. The checkpoint is checked against it when opened.
constexpr gptoss::ModelConfig tiny = [] {
  gptoss::ModelConfig c = gptoss::gpt_oss_20b;
  c.num_hidden_layers = 4;
  c.num_experts = 8;
  c.vocab_size = 1000;
  c.hidden_size = 160;
  c.intermediate_size = 96;
  c.head_dim = 32;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.sliding_window = 8;
  return c;
}();

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer CHECKPOINT_DIR\n");
    return 2;
  }
  gptoss::Transformer<tiny> model(gptoss::io::Checkpoint::open(argv[1]));
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
