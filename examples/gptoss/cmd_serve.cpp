// gptoss serve: an OpenAI-compatible HTTP server (Chat Completions and Responses) with continuous
// batching over the engine (include/gptoss/engine/). The protocol lives in serve/; this file reads
// the options. Built with the server only when cpp-httplib was found (GPTOSS_WITH_SERVE).
#include <cstdio>

#include <fmt/core.h>

#include "chat_args.hpp"
#include "cli.hpp"
#include "model_loader.hpp"
#ifdef GPTOSS_WITH_SERVE
#include "serve/server.hpp"
#endif

namespace gptoss::cli {
namespace {

int run_serve(const Args& args) {
#ifndef GPTOSS_WITH_SERVE
  (void)args;
  throw error("this gptoss was built without the HTTP server: cpp-httplib was not found (Debian: libcpp-httplib-dev)");
#else
  check_model_dir(args);
  serve::ServerOptions o;
  o.host = args.str("host", "127.0.0.1");
  o.port = args.number_in<int>("port", 8080, 0, 65535);
  o.api_key = args.str("api-key", "");
  o.parallel = args.number_in<int>("parallel", 4, 1, 256);
  o.ctx_size = args.number_in<std::int64_t>("ctx-size", 4096, 16, std::int64_t(1) << 20);
  o.max_queue = std::size_t(args.number_in<int>("queue", 64, 1, 1 << 16));
  const int budget = args.number_in<int>("reasoning-budget", -1, -1, 1 << 24);
  if (budget >= 0) o.reasoning_budget = budget;
  const auto tok = load_vocabulary(args);
  const bool quiet = args.flag("quiet");
  auto log = [quiet](const std::string& line) {
    if (!quiet || line.rfind("error", 0) == 0 || line.rfind("cannot", 0) == 0) {
      fmt::print(stderr, "gptoss serve: {}\n", line);
      std::fflush(stderr);
    }
  };
  return serve::run_server(o, tok, [&] {
    auto model = load_model(args);
    if (o.ctx_size > model->config().max_context())
      throw input_error(fmt::format("--ctx-size {} exceeds the model's context of {} tokens", o.ctx_size, model->config().max_context()));
    return model;
  }, log);
#endif
}

const Register reg{{
    .name = "serve",
    .summary = "an OpenAI-compatible HTTP server (chat completions, responses) with continuous batching",
    .usage = "gptoss serve -m DIR [--vocab FILE] [--host H] [--port P] [--parallel N] [-c N] [--api-key KEY] "
             "[--reasoning-budget N] [-t N] [--device cpu|cuda] [--precision exact|bf16]",
    .options = with_model_options({
        {"--vocab", "the vocabulary file (tokenizer.json or o200k_base.tiktoken); default: beside the model", "FILE"},
        {"--host", "address to listen on (default 127.0.0.1)", "H"},
        {"--port", "port to listen on (default 8080; 0 picks a free one)", "P"},
        {"--parallel", "requests generated at once, each with a KV cache of --ctx-size tokens reserved at start (default 4)", "N"},
        {"-c,--ctx-size", "tokens per request, prompt and reply together (default 4096)", "N"},
        {"--queue", "requests waiting for a slot before more are refused with 503 (default 64)", "N"},
        {"--api-key", "require Authorization: Bearer KEY on /v1 requests", "KEY"},
        {"--reasoning-budget", "default most reasoning tokens per reply; -1 unlimited (default); requests may set reasoning_budget", "N"},
    }),
    .run = run_serve,
    .details = "Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions, POST /v1/responses (docs/server.md).",
}};

}  // namespace
}  // namespace gptoss::cli
