// Structured replies: generate_reply() under a constraint that keeps the reply well-formed Harmony
// with only declared channels and tools, forces tool calls (tool_choice), bounds the reasoning
// (reasoning_budget) and makes the final answer (response_format) or a call's arguments valid
// JSON of their schemas. A schema the engine cannot enforce is refused before anything runs
// (constrain::schema_error names the keyword and its path).
//
//   constrain::StructuredOutput so;
//   so.response_format = {constrain::ResponseFormat::Kind::json_schema, schema};
//   so.reasoning_budget = 64;
//   Reply r = generate_structured_reply(model, tok, conv, {.max_tokens = 512}, so);
#pragma once
#include "gptoss/constrain/constraint.hpp"
#include "gptoss/generate/reply.hpp"

namespace gptoss {

template <class Model>
Reply generate_structured_reply(Model& model, const text::Tokenizer& tok, const harmony::Conversation& conv,
                                GenerateOptions options, const constrain::StructuredOutput& structure,
                                const ReplyCallback& on_delta = {}) {
  constrain::Constraint c(tok, conv, structure);
  options.constraint = &c;
  return generate_reply(model, tok, conv, options, on_delta);
}

}  // namespace gptoss
