// Transformer<Config, backend::cuda>: the whole gpt-oss model on one NVIDIA GPU, with the host Transformer's
// API (see model/transformer.hpp). Compile with nvcc.
//
//   auto model = gptoss::Transformer<gptoss::gpt_oss_20b, gptoss::backend::cuda>(gptoss::io::Checkpoint::open(dir));
//   auto seq = model.new_sequence(4096);          // KV cache in device memory
//   auto logits = model.prefill(seq, prompt);     // logits of the last prompt token, on the host
//   token_id next = model.decode_greedy(seq, t);  // or the argmax computed on the device
//
// The device memory needed (weights in stored form, workspace, and the KV cache of one sequence of
// CudaOptions::context tokens) is computed before anything is allocated (CudaOptions::on_plan sees
// it); a device with too little gets a cuda_error saying what to reduce.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gptoss/cuda/error.cuh"
#include "gptoss/cuda/kernels.cuh"
#include "gptoss/cuda/kv_cache.cuh"
#include "gptoss/cuda/memory.cuh"
#include "gptoss/cuda/weights.cuh"
#include "gptoss/model/forward_pass.hpp"
#include "gptoss/model/step_plan.hpp"
#include "gptoss/model/transformer.hpp"

namespace gptoss {

// Device memory a model takes, in bytes, computed before allocating.
struct CudaMemoryPlan {
  int device = 0;
  std::size_t weights = 0, workspace = 0, kv_cache = 0;
  std::int64_t context = 0;
  std::size_t free = 0, device_total = 0;
  std::string device_name;
  std::size_t total() const { return weights + workspace + kv_cache; }
  // "weights 12.80 GiB + workspace 0.10 GiB + KV cache for 4096 tokens 0.19 GiB = 13.09 GiB"
  std::string summary() const {
    return "weights " + gib_text(weights) + " GiB + workspace " + gib_text(workspace) + " GiB + KV cache for " +
           std::to_string(context) + " tokens " + gib_text(kv_cache) + " GiB = " + gib_text(total()) + " GiB";
  }
  static std::string gib_text(std::size_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", gpu::gib(bytes));
    return buf;
  }
};

struct CudaOptions {
  int device = 0;
  std::int64_t max_batch_tokens = 512;  // longer prompts run in chunks of this many tokens
  std::int64_t context = 0;             // tokens of KV cache to plan memory for; 0: min(4096, model context)
  // The library prints nothing: a program that shows progress passes these. on_plan is called
  // once the memory plan is made, before anything is allocated; on_upload as the weights are
  // copied to the device (bytes done, of total).
  std::function<void(const CudaMemoryPlan&)> on_plan;
  std::function<void(std::uint64_t done, std::uint64_t total)> on_upload;
};

namespace gpu {

// Buffer sizes (elements) of the activations for chunks of up to `tokens` tokens.
struct WorkspaceSizes {
  std::int64_t tokens, partial_slots, logit_rows;
  std::size_t x, qkv, o, router, route, act, expert_out, groups, partial, logits;

  static WorkspaceSizes of(const ModelConfig& c, std::int64_t T) {
    WorkspaceSizes s;
    s.tokens = T;
    // Enough (token, head, split) partials for every query of a full chunk, and for one token to
    // split the longest context into pieces of attention_keys_per_split keys.
    s.partial_slots = std::max<std::int64_t>(T * c.num_attention_heads, 65536);
    s.logit_rows = std::min<std::int64_t>(T, 32);
    s.x = std::size_t(T * c.hidden_size);
    s.qkv = std::size_t(T * c.qkv_width());
    s.o = std::size_t(T * c.q_width());
    s.router = std::size_t(T * c.num_experts);
    s.route = std::size_t(T * c.experts_per_token);
    s.act = std::size_t(T * c.experts_per_token * c.intermediate_size);
    const bool grouped = experts_grouped(T, c.experts_per_token, c.num_experts);
    s.expert_out = grouped ? std::size_t(T * c.experts_per_token * c.hidden_size) : 0;
    s.groups = std::size_t(2 * c.num_experts + T * c.experts_per_token);
    s.partial = std::size_t(s.partial_slots * (c.head_dim + 2));
    s.logits = std::size_t(s.logit_rows * c.vocab_size);
    return s;
  }
  std::size_t bytes(const ModelConfig& c) const {
    const std::size_t floats = 3 * x /* x, x_norm, selected rows */ + qkv + o + router + route + act + expert_out +
                               partial + logits + std::size_t(c.head_dim / 2);
    const std::size_t other =
        (route + groups) * sizeof(int) + std::size_t(tokens) * (sizeof(int) + 2 * sizeof(token_id) + sizeof(TokenMeta));
    return floats * sizeof(float) + other;
  }
};

// Shapes the kernels handle; anything else is refused when the model is opened.
inline void check_device_shape(const ModelConfig& c) {
  auto fail = [&](const std::string& why) { throw config_error("the CUDA backend cannot run this model: " + why); };
  if (c.head_dim < 2 || c.head_dim % 2 || c.head_dim > attention_max_dim)
    fail("head_dim " + std::to_string(c.head_dim) + " must be even and at most " + std::to_string(attention_max_dim));
  if (c.hidden_size % mxfp4::block_elems || c.intermediate_size % mxfp4::block_elems)
    fail("hidden_size and intermediate_size must be multiples of 32 (MXFP4 blocks)");
  if (c.num_key_value_heads < 1 || c.num_attention_heads % c.num_key_value_heads)
    fail("num_attention_heads must be a multiple of num_key_value_heads");
  if (c.experts_per_token < 1 || c.experts_per_token > std::min(c.num_experts, max_experts_per_token))
    fail("experts_per_token must be in [1, min(num_experts, " + std::to_string(max_experts_per_token) + ")]");
}

}  // namespace gpu

template <ModelConfig Config>
class Transformer<Config, backend::cuda> : public ForwardConveniences<Transformer<Config, backend::cuda>, CudaKvCache> {
 public:
  using Sequence = CudaKvCache;
  using Step = StepOf<CudaKvCache>;
  using ForwardConveniences<Transformer, CudaKvCache>::forward;
  static constexpr const char* backend_name = "cuda";

  explicit Transformer(io::Checkpoint checkpoint, CudaOptions options = {})
      : ckpt_(std::move(checkpoint)), runtime_config_(ckpt_.config()), options_(options) {
    using namespace gpu;
    if constexpr (!Config.is_dynamic()) check_config(Config, ckpt_.config(), (ckpt_.dir() / "config.json").string());
    const ModelConfig& c = config();
    check_device_shape(c);
    if (options_.max_batch_tokens < 1 || options_.max_batch_tokens * c.experts_per_token > 65535)
      throw input_error("max_batch_tokens must be in [1, " + std::to_string(65535 / c.experts_per_token) + "]");
    const int devices = device_count();
    if (devices == 0) throw cuda_error("no CUDA device is available (cudaGetDeviceCount found none)");
    if (options_.device < 0 || options_.device >= devices)
      throw input_error("CUDA device " + std::to_string(options_.device) + " does not exist (" + std::to_string(devices) +
                        " found)");
    GPTOSS_CUDA_CHECK(cudaSetDevice(options_.device));

    const Weights host = view_weights(ckpt_, c);
    const auto sizes = WorkspaceSizes::of(c, options_.max_batch_tokens);
    plan_.context = options_.context > 0 ? std::min(options_.context, c.max_context())
                                         : std::min<std::int64_t>(4096, c.max_context());
    plan_.weights = DeviceWeights::bytes_needed(host, c);
    plan_.workspace = sizes.bytes(c);
    plan_.kv_cache = CudaKvCache::bytes_for(c, plan_.context);
    const MemoryInfo mem = memory_info();
    plan_.device = options_.device;
    plan_.free = mem.free, plan_.device_total = mem.total;
    plan_.device_name = device_name(options_.device);
    if (options_.on_plan) options_.on_plan(plan_);
    if (plan_.total() > mem.free)
      throw cuda_error("not enough device memory on CUDA device " + std::to_string(options_.device) + " (" +
                       plan_.device_name + "): " + plan_.summary() + " needed, " + CudaMemoryPlan::gib_text(mem.free) +
                       " GiB free. Reduce the context (KV cache: " +
                       CudaMemoryPlan::gib_text(CudaKvCache::bytes_for(c, 1000)) +
                       " GiB per 1000 tokens) or max_batch_tokens, or use a smaller model or a larger GPU");

    stream_ = std::make_unique<Stream>();
    weights_ = std::make_unique<DeviceWeights>(host, c, options_.on_upload, stream_->get());
    allocate(sizes);
  }

  const ModelConfig& config() const {
    if constexpr (Config.is_dynamic()) return runtime_config_;
    else return Config;
  }
  const io::Checkpoint& checkpoint() const { return ckpt_; }
  int threads() const { return 1; }
  Precision precision() const { return Precision::exact; }  // the only one the CUDA kernels compute
  const CudaMemoryPlan& memory_plan() const { return plan_; }
  const CudaOptions& options() const { return options_; }

  // A new, empty sequence able to hold `capacity` tokens; its KV cache is allocated on the device now.
  CudaKvCache new_sequence(std::int64_t capacity) const {
    GPTOSS_CUDA_CHECK(cudaSetDevice(options_.device));
    return CudaKvCache(config(), capacity);
  }

  // Appends each step's tokens to its sequence and writes logits to `out` ([rows, vocab]).
  void forward(std::span<const Step> steps, Logits which, std::span<float> out) {
    check_steps(config(), steps, which, out.size());
    run(steps, which, out.data(), nullptr);
  }

  // The argmax of each step's last-token logits, computed on the device: only the ids come back.
  std::vector<token_id> forward_greedy(std::span<const Step> steps) {
    check_steps(config(), steps, Logits::last, std::size_t(logits_rows(steps, Logits::last)) * config().vocab_size);
    std::vector<token_id> ids(steps.size());
    run(steps, Logits::last, nullptr, ids.data());
    return ids;
  }

  // Greedy decoding without copying logits: appends `token`, returns the argmax of the next logits.
  token_id decode_greedy(CudaKvCache& seq, token_id token) {
    Step step{seq, std::span<const token_id>(&token, 1)};
    return forward_greedy(std::span<const Step>(&step, 1))[0];
  }

  // A decode step recorded as a CUDA graph: its hundred-odd launches replayed as one. A graph is
  // bound to its sequence, its token, and the sequence's length when it was recorded (the
  // attention's launch shape still depends on the context length).
  class DecodeGraph {
    friend class Transformer;
    gpu::GraphExec exec_;
    CudaKvCache* seq_ = nullptr;
    token_id token_ = 0;
    std::int64_t length_ = 0;
  };

  // Records, without running it, the step that appends `token` to `seq` and computes the next
  // logits: the step as forward() runs it, with no allocation and no synchronization inside.
  DecodeGraph capture_decode(CudaKvCache& seq, token_id token) {
    if (trace_) throw input_error("a traced step cannot be captured as a CUDA graph: tracing waits for the device");
    const Step step{seq, std::span<const token_id>(&token, 1)};
    const std::span<const Step> steps(&step, 1);
    const std::int64_t V = config().vocab_size;
    check_steps(config(), steps, Logits::last, std::size_t(V));
    GPTOSS_CUDA_CHECK(cudaSetDevice(options_.device));
    if (!h_logits_.get()) h_logits_ = gpu::PinnedBuffer<float>(std::size_t(V));
    step_plan_.make(steps, Logits::last, options_.max_batch_tokens);
    stage(steps, step_plan_.chunks()[0], /*greedy=*/false);
    const cudaStream_t s = stream_->get();
    GPTOSS_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    try {
      enqueue(step_plan_.chunks()[0], /*staged_logits=*/true, nullptr);
    } catch (...) {
      cudaGraph_t partial = nullptr;
      cudaStreamEndCapture(s, &partial);
      if (partial) cudaGraphDestroy(partial);
      throw;
    }
    DecodeGraph g;
    g.exec_ = gpu::GraphExec::end_capture(s);
    g.seq_ = &seq, g.token_ = token, g.length_ = seq.length();
    return g;
  }

  // Runs a recorded step: appends its token to its sequence and writes the next logits.
  void replay(DecodeGraph& g, std::span<float> logits) {
    if (!g.exec_) throw input_error("this decode graph holds no recorded step");
    if (g.seq_->length() != g.length_)
      throw input_error("the decode graph was recorded for a sequence of " + std::to_string(g.length_) +
                        " tokens; it now holds " + std::to_string(g.seq_->length()));
    const Step step{*g.seq_, std::span<const token_id>(&g.token_, 1)};
    const std::span<const Step> steps(&step, 1);
    check_steps(config(), steps, Logits::last, logits.size());
    GPTOSS_CUDA_CHECK(cudaSetDevice(options_.device));
    // The pinned buffers the graph copies from may hold another call's data by now.
    step_plan_.make(steps, Logits::last, options_.max_batch_tokens);
    stage(steps, step_plan_.chunks()[0], /*greedy=*/false);
    g.exec_.launch(stream_->get());
    finish(steps, step_plan_.chunks()[0], logits.data(), nullptr, /*staged_logits=*/true);
  }

  // Receives intermediate activations of later calls, under the host's names (embedding,
  // attn_norm, q, k, v, q_rope, k_rope, attn_heads, attn_residual, mlp_norm, router_logits,
  // expert_indices, expert_weights, mlp_residual, final_norm). Tracing copies each one to the host
  // and waits for it: for tests and debugging only.
  void set_trace(Trace trace) { trace_ = std::move(trace); }

 private:
  template <class Blocks>
  friend void forward_pass(Blocks&, const ModelConfig&, const PlannedChunk&);

  void allocate(const gpu::WorkspaceSizes& s) {
    using namespace gpu;
    sizes_ = s;
    const std::size_t T = std::size_t(s.tokens);
    x_ = DeviceBuffer<float>(s.x);
    xn_ = DeviceBuffer<float>(s.x);
    selected_ = DeviceBuffer<float>(s.x);
    qkv_ = DeviceBuffer<float>(s.qkv);
    o_ = DeviceBuffer<float>(s.o);
    router_ = DeviceBuffer<float>(s.router);
    route_w_ = DeviceBuffer<float>(s.route);
    chosen_ = DeviceBuffer<int>(s.route);
    act_ = DeviceBuffer<float>(s.act);
    expert_out_ = DeviceBuffer<float>(s.expert_out);
    groups_ = DeviceBuffer<int>(s.groups);
    partial_ = DeviceBuffer<float>(s.partial);
    logits_ = DeviceBuffer<float>(s.logits);
    tokens_ = DeviceBuffer<token_id>(T);
    ids_ = DeviceBuffer<token_id>(T);
    rows_ = DeviceBuffer<int>(T);
    meta_ = DeviceBuffer<TokenMeta>(T);
    h_tokens_ = PinnedBuffer<token_id>(T);
    h_ids_ = PinnedBuffer<token_id>(T);
    h_rows_ = PinnedBuffer<int>(T);
    h_meta_ = PinnedBuffer<TokenMeta>(T);

    const ModelConfig& c = config();
    std::vector<float> inv(std::size_t(c.head_dim / 2));
    const math::Yarn yarn = c.yarn();
    for (int i = 0; i < c.head_dim / 2; ++i) inv[std::size_t(i)] = yarn.inv_freq(i);  // as the host's ops::Rope
    inv_freq_ = DeviceBuffer<float>(inv.size());
    GPTOSS_CUDA_CHECK(cudaMemcpy(inv_freq_.get(), inv.data(), inv.size() * sizeof(float), cudaMemcpyHostToDevice));
  }

  // Plans the call, then runs it chunk by chunk: stage() writes a chunk's metadata to pinned
  // memory on the host; enqueue() puts the chunk's whole step on the stream (copies in, the forward
  // pass, results out) with no allocation and no synchronization, so that it can be captured as a
  // CUDA graph; finish() waits for it and hands the results over.
  void run(std::span<const Step> steps, Logits which, float* out, token_id* ids) {
    if (steps.empty()) return;
    GPTOSS_CUDA_CHECK(cudaSetDevice(options_.device));
    step_plan_.make(steps, which, options_.max_batch_tokens);
    for (const PlannedChunk& chunk : step_plan_.chunks()) {
      stage(steps, chunk, ids != nullptr);
      enqueue(chunk, /*staged_logits=*/false, out);
      finish(steps, chunk, out, ids, /*staged_logits=*/false);
    }
  }

  void stage(std::span<const Step> steps, const PlannedChunk& chunk, bool greedy) {
    const auto tokens = step_plan_.tokens(chunk);
    const auto positions = step_plan_.positions(chunk);
    const auto segment_of = step_plan_.segment_of(chunk);
    const auto segments = step_plan_.segments(chunk);
    for (std::int64_t t = 0; t < chunk.rows; ++t) {
      const PlannedSegment& seg = segments[std::size_t(segment_of[t])];
      const CudaKvCache& seq = steps[seg.step].sequence;
      h_tokens_[std::size_t(t)] = tokens[t];
      h_meta_[std::size_t(t)] = {positions[t], seg.start, seg.start + seg.length, seg.offset, seq.data(), seq.capacity()};
    }
    selected_out_.clear();
    for (const PlannedSegment& seg : segments)
      for (std::int64_t j = seg.first_out; j < seg.length; ++j) {
        h_rows_[selected_out_.size()] = int(seg.offset + j);
        selected_out_.push_back(seg.out_row + (j - seg.first_out));
      }
    greedy_ = greedy;
    max_position_ = step_plan_.max_position(chunk);
  }

  // out: where logits go (pageable host memory; device-to-pageable copies wait for the stream),
  // unless staged_logits, when they go to pinned memory for finish() to copy (a captured graph
  // cannot copy to pageable memory).
  void enqueue(const PlannedChunk& chunk, bool staged_logits, float* out) {
    const cudaStream_t s = stream_->get();
    const std::int64_t T = chunk.rows, R = std::int64_t(selected_out_.size());
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(tokens_.get(), h_tokens_.get(), std::size_t(T) * sizeof(token_id), cudaMemcpyHostToDevice, s));
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(meta_.get(), h_meta_.get(), std::size_t(T) * sizeof(gpu::TokenMeta), cudaMemcpyHostToDevice, s));
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(rows_.get(), h_rows_.get(), std::size_t(R) * sizeof(int), cudaMemcpyHostToDevice, s));
    logits_to_ = staged_logits ? h_logits_.get() : out;
    staged_logits_ = staged_logits;
    forward_pass(*this, config(), chunk);
  }

  void finish(std::span<const Step> steps, const PlannedChunk& chunk, float* out, token_id* ids, bool staged_logits) {
    stream_->synchronize();  // also reports faults of any kernel above
    const std::int64_t R = std::int64_t(selected_out_.size()), V = config().vocab_size;
    if (ids)
      for (std::int64_t r = 0; r < R; ++r) ids[selected_out_[std::size_t(r)]] = h_ids_[std::size_t(r)];
    else if (staged_logits)
      for (std::int64_t r = 0; r < R; ++r)
        std::copy_n(h_logits_.get() + r * V, V, out + selected_out_[std::size_t(r)] * V);
    for (const PlannedSegment& seg : step_plan_.segments(chunk)) steps[seg.step].sequence.advance(seg.length);
  }

  // The blocks of the forward pass (model/forward_pass.hpp) on the device.
  void embed(const PlannedChunk& chunk) {
    const int H = config().hidden_size;
    gpu::embedding(weights_->embedding.data, H, tokens_.get(), chunk.rows, x_.get(), stream_->get());
    trace("embedding", -1, x_.get(), chunk.rows, H);
  }

  void attention_block(int l, bool sliding, const PlannedChunk& chunk) {
    using namespace gpu;
    const ModelConfig& c = config();
    const int H = c.hidden_size, D = c.head_dim, Hq = c.num_attention_heads;
    const int Hkv = c.num_key_value_heads, Q = c.q_width(), KV = c.kv_width(), QKV = c.qkv_width();
    const std::int64_t T = chunk.rows;
    const cudaStream_t s = stream_->get();
    const DeviceLayer& lw = weights_->layer(l);
    float *x = x_.get(), *xn = xn_.get(), *qkv = qkv_.get();
    rms_norm(x, nullptr, T, lw.attn_norm.data, H, xn, s);
    trace("attn_norm", l, xn, T, H);
    linear_bf16(lw.qkv, lw.qkv_bias.data, xn, H, T, qkv, QKV, false, s);
    trace("q", l, qkv, T, Q, QKV, 0);
    trace("k", l, qkv, T, KV, QKV, Q);
    trace("v", l, qkv, T, KV, QKV, Q + KV);
    rope(qkv, QKV, meta_.get(), T, inv_freq_.get(), c.yarn(), Hq, Hkv, s);
    trace("q_rope", l, qkv, T, Q, QKV, 0);
    trace("k_rope", l, qkv, T, KV, QKV, Q);

    const KvLayout kv = KvLayout::of(c);
    const std::int64_t max_keys =
        sliding ? std::min<std::int64_t>(c.sliding_window, max_position_ + 1) : max_position_ + 1;
    AttentionArgs a{};
    a.qkv = qkv, a.qkv_width = QKV, a.q_width = Q, a.kv_width = KV, a.head_dim = D, a.q_heads = Hq;
    a.group = c.heads_per_kv(), a.layer = l, a.window = c.sliding_window;
    a.scale = 1.0f / std::sqrt(float(D)), a.kv = kv, a.meta = meta_.get(), a.partial = partial_.get();
    a.splits = attention_splits(max_keys, T, Hq, sizes_.partial_slots);
    // The layer's variant, as the host's: every layer has sinks; a compiled preset's window is a
    // compile-time constant, a config read at run time passes it in a.window.
    if (sliding) attention<SlidingVariantOf<Config>>(a, T, max_keys, lw.sinks.data, o_.get(), s);
    else attention<FullAttentionWithSinks>(a, T, max_keys, lw.sinks.data, o_.get(), s);
    trace("attn_heads", l, o_.get(), T, Q);
    kv_store(qkv, QKV, Q, KV, kv, l, meta_.get(), T, s);
    linear_bf16(lw.out, lw.out_bias.data, o_.get(), Q, T, x, H, true, s);
    trace("attn_residual", l, x, T, H);
  }

  void moe_block(int l, const PlannedChunk& chunk) {
    using namespace gpu;
    const ModelConfig& c = config();
    const int H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, K = c.experts_per_token;
    const std::int64_t T = chunk.rows;
    const cudaStream_t s = stream_->get();
    const DeviceLayer& lw = weights_->layer(l);
    float *x = x_.get(), *xn = xn_.get();
    rms_norm(x, nullptr, T, lw.mlp_norm.data, H, xn, s);
    trace("mlp_norm", l, xn, T, H);
    linear_bf16(lw.gate, lw.gate_bias.data, xn, H, T, router_.get(), E, false, s);
    trace("router_logits", l, router_.get(), T, E);
    route(router_.get(), T, E, K, chosen_.get(), route_w_.get(), s);
    if (trace_) trace_indices(l, T, K);
    trace("expert_weights", l, route_w_.get(), T, K);
    const ExpertArgs ea{.x_norm = xn, .H = H, .I = I, .E = E, .K = K, .chosen = chosen_.get(), .weights = route_w_.get(),
                        .w1 = lw.mlp1, .w2 = lw.mlp2, .b1 = lw.mlp1_bias, .b2 = lw.mlp2_bias, .limit = c.swiglu_limit,
                        .act = act_.get(), .y = expert_out_.get(),
                        .groups = {groups_.get(), groups_.get() + E, groups_.get() + 2 * E}};
    expert_mlp(ea, T, x, s);
    trace("mlp_residual", l, x, T, H);
  }

  // Final norm of the wanted rows only, then the unembedding a group of rows at a time: their
  // argmax, or their logits.
  void unembed(const PlannedChunk& chunk) {
    using namespace gpu;
    const ModelConfig& c = config();
    const int H = c.hidden_size;
    const std::int64_t T = chunk.rows, V = c.vocab_size, R = std::int64_t(selected_out_.size());
    const cudaStream_t s = stream_->get();
    if (trace_) {
      rms_norm(x_.get(), nullptr, T, weights_->norm.data, H, xn_.get(), s);
      trace("final_norm", -1, xn_.get(), T, H);
    }
    float* sel = selected_.get();
    rms_norm(x_.get(), rows_.get(), R, weights_->norm.data, H, sel, s);
    for (std::int64_t g0 = 0; g0 < R; g0 += sizes_.logit_rows) {
      const std::int64_t n = std::min(sizes_.logit_rows, R - g0);
      linear_bf16(weights_->unembedding, nullptr, sel + g0 * H, H, n, logits_.get(), V, false, s);
      if (greedy_) {
        argmax(logits_.get(), n, int(V), ids_.get() + g0, s);
        continue;
      }
      if (staged_logits_) {
        GPTOSS_CUDA_CHECK(cudaMemcpyAsync(logits_to_ + g0 * V, logits_.get(), std::size_t(n * V) * sizeof(float),
                                          cudaMemcpyDeviceToHost, s));
        continue;
      }
      // Runs of consecutive output rows go back in one copy.
      for (std::int64_t i = 0; i < n;) {
        std::int64_t j = i + 1;
        while (j < n && selected_out_[std::size_t(g0 + j)] == selected_out_[std::size_t(g0 + i)] + (j - i)) ++j;
        GPTOSS_CUDA_CHECK(cudaMemcpyAsync(logits_to_ + selected_out_[std::size_t(g0 + i)] * V, logits_.get() + i * V,
                                          std::size_t((j - i) * V) * sizeof(float), cudaMemcpyDeviceToHost, s));
        i = j;
      }
    }
    if (greedy_ && R > 0)
      GPTOSS_CUDA_CHECK(cudaMemcpyAsync(h_ids_.get(), ids_.get(), std::size_t(R) * sizeof(token_id), cudaMemcpyDeviceToHost, s));
  }

  // Copies [rows, cols] (row stride `stride`, from column col0) to the host and hands it to the trace.
  void trace(const char* name, int layer, const float* data, std::int64_t rows, std::int64_t cols, std::int64_t stride = 0,
             std::int64_t col0 = 0) {
    if (!trace_) return;
    if (stride == 0) stride = cols;
    trace_buf_.resize(std::size_t(rows * cols));
    GPTOSS_CUDA_CHECK(cudaMemcpy2DAsync(trace_buf_.data(), std::size_t(cols) * sizeof(float), data + col0,
                                        std::size_t(stride) * sizeof(float), std::size_t(cols) * sizeof(float),
                                        std::size_t(rows), cudaMemcpyDeviceToHost, stream_->get()));
    stream_->synchronize();
    trace_(name, layer, trace_buf_.data(), rows, cols);
  }
  void trace_indices(int layer, std::int64_t T, int K) {
    std::vector<int> idx(std::size_t(T * K));
    GPTOSS_CUDA_CHECK(cudaMemcpyAsync(idx.data(), chosen_.get(), idx.size() * sizeof(int), cudaMemcpyDeviceToHost, stream_->get()));
    stream_->synchronize();
    trace_buf_.assign(idx.begin(), idx.end());
    trace_("expert_indices", layer, trace_buf_.data(), T, K);
  }

  io::Checkpoint ckpt_;
  ModelConfig runtime_config_;
  CudaOptions options_;
  CudaMemoryPlan plan_;
  std::unique_ptr<gpu::Stream> stream_;
  std::unique_ptr<gpu::DeviceWeights> weights_;
  gpu::WorkspaceSizes sizes_{};
  gpu::DeviceBuffer<float> x_, xn_, selected_, qkv_, o_, router_, route_w_, act_, expert_out_, partial_, logits_,
      inv_freq_;
  gpu::DeviceBuffer<int> chosen_, rows_, groups_;
  gpu::DeviceBuffer<token_id> tokens_, ids_;
  gpu::DeviceBuffer<gpu::TokenMeta> meta_;
  gpu::PinnedBuffer<token_id> h_tokens_, h_ids_;
  gpu::PinnedBuffer<int> h_rows_;
  gpu::PinnedBuffer<gpu::TokenMeta> h_meta_;
  // Reused by every call: planning and staging a decode step does not allocate.
  StepPlan step_plan_;
  std::vector<std::int64_t> selected_out_;  // per wanted row of the running chunk: its logits row
  gpu::PinnedBuffer<float> h_logits_;  // logits of a captured step, one decode row
  std::int64_t max_position_ = 0;
  bool greedy_ = false, staged_logits_ = false;
  float* logits_to_ = nullptr;
  std::vector<float> trace_buf_;
  Trace trace_;
};

}  // namespace gptoss
