// A Harmony reply generated as one request of an engine, so that a conversation's next turn
// continues from the KV cache its last turn left instead of reading the whole conversation again:
// the prompt it renders starts with the one before (the slot's tokens), and the engine's prefix
// cache reads only what follows.
//
//   engine::Engine eng(*model, {.parallel = 1, .ctx_size = 8192});
//   engine::Result r;
//   Reply reply = engine::generate_reply(eng, tok, conv, {.max_tokens = 512}, on_delta, &r);
//   // r.cached_tokens: the prompt tokens not read again
#pragma once
#include <span>

#include "gptoss/engine/engine.hpp"
#include "gptoss/generate/reply.hpp"

namespace gptoss::engine {

namespace detail {
// The caller's constraint, which it keeps: a request owns its constraint.
struct BorrowedConstraint final : TokenConstraint {
  explicit BorrowedConstraint(TokenConstraint& c) : c(c) {}
  void allowed_tokens(std::span<std::uint64_t> words) override { c.allowed_tokens(words); }
  bool allows(token_id t) override { return c.allows(t); }
  void advance(token_id t) override { c.advance(t); }
  bool finished() const override { return c.finished(); }
  TokenConstraint& c;
};
}  // namespace detail

// Renders `conv` for completion and generates the assistant's reply as one request, stepping the
// engine on this thread until it ends: call it only on an engine that no other thread steps
// (not after start()). options.stop_tokens is ignored (a reply stops at <|return|> or <|call|>);
// options.cancelled, asked after each token, stops it there. `result`, when given, receives the
// request's result: cached_tokens, finish. Throws input_error when the prompt and max_tokens do
// not fit the engine's ctx_size, and the error of a failed step.
inline Reply generate_reply(Engine& eng, const text::Tokenizer& tok, const harmony::Conversation& conv,
                            const GenerateOptions& options, const ReplyCallback& on_delta = {},
                            Result* result = nullptr) {
  RequestOptions req;
  req.prompt = harmony::render_for_completion(tok, conv);
  req.max_tokens = options.max_tokens;
  req.sampling = options.sampling;
  req.stop_tokens = assistant_stop_tokens;
  if (options.constraint) req.constraint = std::make_unique<detail::BorrowedConstraint>(*options.constraint);
  ReplyReader reader(tok, on_delta);
  Callbacks cb;
  cb.on_token = [&](const TokenEvent& e) {
    reader.push(e.token);
    return !(options.cancelled && options.cancelled());
  };
  auto handle = eng.submit(std::move(req), std::move(cb));
  while (!handle->done()) eng.step();
  const Result& r = handle->wait();
  if (r.finish == Finish::error) throw error(r.error);
  if (result) *result = r;
  return reader.finish();
}

}  // namespace gptoss::engine
