#pragma once
#include "gptoss/host/detail/internal.hpp"
