#include "model_loader.hpp"

#include <limits>

namespace gptoss::cli {

std::unique_ptr<AnyModel> load_model(const Args& args) {
  HostOptions options;
  options.threads = args.number<int>("threads", 0);
  if (options.threads < 0 || options.threads > 1024) throw usage_error("--threads must be in [0, 1024]");
  return open_model<gpt_oss_20b, gpt_oss_120b>(io::Checkpoint::open(args.str("model")), options);
}

std::vector<token_id> token_list(const Args& args, const std::string& name) {
  std::vector<token_id> out;
  for (std::int64_t v : args.int_list(name)) {
    if (v < 0 || v > std::int64_t(std::numeric_limits<token_id>::max()))
      throw usage_error("--" + name + ": " + std::to_string(v) + " is not a token id");
    out.push_back(token_id(v));
  }
  return out;
}

}  // namespace gptoss::cli
