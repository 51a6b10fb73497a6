// AnyModel: a model whose config (and backend) is chosen at run time among those a program
// compiles in. Programs that load whatever checkpoint a user names (like the gptoss command) open
// it through open_model<Configs...>(), which instantiates a compile-time Transformer for each
// listed config and dynamic_config for any other shape.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gptoss/model/steps.hpp"
#include "gptoss/model/transformer.hpp"

namespace gptoss {

// A sequence of an AnyModel: owns the backend's own sequence (its KV cache).
class AnySequence {
 public:
  struct State {
    virtual ~State() = default;
    virtual std::int64_t length() const = 0;
    virtual std::int64_t capacity() const = 0;
    virtual void skip(std::int64_t n) = 0;
    virtual void save_prefix() {}
    virtual std::int64_t saved_length() const { return 0; }
    // Default for backends without prefix reuse: keep the whole sequence or nothing.
    virtual std::int64_t truncate(std::int64_t n) {
      if (n < length()) clear();
      return length();
    }
    virtual void clear() = 0;
  };
  explicit AnySequence(std::unique_ptr<State> s) : state_(std::move(s)) {}
  std::int64_t length() const { return state_->length(); }
  std::int64_t capacity() const { return state_->capacity(); }
  // Moves the sequence n positions on without computing them: their keys and values stay as
  // the cache holds them (zeros in a new sequence). For measuring decode speed at a long context
  // without the prefill that would fill it; the model's outputs after it mean nothing.
  void skip(std::int64_t n) { state_->skip(n); }
  // Prefix reuse (KvCache::save_prefix/truncate on the host): save_prefix() remembers what the
  // sequence needs to come back to its current length later; truncate(n) rolls it back to the
  // longest length <= n it can restore exactly and returns that length (0 at worst: empty).
  // A backend that keeps no such copy (CUDA today) rolls back to its whole length or to 0.
  void save_prefix() { state_->save_prefix(); }
  std::int64_t saved_length() const { return state_->saved_length(); }
  std::int64_t truncate(std::int64_t n) { return state_->truncate(n); }
  void clear() { state_->clear(); }
  State& state() { return *state_; }

 private:
  std::unique_ptr<State> state_;
};

class AnyModel : public ForwardConveniences<AnyModel, AnySequence> {
 public:
  using Sequence = AnySequence;
  using ForwardConveniences::forward;

  virtual ~AnyModel() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const io::Checkpoint& checkpoint() const = 0;
  virtual bool compiled_config() const = 0;  // false when the shape came from the checkpoint
  virtual const char* backend() const = 0;   // "cpu" or "cuda"
  virtual int threads() const = 0;
  virtual Precision precision() const = 0;  // of the dense products
  virtual AnySequence new_sequence(std::int64_t capacity) = 0;
  virtual void forward(std::span<const Step> steps, Logits which, std::span<float> out) = 0;
  virtual void decode_top_k(AnySequence& seq, token_id token, std::span<Candidate> best) = 0;
  virtual void set_trace(Trace trace) = 0;
};

// Wraps any model type with the Transformer interface (host or CUDA) as an AnyModel.
template <class Model, bool Compiled>
class ModelAdapter final : public AnyModel {
 public:
  template <class... Args>
  explicit ModelAdapter(Args&&... args) : model_(std::forward<Args>(args)...) {}
  const ModelConfig& config() const override { return model_.config(); }
  const io::Checkpoint& checkpoint() const override { return model_.checkpoint(); }
  bool compiled_config() const override { return Compiled; }
  const char* backend() const override { return Model::backend_name; }
  int threads() const override { return model_.threads(); }
  Precision precision() const override { return model_.precision(); }
  AnySequence new_sequence(std::int64_t capacity) override {
    return AnySequence(std::make_unique<State>(model_.new_sequence(capacity)));
  }
  void forward(std::span<const Step> steps, Logits which, std::span<float> out) override {
    inner_.clear();
    for (const Step& s : steps) inner_.push_back({state_of(s.sequence).seq, s.tokens});
    model_.forward(std::span<const typename Model::Step>(inner_), which, out);
  }
  void decode_top_k(AnySequence& seq, token_id token, std::span<Candidate> best) override {
    model_.decode_top_k(state_of(seq).seq, token, best);
  }
  void set_trace(Trace trace) override { model_.set_trace(std::move(trace)); }

 private:
  struct State;
  static State& state_of(AnySequence& seq) {
    auto* state = dynamic_cast<State*>(&seq.state());
    if (!state) throw input_error("a sequence of another model was passed to this model");
    return *state;
  }
  struct State final : AnySequence::State {
    explicit State(typename Model::Sequence s) : seq(std::move(s)) {}
    std::int64_t length() const override { return seq.length(); }
    std::int64_t capacity() const override { return seq.capacity(); }
    void skip(std::int64_t n) override {
      seq.check_room(n);
      seq.advance(n);
    }
    void clear() override { seq.clear(); }
    void save_prefix() override {
      if constexpr (requires { seq.save_prefix(); }) seq.save_prefix();
    }
    std::int64_t saved_length() const override {
      if constexpr (requires { seq.saved_length(); }) return seq.saved_length();
      else return 0;
    }
    std::int64_t truncate(std::int64_t n) override {
      if constexpr (requires { seq.truncate(n); }) return seq.truncate(n);
      else return AnySequence::State::truncate(n);
    }
    typename Model::Sequence seq;
  };
  Model model_;
  std::vector<typename Model::Step> inner_;  // reused: no allocation per decode step
};

// Opens a checkpoint on the host with the first listed config it matches, else dynamic_config.
template <ModelConfig... Configs>
std::unique_ptr<AnyModel> open_model(io::Checkpoint ckpt, HostOptions options = {}) {
  std::unique_ptr<AnyModel> model;
  auto try_config = [&]<ModelConfig C>() {
    if (!model && ckpt.config() == C)
      model = std::make_unique<ModelAdapter<Transformer<C, backend::host>, true>>(std::move(ckpt), options);
  };
  (try_config.template operator()<Configs>(), ...);
  (void)try_config;  // unused when no config is listed
  if (!model) model = std::make_unique<ModelAdapter<Transformer<dynamic_config, backend::host>, false>>(std::move(ckpt), options);
  return model;
}

}  // namespace gptoss
