// gptoss logits: the logits at every position of a token sequence, as a float32 .npy file.
#include <fmt/core.h>

#include "gptoss/tools/npy.hpp"
#include "model_loader.hpp"

namespace gptoss::cli {
namespace {

int run_logits(const Args& args) {
  auto tokens = token_list(args, "tokens");
  const std::string out = args.str("out");
  auto model = load_model(args);
  auto seq = model->new_sequence(std::min<std::int64_t>(std::int64_t(tokens.size()), model->config().max_context()));
  auto logits = model->prefill(seq, tokens, Logits::all);
  tools::write_npy(out, logits, {std::int64_t(tokens.size()), model->config().vocab_size});
  return 0;
}

const Register reg{{
    .name = "logits",
    .summary = "write the logits at every position to a .npy file",
    .usage = "gptoss logits -m DIR --tokens 1,2,3 --out FILE.npy [-t N] [--device cpu|cuda]",
    .options = with_model_options({{"--tokens", "the token ids, comma-separated", "IDS"},
                                   {"--out", "the .npy file to write: float32, shape [tokens, vocab]", "FILE"}}),
    .run = run_logits,
}};

}  // namespace
}  // namespace gptoss::cli
