// Token ids. Unsigned 32-bit so that any id a caller may hand us (even a hostile one) is
// representable and can be checked against the vocabulary rather than wrapping.
#pragma once
#include <cstdint>

namespace gptoss {
using token_id = std::uint32_t;
}
