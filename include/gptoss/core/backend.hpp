// Backend tags: the type that selects where a model runs, Transformer<Config, backend::host> or
// Transformer<Config, backend::cuda>. They live in their own namespace so that `cuda` never hides
// CCCL's ::cuda namespace inside namespace gptoss.
#pragma once

namespace gptoss::backend {
struct host {};
struct cuda {};
}  // namespace gptoss::backend
