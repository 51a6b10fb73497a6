// Structured decoding: JSON Schema and the Harmony envelope enforced token by token while sampling
// (docs/structured-output.md).
#pragma once
#include "gptoss/constrain/constraint.hpp"
#include "gptoss/constrain/json_matcher.hpp"
#include "gptoss/constrain/schema.hpp"
#include "gptoss/constrain/token_table.hpp"
#include "gptoss/constrain/requests.hpp"
