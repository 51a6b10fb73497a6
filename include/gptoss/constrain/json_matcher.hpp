// The byte-level runtime of a Grammar: which bytes may come next in a JSON document of the schema.
// A state is a small set of threads (anyOf and object keys fork them), each a stack of frames, one
// per open value. Every byte either extends a thread or kills it; a state with no thread is dead.
// Whitespace between tokens is bounded (Grammar::max_whitespace), numbers to 16 integer digits, 16
// fraction digits and 3 exponent digits, containers to Grammar::max_value_depth.
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "gptoss/constrain/schema.hpp"
#include "gptoss/text/utf8.hpp"

namespace gptoss::constrain {

struct Frame {
  enum Kind : std::uint8_t { root, object, array, string, number, literal, key_literal, key_free };
  std::uint32_t node = 0;
  Kind kind = root;
  std::uint8_t st = 0;
  std::uint8_t ws = 0;
  std::uint8_t aux = 0;  // string: continuation bytes still due (UTF-8) or hex digits left (\u)
  std::uint16_t prop = 0;
  std::uint16_t range = 0;  // string: allowed range of the next continuation byte (lo | hi << 8)
  std::uint32_t count = 0;
  std::uint32_t pos = 0;
  std::uint64_t seen = 0;
  bool operator==(const Frame&) const = default;
};

using Thread = std::vector<Frame>;

// A set of threads that keeps its threads' storage when cleared (no allocation when warm).
struct MatchState {
  std::vector<Thread> threads;
  std::size_t size = 0;
  void clear() { size = 0; }
  bool dead() const { return size == 0; }
  Thread& push() {
    if (size == threads.size()) threads.emplace_back();
    return threads[size++];
  }
  void assign(const MatchState& o) {
    if (threads.size() < o.size) threads.resize(o.size);
    for (std::size_t i = 0; i < o.size; ++i) threads[i].assign(o.threads[i].begin(), o.threads[i].end());
    size = o.size;
  }
  MatchState() = default;
  MatchState(const MatchState& o) { assign(o); }
  MatchState& operator=(const MatchState& o) {
    if (this != &o) assign(o);
    return *this;
  }
};

class JsonMatcher {
 public:
  explicit JsonMatcher(Grammar g) : g_(std::move(g)) {}
  const Grammar& grammar() const { return g_; }

  MatchState initial() const {
    MatchState s;
    s.push() = Thread{Frame{}};
    return s;
  }

  // out = in after byte b (out is dead if b cannot come next). in and out must differ.
  void step(const MatchState& in, unsigned char b, MatchState& out) const {
    out.clear();
    for (std::size_t i = 0; i < in.size; ++i) feed(Thread(in.threads[i]), b, out);
    dedupe(out);
  }

  bool dead(const MatchState& s) const { return s.dead(); }

  // Whether the document may end here (a complete value; a number may also go on).
  bool accepts_end(const MatchState& s) const {
    for (std::size_t i = 0; i < s.size; ++i) {
      const Thread& t = s.threads[i];
      if (t.size() == 1 && t[0].st == 1) return true;
      if (t.size() == 2 && t[1].kind == Frame::number && number_accepting(t[1])) return true;
    }
    return false;
  }

  // Whether the state is a single thread inside a plain string body (no pattern, not a key,
  // not inside an escape or a character): there every token of complete plain characters is
  // allowed if it fits maxLength; `room` is how many characters may still come.
  bool plain_string_body(const MatchState& s, std::uint32_t& room) const {
    if (s.size != 1) return false;
    const Frame& f = s.threads[0].back();
    if (f.kind != Frame::string || f.st != s_body || g_.nodes[f.node].pattern >= 0) return false;
    const std::uint32_t mx = g_.nodes[f.node].max_length;
    room = mx == unbounded ? unbounded : mx - f.count;
    return true;
  }

 private:
  enum : std::uint8_t { r_value = 0, r_done = 1 };
  enum : std::uint8_t { o_open, o_key, o_colon, o_value, o_in_value, o_after, o_comma };
  enum : std::uint8_t { a_open, a_in_value, a_after, a_comma };
  enum : std::uint8_t { s_body, s_escape, s_hex, s_cont };
  enum : std::uint8_t { n_start, n_minus, n_zero, n_int, n_dot, n_frac, n_e, n_esign, n_exp };

  static bool is_ws(unsigned char b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
  static bool is_digit(unsigned char b) { return b >= '0' && b <= '9'; }

  static bool number_accepting(const Frame& f) { return f.st == n_zero || f.st == n_int || f.st == n_frac || f.st == n_exp; }

  static void dedupe(MatchState& s) {
    for (std::size_t i = 1; i < s.size;) {
      bool dup = false;
      for (std::size_t j = 0; j < i && !dup; ++j) dup = s.threads[j] == s.threads[i];
      if (dup) {
        std::swap(s.threads[i], s.threads[s.size - 1]);
        --s.size;
      } else {
        ++i;
      }
    }
  }

  void emit(MatchState& out, Thread&& t) const {
    Thread& slot = out.push();
    slot = std::move(t);
  }

  int containers(const Thread& t) const {
    int n = 0;
    for (const auto& f : t) n += f.kind == Frame::object || f.kind == Frame::array;
    return n;
  }

  bool fits(const Thread& t, std::uint32_t node) const {
    const std::uint32_t need = g_.nodes[node].need;
    return need != unbounded && containers(t) + int(need) <= g_.max_value_depth;
  }

  // A value of `node` starts with byte b on top of thread t.
  void start_value(const Thread& t, std::uint32_t node, unsigned char b, MatchState& out) const {
    const Node& n = g_.nodes[node];
    if (!fits(t, node)) return;
    switch (n.kind) {
      case NodeKind::any_of:
        for (auto o : n.options) start_value(t, o, b, out);
        return;
      case NodeKind::object:
        if (b == '{') {
          Thread c = t;
          c.push_back(Frame{.node = node, .kind = Frame::object, .st = o_open});
          emit(out, std::move(c));
        }
        return;
      case NodeKind::array:
        if (b == '[') {
          Thread c = t;
          c.push_back(Frame{.node = node, .kind = Frame::array, .st = a_open});
          emit(out, std::move(c));
        }
        return;
      case NodeKind::string:
        if (b == '"') {
          Thread c = t;
          c.push_back(Frame{.node = node, .kind = Frame::string, .st = s_body});
          emit(out, std::move(c));
        }
        return;
      case NodeKind::number:
      case NodeKind::integer: {
        Thread c = t;
        c.push_back(Frame{.node = node, .kind = Frame::number, .st = n_start});
        feed(std::move(c), b, out);
        return;
      }
      case NodeKind::literal:
        if (b == (unsigned char)n.literal[0]) {
          Thread c = t;
          if (n.literal.size() == 1) {
            complete(std::move(c), out);
          } else {
            c.push_back(Frame{.node = node, .kind = Frame::literal, .pos = 1});
            emit(out, std::move(c));
          }
        }
        return;
    }
  }

  // The top frame's value is complete: the frame below takes over.
  void complete(Thread&& t, MatchState& out) const {
    Frame& f = t.back();
    switch (f.kind) {
      case Frame::root: f.st = r_done; break;
      case Frame::object: f.st = f.st == o_key ? o_colon : o_after, f.ws = 0; break;
      case Frame::array: ++f.count, f.st = a_after, f.ws = 0; break;
      default: return;  // scalars hold no values
    }
    emit(out, std::move(t));
  }

  void pop_complete(Thread&& t, MatchState& out) const {
    t.pop_back();
    complete(std::move(t), out);
  }

  bool ws_ok(Frame& f) const {
    if (f.ws >= g_.max_whitespace) return false;
    ++f.ws;
    return true;
  }

  // Offers the keys an object may take next, after its opening quote.
  void start_key(Thread t, MatchState& out) const {
    Frame& f = t.back();
    f.st = o_key;
    const std::uint32_t node = f.node;
    const std::uint64_t seen = f.seen;
    const Node& n = g_.nodes[node];
    for (std::size_t i = 0; i < n.props.size(); ++i) {
      if (seen >> i & 1) continue;
      if (!fits(t, n.props[i].value)) continue;
      Thread c = t;
      c.push_back(Frame{.node = node, .kind = Frame::key_literal, .prop = std::uint16_t(i), .pos = 1});
      emit(out, std::move(c));
    }
    if (n.additional >= 0 && fits(t, std::uint32_t(n.additional))) {
      std::uint64_t all = n.props.size() >= 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << n.props.size()) - 1;
      t.push_back(Frame{.node = node, .kind = Frame::key_free, .pos = 1, .seen = all});
      emit(out, std::move(t));
    }
  }

  // Whether the object may take another property.
  bool more_keys(const Thread& t) const {
    const Frame& f = t.back();
    const Node& n = g_.nodes[f.node];
    if (n.additional >= 0 && fits(t, std::uint32_t(n.additional))) return true;
    for (std::size_t i = 0; i < n.props.size(); ++i)
      if (!(f.seen >> i & 1) && fits(t, n.props[i].value)) return true;
    return false;
  }

  // One raw string byte (not '"' or '\\'): UTF-8 structure and character counting.
  static bool string_byte(Frame& f, unsigned char b, std::uint32_t max_len) {
    if (f.st == s_cont) {
      unsigned lo = f.range & 0xFF, hi = f.range >> 8;
      if (b < lo || b > hi) return false;
      f.range = 0x80 | (0xBF << 8);
      if (--f.aux == 0) f.st = s_body;
      return true;
    }
    if (b < 0x20) return false;
    if (f.count >= max_len) return false;
    if (b < 0x80) {
      ++f.count;
      return true;
    }
    const text::utf8::Lead l = text::utf8::lead(b);
    if (!l.valid) return false;
    ++f.count;
    f.st = s_cont;
    f.aux = l.more;
    f.range = std::uint16_t(l.lo | l.hi << 8);
    return true;
  }

  static int hex(unsigned char b) {
    if (b >= '0' && b <= '9') return b - '0';
    b |= 0x20;
    if (b >= 'a' && b <= 'f') return b - 'a' + 10;
    return -1;
  }

  void feed(Thread&& t, unsigned char b, MatchState& out) const {
    Frame& f = t.back();
    switch (f.kind) {
      case Frame::root:
        if (f.st == r_value) start_value(t, g_.root, b, out);
        return;
      case Frame::literal: {
        const std::string& lit = g_.nodes[f.node].literal;
        if (b != (unsigned char)lit[f.pos]) return;
        if (++f.pos == lit.size()) return pop_complete(std::move(t), out);
        return emit(out, std::move(t));
      }
      case Frame::key_literal: {
        const std::string& key = g_.nodes[f.node].props[f.prop].key;
        if (b != (unsigned char)key[f.pos]) return;
        if (++f.pos == key.size()) {
          std::uint16_t p = f.prop;
          t.pop_back();
          t.back().prop = p;
          t.back().seen |= std::uint64_t(1) << p;
          return complete(std::move(t), out);
        }
        return emit(out, std::move(t));
      }
      case Frame::key_free: {
        // A key not declared in properties: raw characters only, and never one of the declared
        // keys (whose values must follow their own schemas).
        const Node& n = g_.nodes[f.node];
        if (b == '"' && f.st != s_cont) {  // not inside a UTF-8 sequence
          const std::uint32_t len = f.pos + 1;
          for (std::size_t i = 0; i < n.props.size(); ++i)
            if ((f.seen >> i & 1) && n.props[i].key.size() == len) return;
          t.pop_back();
          t.back().prop = 0xFFFF;
          return complete(std::move(t), out);
        }
        if (b == '\\') return;
        if (!string_byte(f, b, unbounded)) return;
        for (std::size_t i = 0; i < n.props.size(); ++i)
          if ((f.seen >> i & 1) && (n.props[i].key.size() <= f.pos + 1 || (unsigned char)n.props[i].key[f.pos] != b))
            f.seen &= ~(std::uint64_t(1) << i);
        ++f.pos;
        return emit(out, std::move(t));
      }
      case Frame::string: {
        const Node& n = g_.nodes[f.node];
        if (n.pattern >= 0) {
          const auto& dfa = g_.patterns[std::size_t(n.pattern)];
          if (b == '"') {
            if (dfa.accepting[f.pos]) pop_complete(std::move(t), out);
            return;
          }
          std::int32_t nx = dfa.step(std::int32_t(f.pos), b);
          if (nx < 0) return;
          f.pos = std::uint32_t(nx);
          return emit(out, std::move(t));
        }
        if (f.st == s_escape) {
          if (b == 'u') {
            f.st = s_hex, f.aux = 4;
            return emit(out, std::move(t));
          }
          if (std::string_view("\"\\/bfnrt").find(char(b)) == std::string_view::npos) return;
          f.st = s_body;
          return emit(out, std::move(t));
        }
        if (f.st == s_hex) {
          int h = hex(b);
          if (h < 0) return;
          // No surrogates (\uD800-\uDFFF): a lone one is not a character.
          if (f.aux == 4) f.pos = std::uint32_t(h);
          if (f.aux == 3 && f.pos == 0xD && h >= 8) return;
          if (--f.aux == 0) f.st = s_body;
          return emit(out, std::move(t));
        }
        if (f.st == s_body) {
          if (b == '"') {
            if (f.count >= n.min_length) pop_complete(std::move(t), out);
            return;
          }
          if (b == '\\') {
            if (f.count >= n.max_length) return;
            ++f.count;
            f.st = s_escape;
            return emit(out, std::move(t));
          }
        }
        if (!string_byte(f, b, n.max_length)) return;
        return emit(out, std::move(t));
      }
      case Frame::number: {
        const bool integer = g_.nodes[f.node].kind == NodeKind::integer;
        switch (f.st) {
          case n_start:
            if (b == '-') return f.st = n_minus, emit(out, std::move(t));
            [[fallthrough]];
          case n_minus:
            if (b == '0') return f.st = n_zero, emit(out, std::move(t));
            if (b >= '1' && b <= '9') return f.st = n_int, f.count = 1, emit(out, std::move(t));
            return;
          case n_int:
            if (is_digit(b)) {
              if (f.count >= 16) return;
              return ++f.count, emit(out, std::move(t));
            }
            [[fallthrough]];
          case n_zero:
            if (!integer && b == '.') return f.st = n_dot, f.count = 0, emit(out, std::move(t));
            if (!integer && (b == 'e' || b == 'E')) return f.st = n_e, f.count = 0, emit(out, std::move(t));
            break;  // the number ends: the byte belongs to the frame below
          case n_dot:
            if (is_digit(b)) return f.st = n_frac, f.count = 1, emit(out, std::move(t));
            return;
          case n_frac:
            if (is_digit(b)) {
              if (f.count >= 16) return;
              return ++f.count, emit(out, std::move(t));
            }
            if (b == 'e' || b == 'E') return f.st = n_e, f.count = 0, emit(out, std::move(t));
            break;
          case n_e:
            if (b == '+' || b == '-') return f.st = n_esign, emit(out, std::move(t));
            [[fallthrough]];
          case n_esign:
            if (is_digit(b)) return f.st = n_exp, f.count = 1, emit(out, std::move(t));
            return;
          case n_exp:
            if (is_digit(b)) {
              if (f.count >= 2) return;
              return ++f.count, emit(out, std::move(t));
            }
            break;
        }
        // Ended by b: complete it, then the container takes b.
        t.pop_back();
        MatchState tmp;
        complete(std::move(t), tmp);
        for (std::size_t i = 0; i < tmp.size; ++i) feed(std::move(tmp.threads[i]), b, out);
        return;
      }
      case Frame::object: {
        const Node& n = g_.nodes[f.node];
        switch (f.st) {
          case o_open:
          case o_comma:
            if (is_ws(b)) {
              if (ws_ok(f)) emit(out, std::move(t));
              return;
            }
            if (b == '"') return start_key(std::move(t), out);
            if (b == '}' && f.st == o_open && (f.seen & n.required_mask) == n.required_mask) return pop_complete(std::move(t), out);
            return;
          case o_colon:
            if (is_ws(b)) {
              if (ws_ok(f)) emit(out, std::move(t));
              return;
            }
            if (b == ':') return f.st = o_value, f.ws = 0, emit(out, std::move(t));
            return;
          case o_value: {
            if (is_ws(b)) {
              if (ws_ok(f)) emit(out, std::move(t));
              return;
            }
            std::uint32_t value = f.prop == 0xFFFF ? std::uint32_t(n.additional) : n.props[f.prop].value;
            f.st = o_in_value;
            return start_value(t, value, b, out);
          }
          case o_after:
            if (is_ws(b)) {
              if (ws_ok(f)) emit(out, std::move(t));
              return;
            }
            if (b == ',' && more_keys(t)) return f.st = o_comma, f.ws = 0, emit(out, std::move(t));
            if (b == '}' && (f.seen & n.required_mask) == n.required_mask) return pop_complete(std::move(t), out);
            return;
          default: return;
        }
      }
      case Frame::array: {
        const Node& n = g_.nodes[f.node];
        switch (f.st) {
          case a_open:
          case a_comma:
            if (is_ws(b)) {
              if (ws_ok(f)) emit(out, std::move(t));
              return;
            }
            if (b == ']' && f.st == a_open && n.min_items == 0) return pop_complete(std::move(t), out);
            if (f.count < n.max_items) {
              f.st = a_in_value;
              start_value(t, n.items, b, out);
            }
            return;
          case a_after:
            if (is_ws(b)) {
              if (ws_ok(f)) emit(out, std::move(t));
              return;
            }
            if (b == ',' && f.count < n.max_items && fits(t, n.items)) return f.st = a_comma, f.ws = 0, emit(out, std::move(t));
            if (b == ']' && f.count >= n.min_items) return pop_complete(std::move(t), out);
            return;
          default: return;
        }
      }
    }
  }

  Grammar g_;
};

}  // namespace gptoss::constrain
