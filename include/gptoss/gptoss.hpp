// gptoss: OpenAI's gpt-oss models in header-only C++20. This umbrella header brings in the model,
// loading, generation and the text API (tokenizer, Harmony conversations, generate_reply); include
// the individual headers to pay only for what you use.
#pragma once

#include "gptoss/config/config_json.hpp"
#include "gptoss/config/model_config.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/generate/generate.hpp"
#include "gptoss/generate/reply.hpp"
#include "gptoss/generate/sampler.hpp"
#include "gptoss/harmony/harmony.hpp"
#include "gptoss/io/checkpoint.hpp"
#include "gptoss/model/transformer.hpp"
#include "gptoss/text/tokenizer.hpp"
#include "gptoss/version.hpp"
