// kaa/types.hpp — small shared vocabulary types.
#pragma once

#include <cstdint>

namespace kaa {

using Token = int32_t;  // a token id in [0, n_vocab)

}  // namespace kaa
