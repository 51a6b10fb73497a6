// Transformer<Config, Backend>: the whole gpt-oss model (spec 3). Config is a ModelConfig value
// (gpt_oss_20b, gpt_oss_120b, a user's own, or dynamic_config to take the shape from the
// checkpoint); Backend is backend::host here (backend::cuda in model/transformer_cuda.cuh).
//
//   auto model = gptoss::Transformer<gptoss::gpt_oss_20b>(gptoss::io::Checkpoint::open(dir));
//   auto seq = model.new_sequence(4096);
//   auto logits = model.prefill(seq, prompt);      // logits of the last prompt token
//   logits = model.decode(seq, next_token);        // one token at a time, same numbers
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gptoss/config/config_json.hpp"
#include "gptoss/core/backend.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/core/token.hpp"
#include "gptoss/host/kernels.hpp"
#include "gptoss/host/thread_pool.hpp"
#include "gptoss/io/checkpoint.hpp"
#include "gptoss/host/kv_cache.hpp"
#include "gptoss/model/forward_pass.hpp"
#include "gptoss/model/step_plan.hpp"
#include "gptoss/model/steps.hpp"
#include "gptoss/io/weights.hpp"
#include "gptoss/ops/attention.hpp"
#include "gptoss/ops/moe.hpp"
#include "gptoss/ops/rms_norm.hpp"
#include "gptoss/ops/rope.hpp"
#include "gptoss/ops/workspace.hpp"

namespace gptoss {

// A step of the host backend.
using Step = StepOf<KvCache>;

struct HostOptions {
  int threads = 0;                    // 0: one per hardware thread
  std::int64_t max_batch_tokens = 512;  // longer prompts are run in chunks of this many tokens
  Precision precision = Precision::exact;  // of the dense products, prefill and decode alike
};

template <ModelConfig Config = dynamic_config, class Backend = backend::host>
class Transformer;

template <ModelConfig Config>
class Transformer<Config, backend::host> : public ForwardConveniences<Transformer<Config, backend::host>, KvCache> {
 public:
  // gpt-oss's layers all have sinks; a compiled preset's window is a compile-time constant.
  using SlidingAttention = ops::Attention<SlidingVariantOf<Config>>;
  using FullAttention = ops::Attention<FullAttentionWithSinks>;
  using MoE = ops::MoELayer<Config.num_experts, Config.experts_per_token>;
  using Sequence = KvCache;
  using Step = StepOf<KvCache>;
  static constexpr const char* backend_name = "cpu";

  explicit Transformer(io::Checkpoint checkpoint, HostOptions options = {})
      : ckpt_(std::move(checkpoint)),
        runtime_config_(ckpt_.config()),
        options_(options),
        pool_(std::make_unique<host::ThreadPool>(options.threads)),
        ws_(std::make_unique<ops::Workspace>(*pool_, options.precision)) {
    if constexpr (!Config.is_dynamic()) check_config(Config, ckpt_.config(), (ckpt_.dir() / "config.json").string());
    if (options_.max_batch_tokens < 1) throw input_error("max_batch_tokens must be at least 1");
    weights_ = view_weights(ckpt_, config());
    rope_ = std::make_unique<ops::Rope>(config());
  }

  const ModelConfig& config() const {
    if constexpr (Config.is_dynamic()) return runtime_config_;
    else return Config;
  }
  const io::Checkpoint& checkpoint() const { return ckpt_; }
  const Weights& weights() const { return weights_; }
  int threads() const { return pool_->size(); }
  Precision precision() const { return options_.precision; }

  // A new, empty sequence able to hold `capacity` tokens (its KV cache is reserved now).
  KvCache new_sequence(std::int64_t capacity) const { return KvCache(config(), capacity); }

  using ForwardConveniences<Transformer, KvCache>::forward;

  // Appends each step's tokens to its sequence and writes logits to `out` ([rows, vocab]).
  void forward(std::span<const Step> steps, Logits which, std::span<float> out) {
    check_steps(config(), steps, which, out.size());
    run(steps, which, out);
  }

  // ForwardConveniences::decode_top_k with the unembedding fused with the selection: each worker
  // keeps the best candidates of its share of the vocabulary, and no logits row is written.
  void decode_top_k(KvCache& seq, token_id token, std::span<Candidate> best) {
    this->check_top_k(config(), best.size());
    const Step step{seq, std::span<const token_id>(&token, 1)};
    const std::span<const Step> steps(&step, 1);
    check_steps(config(), steps, Logits::last, std::size_t(config().vocab_size));  // the row it does not write
    worker_top_.resize(std::size_t(pool_->size()));
    for (TopK& t : worker_top_) t.reset(best.size());
    run(steps, Logits::last, {}, /*select=*/true);
    for (std::size_t w = 1; w < worker_top_.size(); ++w) worker_top_[0].merge(worker_top_[w]);
    this->copy_top_k(worker_top_[0], best);
  }

  // Receives intermediate activations of later calls (embedding, attn_norm, q, k, v, q_rope, k_rope,
  // attn_heads, attn_residual, mlp_norm, router_logits, expert_indices, expert_weights,
  // mlp_residual, final_norm). An empty function turns tracing off.
  void set_trace(Trace trace) {
    trace_ = std::move(trace);
    ws_->tracer = trace_ ? &trace_ : nullptr;
  }

 private:
  template <class Blocks>
  friend void forward_pass(Blocks&, const ModelConfig&, const PlannedChunk&);

  // Plans the call, then runs it chunk by chunk through the forward pass. select: the last
  // token's candidates go to worker_top_ instead of logits to `out`.
  void run(std::span<const Step> steps, Logits which, std::span<float> out, bool select = false) {
    step_plan_.make(steps, which, options_.max_batch_tokens);
    out_ = out, select_ = select;
    for (const PlannedChunk& chunk : step_plan_.chunks()) {
      ops::Workspace& ws = *ws_;
      segments_.clear();
      for (const PlannedSegment& s : step_plan_.segments(chunk))
        segments_.push_back({&steps[s.step].sequence, s.offset, s.length});
      const auto positions = step_plan_.positions(chunk);
      const auto segment_of = step_plan_.segment_of(chunk);
      ws.tokens = chunk.rows;
      ws.position.assign(positions.begin(), positions.end());
      ws.segment_of.assign(segment_of.begin(), segment_of.end());
      forward_pass(*this, config(), chunk);
      for (ops::Segment& s : segments_) s.cache->advance(s.length);
    }
  }

  // The blocks of the forward pass (model/forward_pass.hpp) on the host.
  void embed(const PlannedChunk& chunk) {
    const int H = config().hidden_size;
    ops::Workspace& ws = *ws_;
    float* x = ws.buffer(ws.x, chunk.rows * H);
    const auto tokens = step_plan_.tokens(chunk);
    for (std::int64_t t = 0; t < chunk.rows; ++t) host::widen_row(weights_.embedding.row(tokens[t]), H, x + t * H);
    ws.trace("embedding", -1, x, chunk.rows, H);
  }

  void attention_block(int layer, bool sliding, const PlannedChunk& chunk) {
    const ModelConfig& c = config();
    const LayerWeights& lw = weights_.layers[layer];
    ops::Workspace& ws = *ws_;
    const std::int64_t n = chunk.rows * c.hidden_size;
    float *x = ws.x.data(), *xn = ws.buffer(ws.x_norm, n), *delta = ws.buffer(ws.delta, n);
    ops::rms_norm_rows(x, chunk.rows, lw.attn.norm, xn);
    ws.trace("attn_norm", layer, xn, chunk.rows, c.hidden_size);
    if (sliding) SlidingAttention::forward(c, layer, lw.attn, *rope_, xn, segments_, ws, delta);
    else FullAttention::forward(c, layer, lw.attn, *rope_, xn, segments_, ws, delta);
    for (std::int64_t i = 0; i < n; ++i) x[i] += delta[i];
    ws.trace("attn_residual", layer, x, chunk.rows, c.hidden_size);
  }

  void moe_block(int layer, const PlannedChunk& chunk) {
    const ModelConfig& c = config();
    const LayerWeights& lw = weights_.layers[layer];
    ops::Workspace& ws = *ws_;
    const std::int64_t n = chunk.rows * c.hidden_size;
    float *x = ws.x.data(), *xn = ws.buffer(ws.x_norm, n), *delta = ws.buffer(ws.delta, n);
    ops::rms_norm_rows(x, chunk.rows, lw.mlp.norm, xn);
    ws.trace("mlp_norm", layer, xn, chunk.rows, c.hidden_size);
    MoE::forward(c, layer, lw.mlp, xn, ws, delta);
    for (std::int64_t i = 0; i < n; ++i) x[i] += delta[i];
    ws.trace("mlp_residual", layer, x, chunk.rows, c.hidden_size);
  }

  // Final norm and unembedding, only for the rows the caller asked for.
  void unembed(const PlannedChunk& chunk) {
    const ModelConfig& c = config();
    const int H = c.hidden_size;
    const std::int64_t V = c.vocab_size;
    ops::Workspace& ws = *ws_;
    float* xn = ws.buffer(ws.x_norm, chunk.rows * H);
    ops::rms_norm_rows(ws.x.data(), chunk.rows, weights_.norm, xn);
    ws.trace("final_norm", -1, xn, chunk.rows, H);
    for (const PlannedSegment& s : step_plan_.segments(chunk)) {
      if (s.first_out == s.length) continue;
      const float* rows = xn + (s.offset + s.first_out) * H;
      if (select_) {
        select_top_k(rows);  // the one last token of a decode step
        continue;
      }
      host::matmul(host::Bf16Rows{weights_.unembedding}, nullptr, rows, H, int(s.length - s.first_out),
                          out_.data() + s.out_row * V, V, *pool_, ws.scratch, ws.kernels);
    }
  }

  // Unembedding of one token, a run of rows at a time into per-worker scratch, each run offered to
  // the worker's TopK.
  void select_top_k(const float* x) {
    const host::Bf16Rows unembedding{weights_.unembedding};
    ops::Workspace& ws = *ws_;
    const host::Kernels& kern = ws.kernels;
    float* xa = ws.scratch.shared(std::size_t(unembedding.cols()));
    unembedding.arrange(kern, x, xa);
    pool_->parallel_for(
        unembedding.rows(),
        [&](std::int64_t begin, std::int64_t end, int worker) {
          float* logits = ws.scratch.get(worker, std::size_t(select_rows));
          for (std::int64_t r = begin; r < end; r += select_rows) {
            const std::int64_t n = std::min<std::int64_t>(select_rows, end - r);
            unembedding.gemv(kern, r, n, xa, logits);
            worker_top_[std::size_t(worker)].offer(std::span<const float>(logits, std::size_t(n)), token_id(r));
          }
        },
        host::gemv_grain);
  }
  static constexpr int select_rows = 1024;  // 4 KB of logits at a time, in L1

  io::Checkpoint ckpt_;
  ModelConfig runtime_config_;
  HostOptions options_;
  std::unique_ptr<host::ThreadPool> pool_;
  std::unique_ptr<ops::Workspace> ws_;
  Weights weights_;
  std::unique_ptr<ops::Rope> rope_;
  // Reused by every call, so that decoding does not allocate.
  StepPlan step_plan_;
  std::vector<ops::Segment> segments_;  // the running chunk's, for the attention operator
  std::vector<TopK> worker_top_;
  // Where the running call's logits go.
  std::span<float> out_;
  bool select_ = false;
  Trace trace_;
};

}  // namespace gptoss
