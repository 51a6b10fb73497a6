// The logits llama.cpp computes for a sequence of token ids, at every position, as raw float32
// [tokens, vocab] (the layout of `gptoss logits`' .npy data): tools/compare-llama.sh --verify
// sets them against gptoss's on the same weights. Built against llama.cpp's library by that
// script; not part of the gptoss build.
//
// usage: llama-logits MODEL.gguf OUT.bin ID ID ...
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "llama.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.gguf OUT.bin ID ID ...\n", argv[0]);
    return 2;
  }
  llama_backend_init();
  llama_model* model = llama_model_load_from_file(argv[1], llama_model_default_params());
  if (!model) return std::fprintf(stderr, "%s: cannot load\n", argv[1]), 1;
  const int n = argc - 3;
  auto cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = n < 64 ? 64 : n;
  cp.n_threads = cp.n_threads_batch = 1;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return std::fprintf(stderr, "cannot make a context\n"), 1;
  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    batch.token[i] = std::atoi(argv[3 + i]);
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;  // logits at every position, not only the last
  }
  batch.n_tokens = n;
  if (llama_decode(ctx, batch) != 0) return std::fprintf(stderr, "llama_decode failed\n"), 1;
  const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  FILE* out = std::fopen(argv[2], "wb");
  if (!out) return std::fprintf(stderr, "%s: cannot create\n", argv[2]), 1;
  for (int i = 0; i < n; ++i) std::fwrite(llama_get_logits_ith(ctx, i), sizeof(float), vocab, out);
  if (std::fclose(out) != 0) return std::fprintf(stderr, "%s: write failed\n", argv[2]), 1;
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
