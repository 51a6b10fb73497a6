// The Harmony envelope of an assistant reply, enforced token by token, with JSON bodies constrained
// by their schemas. After `<|start|>assistant` the reply is a sequence of messages
//
//   <|channel|>analysis<|message|>TEXT<|end|>
//   <|channel|>commentary<|message|>TEXT<|end|>                      (a preamble to tool calls)
//   <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>ARGS<|call|>
//   <|channel|>final<|message|>TEXT or JSON<|return|>
//
// with `<|start|>assistant` before every message after the first. Only channels the system
// message declares are offered, only declared tools are called, and the arguments follow the
// tool's parameter schema when the tool is strict or the call is forced (any JSON object
// otherwise). A reasoning budget counts every token before the final message or forced call;
// once spent, the message in progress is closed and the next one is the forced one.
#pragma once
#include <algorithm>
#include <memory>
#include <numeric>
#include <span>
#include <variant>
#include <optional>
#include <string>
#include <vector>

#include "gptoss/constrain/json_matcher.hpp"
#include "gptoss/constrain/token_table.hpp"
#include "gptoss/generate/generate.hpp"
#include "gptoss/harmony/message.hpp"

namespace gptoss::constrain {

struct ResponseFormat {
  enum class Kind { text, json_object, json_schema } kind = Kind::text;
  ojson schema;  // json_schema only
};

struct ToolChoice {
  enum class Mode { automatic, none, required, function } mode = Mode::automatic;
  std::string name;  // Mode::function: the function's name (without "functions.")
};

struct StructuredOutput {
  ResponseFormat response_format;
  ToolChoice tool_choice;
  std::optional<int> reasoning_budget;  // tokens before the final message or forced call
  SchemaLimits limits;
};

// The envelope's inputs from the conversation: declared channels and function tools.
struct EnvelopeSpec {
  std::vector<std::string> channels{"analysis", "commentary", "final"};
  std::vector<harmony::ToolDescription> tools;  // namespace `functions`
};

inline EnvelopeSpec envelope_of(const harmony::Conversation& conv) {
  EnvelopeSpec spec;
  for (const auto& m : conv.messages())
    for (const auto& c : m.content) {
      if (const auto* sys = std::get_if<harmony::SystemContent>(&c)) {
        if (sys->channel_config && !sys->channel_config->valid_channels.empty()) spec.channels = sys->channel_config->valid_channels;
      } else if (const auto* dev = std::get_if<harmony::DeveloperContent>(&c)) {
        for (const auto& ns : dev->tools)
          if (ns.name == "functions") spec.tools = ns.tools;  // the last definition wins, as in rendering
      }
    }
  return spec;
}

namespace detail {

inline constexpr int unit_special = 256;  // units >= this are special tokens: unit - 256 = index below
inline constexpr token_id envelope_specials[] = {harmony::tokens::start, harmony::tokens::channel, harmony::tokens::constrain,
                                                 harmony::tokens::message, harmony::tokens::end, harmony::tokens::call,
                                                 harmony::tokens::return_};
inline int special_unit(token_id t) {
  for (int i = 0; i < int(std::size(envelope_specials)); ++i)
    if (envelope_specials[i] == t) return unit_special + i;
  return -1;
}

// Alternatives of header text: sequences of units (bytes, or special tokens).
struct HeaderAlt {
  std::vector<int> units;
  enum class Kind { analysis, preamble, final, tool } kind;
  int tool = -1;
};

struct HeaderState {
  std::vector<std::uint16_t> cand;
  std::uint32_t pos = 0;
};

struct HeaderMatcher {
  const std::vector<HeaderAlt>* alts;
  void step(const HeaderState& in, int unit, HeaderState& out) const {
    out.cand.clear();
    for (auto a : in.cand) {
      const auto& u = (*alts)[a].units;
      if (in.pos < u.size() && u[in.pos] == unit) out.cand.push_back(a);
    }
    out.pos = in.pos + 1;
  }
  void step(const HeaderState& in, unsigned char b, HeaderState& out) const { step(in, int(b), out); }
  bool dead(const HeaderState& s) const { return s.cand.empty(); }
};

}  // namespace detail

class Constraint : public TokenConstraint {
 public:
  Constraint(const text::Tokenizer& tok, const EnvelopeSpec& spec, const StructuredOutput& so)
      : table_(TokenTable::of(tok)), so_(so), mask_(tok.vocab_size()) {
    using Kind = detail::HeaderAlt::Kind;
    auto declared = [&](const char* c) { return std::find(spec.channels.begin(), spec.channels.end(), c) != spec.channels.end(); };
    const auto mode = so.tool_choice.mode;
    const bool tools_on = mode != ToolChoice::Mode::none && !spec.tools.empty();
    const bool forced = mode == ToolChoice::Mode::required || mode == ToolChoice::Mode::function;
    if (forced && spec.tools.empty()) throw input_error("tool_choice " + std::string(mode == ToolChoice::Mode::required ? "required" : "\"" + so.tool_choice.name + "\"") + " but no function tools are declared");
    if (tools_on && !declared("commentary")) throw input_error("function tools need the commentary channel, which the system message does not declare");
    if (!forced && !declared("final")) throw input_error("the system message does not declare the final channel");
    if (so.reasoning_budget && *so.reasoning_budget < 0) throw input_error("reasoning budget must be >= 0");

    auto add = [&](const std::string& channel, const std::string& tail, Kind k, int tool) {
      detail::HeaderAlt a{{}, k, tool};
      a.units.push_back(detail::special_unit(harmony::tokens::channel));
      for (unsigned char c : channel) a.units.push_back(c);
      for (unsigned char c : tail) a.units.push_back(c);
      if (k == Kind::tool) {
        a.units.push_back(' ');
        a.units.push_back(detail::special_unit(harmony::tokens::constrain));
        for (unsigned char c : std::string("json")) a.units.push_back(c);
      }
      a.units.push_back(detail::special_unit(harmony::tokens::message));
      alts_.push_back(std::move(a));
    };
    // With a response format and no tools, only analysis and final.
    if (declared("analysis")) add("analysis", "", Kind::analysis, -1);
    if (tools_on) add("commentary", "", Kind::preamble, -1);
    if (!forced) add("final", "", Kind::final, -1);
    bool found = mode != ToolChoice::Mode::function;
    if (tools_on)
      for (std::size_t i = 0; i < spec.tools.size(); ++i) {
        const auto& t = spec.tools[i];
        const bool this_forced = mode == ToolChoice::Mode::required || (mode == ToolChoice::Mode::function && t.name == so.tool_choice.name);
        if (mode == ToolChoice::Mode::function && !this_forced) continue;
        found = found || this_forced;
        add("commentary", " to=functions." + t.name, Kind::tool, int(tools_.size()));
        Tool tool{t.name, forced, nullptr};
        try {
          if ((t.strict || this_forced) && t.parameters) tool.args = std::make_shared<JsonMatcher>(compile_schema(*t.parameters, so.limits));
          else tool.args = std::make_shared<JsonMatcher>(json_object_grammar(so.limits));
        } catch (const schema_error& e) {
          throw schema_error("/tools/" + t.name + "/parameters" + e.path, e.reason);
        }
        tools_.push_back(std::move(tool));
      }
    if (!found) throw input_error("tool_choice names \"" + so.tool_choice.name + "\", which is not a declared function tool");
    if (so.response_format.kind == ResponseFormat::Kind::json_schema) final_json_ = std::make_shared<JsonMatcher>(compile_schema(so.response_format.schema, so.limits));
    else if (so.response_format.kind == ResponseFormat::Kind::json_object) final_json_ = std::make_shared<JsonMatcher>(json_object_grammar(so.limits));
    begin_header(/*first=*/true);
  }

  Constraint(const text::Tokenizer& tok, const harmony::Conversation& conv, const StructuredOutput& so)
      : Constraint(tok, envelope_of(conv), so) {}

  // Whether the reply is complete (<|return|> or <|call|> was taken): nothing more may follow.
  bool finished() const override { return phase_ == Phase::done; }
  // Tokens counted against the reasoning budget so far.
  int reasoning_tokens() const { return spent_; }

  // The tokens that may come next.
  const TokenMask& mask() {
    compute(mask_);
    return mask_;
  }

  void allowed_tokens(std::span<std::uint64_t> words) override {
    compute(mask_);
    // A logits row longer than the vocabulary: the ids past it stay disallowed.
    const std::size_t n = std::min(words.size(), mask_.words().size());
    std::copy_n(mask_.words().begin(), n, words.begin());
    std::fill(words.begin() + std::ptrdiff_t(n), words.end(), 0);
  }

  bool allows(token_id t) override {
    if (t >= table_->vocab_size()) return false;
    const bool special = t >= table_->n_ordinary();
    switch (phase_) {
      case Phase::done: return false;
      case Phase::header: {
        detail::HeaderState s = header_;
        restrict_header(s);
        if (special) {
          int u = detail::special_unit(t);
          if (u < 0) return false;
          detail::HeaderState o;
          detail::HeaderMatcher{&alts_}.step(s, u, o);
          return !o.cand.empty();
        }
        detail::HeaderState o;
        for (unsigned char b : table_->bytes(t)) {
          detail::HeaderMatcher{&alts_}.step(s, b, o);
          if (o.cand.empty()) return false;
          std::swap(s, o);
        }
        return true;
      }
      case Phase::text:
        if (special) return t == end_token_;
        return !over_budget();
      case Phase::json: {
        if (special) return t == end_token_ && json_->accepts_end(json_state_);
        MatchState s = json_state_, o;
        for (unsigned char b : table_->bytes(t)) {
          json_->step(s, b, o);
          if (o.dead()) return false;
          std::swap(s, o);
        }
        return true;
      }
    }
    return false;
  }

  void advance(token_id t) override {
    if (!allows(t)) throw input_error("token " + std::to_string(t) + " is not allowed by the constraint here");
    // Counted after the step: the step itself is judged against the budget as allows() saw it.
    const bool counted = counting_;
    step(t);
    if (counted) ++spent_;
  }

 private:
  void step(token_id t) {
    const bool special = t >= table_->n_ordinary();
    switch (phase_) {
      case Phase::done: return;
      case Phase::header: {
        restrict_header(header_);
        detail::HeaderState o;
        if (special) {
          detail::HeaderMatcher{&alts_}.step(header_, detail::special_unit(t), o);
          header_ = std::move(o);
        } else {
          for (unsigned char b : table_->bytes(t)) {
            detail::HeaderMatcher{&alts_}.step(header_, b, o);
            std::swap(header_, o);
          }
        }
        // The header is complete after its <|message|> (the last unit of every alternative).
        if (header_.cand.size() == 1 && header_.pos == alts_[header_.cand[0]].units.size()) {
          begin_body(alts_[header_.cand[0]]);
        }
        return;
      }
      case Phase::text:
        if (t == end_token_) end_message();
        return;
      case Phase::json:
        if (special) return end_message();
        for (unsigned char b : table_->bytes(t)) {
          MatchState o;
          json_->step(json_state_, b, o);
          json_state_ = std::move(o);
        }
        return;
    }
  }

  enum class Phase { header, text, json, done };
  struct Tool {
    std::string name;
    bool forced;
    std::shared_ptr<JsonMatcher> args;
  };

  bool over_budget() const { return counting_ && so_.reasoning_budget && spent_ >= *so_.reasoning_budget; }

  // Once the budget is spent, a header that can still become the final message or the forced
  // call must become one.
  void restrict_header(detail::HeaderState& s) const {
    if (!over_budget()) return;
    std::vector<std::uint16_t> keep;
    for (auto a : s.cand) {
      const auto k = alts_[a].kind;
      if (k == detail::HeaderAlt::Kind::final || (k == detail::HeaderAlt::Kind::tool && tools_[std::size_t(alts_[a].tool)].forced))
        keep.push_back(a);
    }
    if (!keep.empty()) s.cand = std::move(keep);
  }

  void begin_header(bool first) {
    // After the first message every header starts with <|start|>assistant: prepend it to all.
    if (!first && prefix_len_ == 0) {
      std::vector<int> prefix{detail::special_unit(harmony::tokens::start)};
      for (unsigned char c : std::string("assistant")) prefix.push_back(c);
      for (auto& a : alts_) a.units.insert(a.units.begin(), prefix.begin(), prefix.end());
      prefix_len_ = prefix.size();
    }
    header_.cand.resize(alts_.size());
    std::iota(header_.cand.begin(), header_.cand.end(), std::uint16_t(0));
    header_.pos = 0;
    phase_ = Phase::header;
  }

  void begin_body(const detail::HeaderAlt& a) {
    using Kind = detail::HeaderAlt::Kind;
    if (a.kind == Kind::final || (a.kind == Kind::tool && tools_[std::size_t(a.tool)].forced)) counting_ = false;
    if (a.kind == Kind::tool) {
      json_ = tools_[std::size_t(a.tool)].args;
      end_token_ = harmony::tokens::call;
    } else if (a.kind == Kind::final) {
      json_ = final_json_;
      end_token_ = harmony::tokens::return_;
    } else {
      json_.reset();
      end_token_ = harmony::tokens::end;
    }
    if (json_) {
      json_state_ = json_->initial();
      phase_ = Phase::json;
    } else {
      phase_ = Phase::text;
    }
  }

  void end_message() {
    if (end_token_ == harmony::tokens::end) return begin_header(false);
    phase_ = Phase::done;
  }

  void compute(TokenMask& m) {
    m.clear();
    switch (phase_) {
      case Phase::done: return;
      case Phase::header: {
        detail::HeaderState s = header_;
        restrict_header(s);
        detail::HeaderMatcher hm{&alts_};
        for (token_id t : detail::envelope_specials) {
          detail::HeaderState o;
          hm.step(s, detail::special_unit(t), o);
          if (!o.cand.empty()) m.set(t);
        }
        detail::walk_tokens(hm, s, *table_, table_->all(), header_scratch_, m);
        return;
      }
      case Phase::text:
        if (!over_budget()) m.set_prefix(table_->n_ordinary());
        m.set(end_token_);
        return;
      case Phase::json: {
        if (json_->accepts_end(json_state_)) m.set(end_token_);
        std::uint32_t room = 0;
        if (json_->plain_string_body(json_state_, room)) {
          // Inside a plain string: whole characters are allowed by their count alone; only the
          // other tokens are walked.
          for (token_id t = 0; t < table_->n_ordinary(); ++t)
            if (table_->plain(t) && table_->chars(t) <= room) m.set(t);
          detail::walk_tokens(*json_, json_state_, *table_, table_->non_plain(), json_scratch_, m);
        } else {
          detail::walk_tokens(*json_, json_state_, *table_, table_->all(), json_scratch_, m);
        }
        return;
      }
    }
  }

  std::shared_ptr<const TokenTable> table_;
  StructuredOutput so_;
  std::vector<detail::HeaderAlt> alts_;
  std::vector<Tool> tools_;
  std::shared_ptr<JsonMatcher> final_json_, json_;
  std::size_t prefix_len_ = 0;
  Phase phase_ = Phase::header;
  detail::HeaderState header_;
  MatchState json_state_;
  token_id end_token_ = harmony::tokens::end;
  bool counting_ = true;
  int spent_ = 0;
  TokenMask mask_;
  std::vector<detail::HeaderState> header_scratch_;
  std::vector<MatchState> json_scratch_;
};

}  // namespace gptoss::constrain
