// `gptoss serve`: an OpenAI-compatible HTTP server over the engine (cpp-httplib).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gptoss/model/any_model.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;  // empty: none asked for
  int parallel = 4;
  std::int64_t ctx_size = 4096;
  std::size_t max_queue = 64;
  std::optional<int> reasoning_budget;
  std::string model_name = "gptoss";
};

// Listens at once (GET /health answers 503 until the model is loaded), loads the model with
// `load`, then serves until the process ends. `log` receives one line per event. Returns the
// exit code: 1 when the port cannot be bound or the model cannot be loaded.
int run_server(const ServerOptions& opt, const text::Tokenizer& tok, const std::function<std::unique_ptr<AnyModel>()>& load,
               const std::function<void(const std::string&)>& log);

}  // namespace gptoss::serve
