// The Harmony chat format of gpt-oss: everything in one include.
#pragma once
#include "gptoss/harmony/builtin_tools.hpp"
#include "gptoss/harmony/json.hpp"
#include "gptoss/harmony/message.hpp"
#include "gptoss/harmony/parse.hpp"
#include "gptoss/harmony/render.hpp"
#include "gptoss/harmony/requests.hpp"
#include "gptoss/harmony/tools.hpp"
