// AnyModel: a Transformer whose config is chosen at run time among those a program compiles in.
// Programs that load whatever checkpoint a user names (like the gptoss command) open it through
// open_model<Configs...>(), which instantiates a compile-time Transformer for each listed config
// and dynamic_config for any other shape.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gptoss/model/transformer.hpp"

namespace gptoss {

class AnyModel {
 public:
  virtual ~AnyModel() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const io::Checkpoint& checkpoint() const = 0;
  virtual bool compiled_config() const = 0;  // false when the shape came from the checkpoint
  virtual int threads() const = 0;
  virtual void forward(std::span<const Step> steps, Logits which, std::span<float> out) = 0;
  virtual void set_trace(ops::Trace trace) = 0;

  KvCache new_sequence(std::int64_t capacity) const { return KvCache(config(), capacity); }

  std::vector<float> forward(std::span<const Step> steps, Logits which = Logits::last) {
    std::int64_t rows = 0;
    for (const Step& st : steps) rows += which == Logits::all ? std::int64_t(st.tokens.size()) : 1;
    std::vector<float> out(std::size_t(rows) * config().vocab_size);
    forward(steps, which, out);
    return out;
  }
  std::vector<float> prefill(KvCache& seq, std::span<const token_id> tokens, Logits which = Logits::last) {
    Step step{seq, tokens};
    return forward(std::span<const Step>(&step, 1), which);
  }
  void decode(KvCache& seq, token_id token, std::span<float> logits) {
    Step step{seq, std::span<const token_id>(&token, 1)};
    forward(std::span<const Step>(&step, 1), Logits::last, logits);
  }
};

template <ModelConfig Config>
class ModelAdapter final : public AnyModel {
 public:
  ModelAdapter(io::Checkpoint ckpt, HostOptions options) : model_(std::move(ckpt), options) {}
  const ModelConfig& config() const override { return model_.config(); }
  const io::Checkpoint& checkpoint() const override { return model_.checkpoint(); }
  bool compiled_config() const override { return !Config.is_dynamic(); }
  int threads() const override { return model_.threads(); }
  void forward(std::span<const Step> steps, Logits which, std::span<float> out) override { model_.forward(steps, which, out); }
  void set_trace(ops::Trace trace) override { model_.set_trace(std::move(trace)); }

 private:
  Transformer<Config, host> model_;
};

template <ModelConfig... Configs>
std::unique_ptr<AnyModel> open_model(io::Checkpoint ckpt, HostOptions options = {}) {
  std::unique_ptr<AnyModel> model;
  auto try_config = [&]<ModelConfig C>() {
    if (!model && ckpt.config() == C) model = std::make_unique<ModelAdapter<C>>(std::move(ckpt), options);
  };
  (try_config.template operator()<Configs>(), ...);
  if (!model) model = std::make_unique<ModelAdapter<dynamic_config>>(std::move(ckpt), options);
  return model;
}

}  // namespace gptoss
