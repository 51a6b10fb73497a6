// gptoss: OpenAI's gpt-oss models in header-only C++20. This umbrella header brings in the model,
// loading and generation; include the individual headers to pay only for what you use.
#pragma once

#include "gptoss/config/config_json.hpp"
#include "gptoss/config/model_config.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/generate/generate.hpp"
#include "gptoss/generate/sampler.hpp"
#include "gptoss/io/checkpoint.hpp"
#include "gptoss/model/transformer.hpp"
