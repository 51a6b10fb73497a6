#pragma once
#include "gptoss/model/above.hpp"
