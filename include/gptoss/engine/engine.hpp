// The engine: many requests served together by one model with continuous batching.
//
// A fixed number of slots (sequences with their KV cache, reserved when the engine is made) take
// requests from a bounded queue. Each step() runs ONE forward call holding the next token of every
// decoding request and chunks of the prompts still being read, up to a token budget; then each
// request whose prompt is read samples its next token with its own Sampler (and constraint),
// reports it and stops at a stop token, max_tokens, its constraint's end or a cancellation.
//
// Prefix cache: a slot keeps the tokens its sequence holds after its request ends. A new request
// whose prompt starts with them continues from there instead of reading its prompt again. Since
// sliding layers keep only a ring of their window, the sequence saves the rings when it has read
// all of its prompt but the last token (AnySequence::save_prefix), so that a later request sharing
// that much of the prompt can roll back to it (AnySequence::truncate).
//
// Threads: submit() and RequestHandle may be used from any thread; step() from one thread at a
// time (start() runs it on a thread of the engine's own). Callbacks run on the stepping thread.
// The engine prints nothing.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "gptoss/core/error.hpp"
#include "gptoss/core/token.hpp"
#include "gptoss/generate/generate.hpp"
#include "gptoss/generate/sampler.hpp"
#include "gptoss/model/any_model.hpp"

namespace gptoss::engine {

// The queue is full (or the engine is stopping): try again later.
struct busy_error : error {
  using error::error;
};

struct EngineOptions {
  int parallel = 4;                 // slots: requests generating at once
  std::int64_t ctx_size = 4096;     // tokens per slot (prompt + generated)
  std::int64_t step_tokens = 512;   // most tokens in one forward call
  std::size_t max_queue = 64;       // requests waiting for a slot; more are refused (busy_error)
  bool prefix_cache = true;
};

struct RequestOptions {
  std::vector<token_id> prompt;
  int max_tokens = 256;
  SamplingOptions sampling;
  std::vector<token_id> stop_tokens;           // the stop token is part of the output
  std::unique_ptr<TokenConstraint> constraint;  // optional
  int top_logprobs = -1;                       // -1: no log-probabilities; else 0..20 alternatives
};

struct TokenLogprob {
  token_id token;
  float logprob;
};

// One generated token as the callback sees it.
struct TokenEvent {
  token_id token;
  float logprob = 0;                 // log-softmax of the model's logits (when asked for)
  std::vector<TokenLogprob> top;     // the top_logprobs likeliest tokens, likeliest first
};

enum class Finish {
  stop,       // a stop token, or the constraint allows nothing more
  length,     // max_tokens
  cancelled,  // cancel(), or the callback returned false
  error,      // see Result::error
};

struct Result {
  std::vector<token_id> tokens;
  std::vector<TokenEvent> events;  // with logprobs when asked for (token only otherwise)
  Finish finish = Finish::stop;
  std::string error;
  std::int64_t prompt_tokens = 0;
  std::int64_t cached_tokens = 0;  // prompt tokens taken from the prefix cache
};

struct Callbacks {
  std::function<bool(const TokenEvent&)> on_token;  // false: cancel the request after this token
  std::function<void(const Result&)> on_done;       // once, at the end (whatever the end)
};

class Engine;

// A submitted request: cancel it, wait for its result.
class RequestHandle {
 public:
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  bool done() const {
    std::lock_guard lock(mu_);
    return done_;
  }
  const Result& wait() const {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return result_;
  }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, d, [&] { return done_; });
  }

 private:
  friend class Engine;
  RequestOptions opt_;
  Callbacks cb_;
  std::optional<Sampler> sampler_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool done_ = false;
  Result result_;
  // Scheduling state (stepping thread only).
  int slot_ = -1;
  std::int64_t read_ = 0;  // prompt tokens in the sequence
  token_id next_ = 0;      // the sampled token to feed next, once the prompt is read
  std::vector<std::uint64_t> words_;
};

class Engine {
 public:
  Engine(AnyModel& model, EngineOptions opt) : model_(model), opt_(opt) {
    if (opt_.parallel < 1) throw input_error("parallel must be at least 1");
    if (opt_.step_tokens < opt_.parallel) throw input_error("step_tokens must be at least parallel");
    if (opt_.ctx_size < 2) throw input_error("ctx_size must be at least 2");
    for (int i = 0; i < opt_.parallel; ++i) slots_.push_back(Slot{model_.new_sequence(opt_.ctx_size), {}, nullptr, 0});
    logits_.resize(std::size_t(opt_.parallel) * std::size_t(model_.config().vocab_size));
  }
  ~Engine() { stop(); }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineOptions& options() const { return opt_; }
  AnyModel& model() { return model_; }

  // Checks the request (an input_error if bad), then queues it (busy_error if the queue is full).
  std::shared_ptr<RequestHandle> submit(RequestOptions req, Callbacks cb = {}) {
    const std::int64_t vocab = model_.config().vocab_size;
    if (req.prompt.empty()) throw input_error("the prompt is empty");
    for (token_id t : req.prompt)
      if (t >= token_id(vocab)) throw input_error("token id " + std::to_string(t) + " is outside the vocabulary");
    if (req.max_tokens < 0) throw input_error("max_tokens must be >= 0");
    if (std::int64_t(req.prompt.size()) + req.max_tokens > opt_.ctx_size)
      throw input_error("prompt of " + std::to_string(req.prompt.size()) + " tokens plus " + std::to_string(req.max_tokens) +
                        " new tokens exceeds the context of " + std::to_string(opt_.ctx_size) + " tokens");
    if (req.top_logprobs > 20) throw input_error("top_logprobs must be at most 20");
    auto h = std::make_shared<RequestHandle>();
    h->sampler_.emplace(req.sampling);  // validates the sampling options
    h->opt_ = std::move(req);
    h->cb_ = std::move(cb);
    h->result_.prompt_tokens = std::int64_t(h->opt_.prompt.size());
    {
      std::lock_guard lock(mu_);
      if (stopping_) throw busy_error("the engine is stopping");
      if (queue_.size() >= opt_.max_queue) throw busy_error("the request queue is full");
      queue_.push_back(h);
    }
    cv_.notify_all();
    return h;
  }

  // Requests queued or running.
  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return queue_.size() + running_;
  }

  // Runs one step; false when there was nothing to do.
  bool step() {
    admit();
    // Ends cancelled requests and those that need no token at all.
    for (auto& s : slots_)
      if (s.req && (s.req->cancelled() || s.req->opt_.max_tokens == 0))
        finish(s, s.req->cancelled() ? Finish::cancelled : Finish::length);

    steps_.clear(), stepped_.clear(), feed_.clear();
    std::int64_t budget = opt_.step_tokens;
    feed_.reserve(slots_.size());
    for (std::size_t i = 0; i < slots_.size(); ++i) {  // decoding requests first: one token each
      Slot& s = slots_[i];
      if (!s.req || s.req->read_ < std::int64_t(s.req->opt_.prompt.size())) continue;
      feed_.push_back(s.req->next_);
      stepped_.push_back(int(i));
      --budget;
    }
    for (int i : order_) {  // then prompt chunks, oldest request first
      if (budget == 0) break;
      Slot& s = slots_[i];
      if (!s.req) continue;
      const std::int64_t n = std::int64_t(s.req->opt_.prompt.size());
      if (s.req->read_ >= n) continue;
      // Stop before the last prompt token, to save the rings there (see the top of the file).
      const std::int64_t end = s.req->read_ < n - 1 && opt_.prefix_cache ? n - 1 : n;
      const std::int64_t take = std::min(budget, end - s.req->read_);
      stepped_.push_back(i);
      chunk_.push_back({s.req->read_, take});
      budget -= take;
    }
    if (stepped_.empty()) return false;
    std::size_t c = 0;
    for (int i : stepped_) {
      Slot& s = slots_[i];
      const std::int64_t n = std::int64_t(s.req->opt_.prompt.size());
      if (s.req->read_ >= n) {
        steps_.push_back({s.seq, std::span<const token_id>(&feed_[steps_.size()], 1)});
      } else {
        auto [from, take] = chunk_[c++];
        steps_.push_back({s.seq, std::span<const token_id>(s.req->opt_.prompt).subspan(std::size_t(from), std::size_t(take))});
      }
    }
    chunk_.clear();
    const std::int64_t V = model_.config().vocab_size;
    try {
      model_.forward(steps_, Logits::last, std::span<float>(logits_.data(), steps_.size() * std::size_t(V)));
    } catch (const std::exception& e) {
      for (int i : stepped_) fail(slots_[i], e.what());
      return true;
    }
    for (std::size_t k = 0; k < stepped_.size(); ++k) {
      Slot& s = slots_[stepped_[k]];
      RequestHandle& r = *s.req;
      const std::int64_t n = std::int64_t(r.opt_.prompt.size());
      const auto fed = steps_[k].tokens;
      s.tokens.insert(s.tokens.end(), fed.begin(), fed.end());
      if (r.read_ < n) {
        r.read_ += std::int64_t(fed.size());
        if (r.read_ == n - 1 && opt_.prefix_cache) s.seq.save_prefix();
        if (r.read_ < n) continue;
      }
      std::span<float> row(logits_.data() + k * std::size_t(V), std::size_t(V));
      try {
        sample(s, row);
      } catch (const std::exception& e) {
        fail(s, e.what());
      }
    }
    return true;
  }

  // Steps on a thread of its own until stop().
  void start() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { loop(); });
  }
  // Ends the thread; requests still queued or running end as cancelled.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& s : slots_)
      if (s.req) finish(s, Finish::cancelled);
    std::deque<std::shared_ptr<RequestHandle>> q;
    {
      std::lock_guard lock(mu_);
      q.swap(queue_);
    }
    for (auto& h : q) complete(*h, Finish::cancelled);
  }

 private:
  struct Slot {
    AnySequence seq;
    std::vector<token_id> tokens;  // what the sequence holds
    std::shared_ptr<RequestHandle> req;
    std::uint64_t last_used;
  };

  void loop() {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || running_ > 0; });
        if (stopping_) return;
      }
      step();
    }
  }

  static std::int64_t common_prefix(std::span<const token_id> a, std::span<const token_id> b) {
    std::size_t n = std::min(a.size(), b.size()), i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return std::int64_t(i);
  }

  // Moves queued requests into free slots: the slot whose tokens share the longest prefix with the
  // prompt, else the one used longest ago.
  void admit() {
    for (;;) {
      std::shared_ptr<RequestHandle> h;
      {
        std::lock_guard lock(mu_);
        while (!queue_.empty() && queue_.front()->cancelled()) {
          auto c = queue_.front();
          queue_.pop_front();
          pending_cancel_.push_back(c);
        }
        bool free = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.req; });
        if (free && !queue_.empty()) {
          h = queue_.front();
          queue_.pop_front();
          ++running_;
        }
      }
      for (auto& c : pending_cancel_) complete(*c, Finish::cancelled);
      pending_cancel_.clear();
      if (!h) return;
      const auto& prompt = h->opt_.prompt;
      int best = -1;
      std::int64_t best_len = -1;
      for (int i = 0; i < int(slots_.size()); ++i) {
        const Slot& s = slots_[i];
        if (s.req) continue;
        const std::int64_t m = opt_.prefix_cache ? common_prefix(s.tokens, prompt) : 0;
        if (m > best_len || (m == best_len && s.last_used < slots_[best].last_used)) best = i, best_len = m;
      }
      Slot& s = slots_[best];
      // At least the last prompt token is read again: its logits are needed.
      const std::int64_t want = std::min<std::int64_t>(best_len, std::int64_t(prompt.size()) - 1);
      const std::int64_t kept = opt_.prefix_cache ? s.seq.truncate(want) : (s.seq.clear(), 0);
      s.tokens.resize(std::size_t(s.seq.length()));
      if (opt_.prefix_cache && kept == std::int64_t(prompt.size()) - 1 && s.seq.saved_length() != kept) s.seq.save_prefix();
      h->read_ = kept;
      h->result_.cached_tokens = kept;
      h->slot_ = best;
      s.req = h;
      s.last_used = ++clock_;
      order_.erase(std::remove(order_.begin(), order_.end(), best), order_.end());
      order_.push_back(best);
    }
  }

  void sample(Slot& s, std::span<float> row) {
    RequestHandle& r = *s.req;
    TokenEvent ev;
    if (r.opt_.top_logprobs >= 0) {  // from the model's logits, before any constraint or temperature
      float mx = -std::numeric_limits<float>::infinity();
      for (float x : row) mx = std::max(mx, x);
      double sum = 0;
      for (float x : row) sum += std::exp(double(x) - double(mx));
      lse_ = double(mx) + std::log(sum);
      if (r.opt_.top_logprobs > 0) {
        top_.reset(std::size_t(r.opt_.top_logprobs));
        top_.offer(row, 0);
        for (const Candidate& c : top_.best()) ev.top.push_back({c.token, float(double(c.logit) - lse_)});
      }
    }
    token_id t;
    if (r.opt_.constraint) {
      if (r.opt_.top_logprobs >= 0) raw_ = std::vector<float>(row.begin(), row.end());
      t = sample_constrained(*r.sampler_, row, *r.opt_.constraint, r.words_);
      r.opt_.constraint->advance(t);
    } else {
      t = r.sampler_->sample(row);
    }
    ev.token = t;
    if (r.opt_.top_logprobs >= 0) {
      const float x = r.opt_.constraint ? raw_[t] : row[t];
      ev.logprob = float(double(x) - lse_);
    }
    r.result_.tokens.push_back(t);
    r.result_.events.push_back(ev);
    bool keep = true;
    if (r.cb_.on_token) keep = r.cb_.on_token(ev);
    const auto& stops = r.opt_.stop_tokens;
    if (std::find(stops.begin(), stops.end(), t) != stops.end() || (r.opt_.constraint && r.opt_.constraint->finished()))
      finish(s, Finish::stop);
    else if (int(r.result_.tokens.size()) >= r.opt_.max_tokens)
      finish(s, Finish::length);
    else if (!keep || r.cancelled())
      finish(s, Finish::cancelled);
    else
      r.next_ = t;
  }

  void fail(Slot& s, const std::string& what) {
    s.req->result_.error = what;
    s.seq.clear();
    s.tokens.clear();
    finish(s, Finish::error);
  }

  void finish(Slot& s, Finish f) {
    std::shared_ptr<RequestHandle> h = std::move(s.req);
    s.req = nullptr;
    // A request stopped before its prompt was read leaves what it read; the rings saved for an
    // earlier prompt stay valid only as far as truncate() allows.
    order_.erase(std::remove(order_.begin(), order_.end(), h->slot_), order_.end());
    {
      std::lock_guard lock(mu_);
      --running_;
    }
    complete(*h, f);
  }

  static void complete(RequestHandle& h, Finish f) {
    h.result_.finish = f;
    if (h.cb_.on_done) {
      try {
        h.cb_.on_done(h.result_);
      } catch (...) {
      }
    }
    {
      std::lock_guard lock(h.mu_);
      h.done_ = true;
    }
    h.cv_.notify_all();
  }

  AnyModel& model_;
  EngineOptions opt_;
  std::vector<Slot> slots_;
  std::vector<int> order_;  // occupied slots, oldest request first
  std::vector<float> logits_, raw_;
  std::vector<AnyModel::Step> steps_;
  std::vector<int> stepped_;
  std::vector<token_id> feed_;
  std::vector<std::pair<std::int64_t, std::int64_t>> chunk_;
  std::vector<std::shared_ptr<RequestHandle>> pending_cancel_;
  TopK top_;
  double lse_ = 0;
  std::uint64_t clock_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<RequestHandle>> queue_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gptoss::engine
