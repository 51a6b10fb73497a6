// The smallest program that embeds gptoss, text in and text out: load a checkpoint of any shape,
// ask it one question as a Harmony conversation, and stream the final answer.
//   embed_example MODEL_DIR "What is the capital of France?" [MAX_TOKENS]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gptoss/gptoss.hpp>

int main(int argc, char** argv) try {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: embed_example MODEL_DIR QUESTION [MAX_TOKENS]   (MODEL_DIR: e.g. gpt-oss-20b/original)\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  // Transformer<gptoss::gpt_oss_20b> compiles every dimension in; dynamic_config reads the shape.
  gptoss::Transformer<gptoss::dynamic_config> model(gptoss::io::Checkpoint::open(dir));
  // The vocabulary: tokenizer.json beside the model (the official release's parent folder), else
  // $GPTOSS_VOCAB or the installed o200k_base.tiktoken.
  std::error_code ec;
  const auto vocab = dir.parent_path() / "tokenizer.json";
  const auto tokenizer = std::filesystem::is_regular_file(vocab, ec) ? gptoss::text::Tokenizer::from_file(vocab)
                                                                     : gptoss::text::Tokenizer::load_default();

  gptoss::harmony::Conversation conversation;
  conversation.system().user(argv[2]);
  gptoss::GenerateOptions options;
  // The reasoning (analysis channel) comes first, then the answer: leave room for both.
  options.max_tokens = argc == 4 ? std::atoi(argv[3]) : 1024;
  if (options.max_tokens < 1) {
    std::fprintf(stderr, "MAX_TOKENS must be a positive number\n");
    return 2;
  }
  const auto reply = gptoss::generate_reply(model, tokenizer, conversation, options, [](const gptoss::ReplyDelta& d) {
    if (d.channel == "final") std::fputs(d.text.c_str(), stdout), std::fflush(stdout);
  });
  // A random test model rarely writes valid Harmony: show what it wrote instead.
  if (reply.parse_failed) std::fputs(tokenizer.decode(reply.tokens).c_str(), stdout);
  std::printf("\n");
} catch (const gptoss::error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
