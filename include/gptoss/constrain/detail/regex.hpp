// The `pattern` subset of JSON Schema strings, compiled to a byte-level DFA over the raw (unescaped)
// bytes of a JSON string's content. Supported: literals (any UTF-8), `.`, classes `[a-z_]`,
// `[^...]`, the escapes \d \D \w \W \s \S and escaped punctuation, \n \t \r \uXXXX, groups `(...)`
// and `(?:...)`, `|`, quantifiers `* + ? {n} {n,} {n,m}` (a trailing lazy `?` is accepted: it does
// not change which strings match), `^` at the start and `$` at the end. A pattern without `^` (or
// `$`) may be preceded (followed) by anything, as JSON Schema's unanchored search means.
//
// The accepted language is a subset of what JavaScript's RegExp with the `u` flag (ajv) accepts:
// bytes a JSON string must escape (`"`, `\`, control characters) are never produced, \s matches
// ASCII spaces only, and \S and classes negating \s match ASCII only.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gptoss/core/error.hpp"

namespace gptoss::constrain::detail {

struct regex_error : input_error {
  using input_error::input_error;
};

// DFA over bytes: next[state * 256 + byte] is the next state or -1 (dead: no way to accept).
struct ByteDfa {
  std::vector<std::int32_t> next;
  std::vector<bool> accepting;
  std::int32_t step(std::int32_t s, unsigned char b) const { return next[std::size_t(s) * 256 + b]; }
};

struct RegexLimits {
  std::size_t max_pattern = 1000;
  std::size_t max_nfa_states = 5000;
  std::size_t max_dfa_states = 1000;
  int max_repeat = 100;
};

namespace regex_impl {

// A byte is writable raw inside a JSON string: not '"', '\\' or a control character.
inline bool raw_ok(unsigned b) { return b >= 0x20 && b != '"' && b != '\\'; }

struct Nfa {
  struct Edge {
    unsigned char lo, hi;
    int to;
  };
  std::vector<std::vector<Edge>> edges;
  std::vector<std::vector<int>> eps;
  std::size_t limit;
  int add() {
    if (edges.size() >= limit) throw regex_error("pattern is too large (more than " + std::to_string(limit) + " automaton states)");
    edges.emplace_back();
    eps.emplace_back();
    return int(edges.size()) - 1;
  }
  // Adds a byte range edge, leaving out the bytes a raw JSON string cannot hold.
  void range(int from, unsigned lo, unsigned hi, int to) {
    for (unsigned b = lo; b <= hi;) {
      if (!raw_ok(b)) {
        ++b;
        continue;
      }
      unsigned e = b;
      while (e + 1 <= hi && raw_ok(e + 1)) ++e;
      edges[std::size_t(from)].push_back({(unsigned char)b, (unsigned char)e, to});
      b = e + 1;
    }
  }
};

struct Frag {
  int in, out;
};

// Abstract syntax: a node is a char set (ASCII bitmap + whether multibyte characters count), a
// literal byte string, a concatenation, an alternation or a repetition.
struct Ast {
  enum Kind { set, bytes, cat, alt, rep } kind = cat;
  std::array<bool, 128> ascii{};
  bool multibyte = false, line_seps = false;  // all multibyte chars (line_seps: even U+2028/9)
  std::string text;
  std::vector<std::unique_ptr<Ast>> kids;
  int min = 0, max = -1;  // rep: max -1 is unbounded
};

class Parser {
 public:
  Parser(std::string_view p, const RegexLimits& lim) : p_(p), lim_(lim) {}

  std::unique_ptr<Ast> parse(bool& anchored_start, bool& anchored_end) {
    anchored_start = !p_.empty() && p_[0] == '^';
    if (anchored_start) ++i_;
    auto a = alternation(0);
    if (i_ < p_.size()) fail("unexpected ')'");
    anchored_end = end_anchor_;
    return a;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw regex_error("pattern \"" + std::string(p_) + "\": " + what + " at offset " + std::to_string(i_));
  }

  std::unique_ptr<Ast> alternation(int depth) {
    if (depth > 50) fail("groups nested too deeply");
    auto first = sequence(depth);
    if (i_ >= p_.size() || p_[i_] != '|') return first;
    auto a = std::make_unique<Ast>();
    a->kind = Ast::alt;
    a->kids.push_back(std::move(first));
    while (i_ < p_.size() && p_[i_] == '|') {
      ++i_;
      a->kids.push_back(sequence(depth));
    }
    return a;
  }

  std::unique_ptr<Ast> sequence(int depth) {
    auto s = std::make_unique<Ast>();
    s->kind = Ast::cat;
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      if (p_[i_] == '$') {
        if (i_ + 1 != p_.size()) fail("'$' is supported only at the end");
        ++i_;
        end_anchor_ = true;
        break;
      }
      if (p_[i_] == '^') fail("'^' is supported only at the start");
      auto atom_node = atom(depth);
      s->kids.push_back(quantified(std::move(atom_node)));
    }
    return s;
  }

  int number() {
    if (i_ >= p_.size() || p_[i_] < '0' || p_[i_] > '9') fail("expected a number in {}");
    long v = 0;
    while (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') {
      v = v * 10 + (p_[i_++] - '0');
      if (v > lim_.max_repeat) fail("repetition count above " + std::to_string(lim_.max_repeat));
    }
    return int(v);
  }

  std::unique_ptr<Ast> quantified(std::unique_ptr<Ast> a) {
    if (i_ >= p_.size()) return a;
    int mn = -2, mx = -1;
    char c = p_[i_];
    if (c == '*') mn = 0, mx = -1, ++i_;
    else if (c == '+') mn = 1, mx = -1, ++i_;
    else if (c == '?') mn = 0, mx = 1, ++i_;
    else if (c == '{') {
      ++i_;
      mn = number();
      mx = mn;
      if (i_ < p_.size() && p_[i_] == ',') {
        ++i_;
        mx = i_ < p_.size() && p_[i_] == '}' ? -1 : number();
      }
      if (i_ >= p_.size() || p_[i_] != '}') fail("expected '}'");
      ++i_;
      if (mx != -1 && mx < mn) fail("{n,m} with m < n");
    }
    if (mn == -2) return a;
    if (i_ < p_.size() && p_[i_] == '?') ++i_;  // lazy: same language
    if (i_ < p_.size() && (p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '?' || p_[i_] == '{')) fail("nested quantifier");
    auto r = std::make_unique<Ast>();
    r->kind = Ast::rep;
    r->min = mn;
    r->max = mx;
    r->kids.push_back(std::move(a));
    return r;
  }

  static std::unique_ptr<Ast> set_node() {
    auto s = std::make_unique<Ast>();
    s->kind = Ast::set;
    return s;
  }

  // Adds the class escape \d \w \s (upper case: negated) to a set; returns false if c is none.
  static bool class_escape(char c, Ast& s, bool& saw_space) {
    std::array<bool, 128> m{};
    char lc = char(c | 0x20);
    if (lc == 'd') for (int b = '0'; b <= '9'; ++b) m[std::size_t(b)] = true;
    else if (lc == 'w') {
      for (int b = 0; b < 128; ++b) m[std::size_t(b)] = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_';
    } else if (lc == 's') {
      for (int b : {' ', '\t', '\n', '\r', '\f', '\v'}) m[std::size_t(b)] = true;
      saw_space = true;
    } else {
      return false;
    }
    bool neg = c != lc;
    for (int b = 0; b < 128; ++b)
      if (m[std::size_t(b)] != neg) s.ascii[std::size_t(b)] = true;
    // \D and \W match every multibyte character in JavaScript; \S must not match Unicode spaces.
    if (neg && lc != 's') s.multibyte = true;
    return true;
  }

  // One code point of the pattern (already past any backslash), as UTF-8 bytes.
  std::string literal_char() {
    unsigned char b = (unsigned char)p_[i_];
    std::size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    if (i_ + n > p_.size()) fail("truncated UTF-8");
    std::string out(p_.substr(i_, n));
    i_ += n;
    return out;
  }

  static std::string utf8(unsigned cp) {
    std::string o;
    if (cp < 0x80) o += char(cp);
    else if (cp < 0x800) o += char(0xC0 | (cp >> 6)), o += char(0x80 | (cp & 0x3F));
    else o += char(0xE0 | (cp >> 12)), o += char(0x80 | ((cp >> 6) & 0x3F)), o += char(0x80 | (cp & 0x3F));
    return o;
  }

  // An escaped character (after '\'): the bytes it stands for.
  std::string escaped_literal() {
    if (i_ >= p_.size()) fail("pattern ends with '\\'");
    char c = p_[i_];
    if (c == 'n') return ++i_, "\n";
    if (c == 't') return ++i_, "\t";
    if (c == 'r') return ++i_, "\r";
    if (c == 'f') return ++i_, "\f";
    if (c == 'v') return ++i_, "\v";
    if (c == 'u') {
      if (i_ + 5 > p_.size()) fail("\\u needs 4 hex digits");
      unsigned cp = 0;
      for (std::size_t k = 1; k <= 4; ++k) {
        char h = p_[i_ + k];
        unsigned d = h >= '0' && h <= '9' ? unsigned(h - '0') : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? unsigned((h | 0x20) - 'a' + 10) : 99;
        if (d == 99) fail("\\u needs 4 hex digits");
        cp = cp * 16 + d;
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) fail("\\u escapes of surrogates are not supported");
      i_ += 5;
      return utf8(cp);
    }
    if (std::string_view("\\/.-^$*+?()[]{}|").find(c) != std::string_view::npos) return ++i_, std::string(1, c);
    fail(std::string("unsupported escape \\") + c);
  }

  std::unique_ptr<Ast> char_class() {
    ++i_;  // '['
    auto s = set_node();
    bool neg = i_ < p_.size() && p_[i_] == '^';
    if (neg) ++i_;
    bool saw_space = false, first = true;
    for (;;) {
      if (i_ >= p_.size()) fail("unterminated character class");
      char c = p_[i_];
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      std::string lo;
      if (c == '\\') {
        ++i_;
        if (i_ < p_.size() && class_escape(p_[i_], *s, saw_space)) {
          ++i_;
          continue;
        }
        lo = escaped_literal();
      } else {
        lo = literal_char();
      }
      std::string hi = lo;
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        if (p_[i_] == '\\') {
          ++i_;
          hi = escaped_literal();
        } else {
          hi = literal_char();
        }
      }
      if (lo.size() != 1 || hi.size() != 1) fail("non-ASCII characters in a class are not supported");
      if ((unsigned char)hi[0] < (unsigned char)lo[0]) fail("class range out of order");
      for (unsigned b = (unsigned char)lo[0]; b <= (unsigned char)hi[0]; ++b) s->ascii[b] = true;
    }
    if (neg) {
      for (auto& x : s->ascii) x = !x;
      s->multibyte = !saw_space && !s->multibyte;
    }
    return s;
  }

  std::unique_ptr<Ast> atom(int depth) {
    char c = p_[i_];
    if (c == '(') {
      ++i_;
      if (i_ < p_.size() && p_[i_] == '?') {
        if (i_ + 1 < p_.size() && p_[i_ + 1] == ':') i_ += 2;
        else fail("lookaround and named groups are not supported");
      }
      auto a = alternation(depth + 1);
      if (i_ >= p_.size() || p_[i_] != ')') fail("missing ')'");
      ++i_;
      return a;
    }
    if (c == '[') return char_class();
    if (c == '.') {
      ++i_;
      auto s = set_node();
      for (int b = 0; b < 128; ++b) s->ascii[std::size_t(b)] = b != '\n' && b != '\r';
      s->multibyte = true;
      return s;
    }
    if (c == '*' || c == '+' || c == '?' || c == '{') fail("quantifier without anything to repeat");
    if (c == '}' || c == ']') fail(std::string("unescaped '") + c + "'");
    auto b = std::make_unique<Ast>();
    b->kind = Ast::bytes;
    if (c == '\\') {
      ++i_;
      if (i_ < p_.size() && std::string_view("123456789kbB").find(p_[i_]) != std::string_view::npos)
        fail("backreferences and word boundaries are not supported");
      bool space = false;
      auto s = set_node();
      if (i_ < p_.size() && class_escape(p_[i_], *s, space)) {
        ++i_;
        return s;
      }
      b->text = escaped_literal();
    } else {
      b->text = literal_char();
    }
    return b;
  }

  std::string_view p_;
  const RegexLimits& lim_;
  std::size_t i_ = 0;
  bool end_anchor_ = false;
};

// Any multibyte UTF-8 character (with line_seps false: not U+2028/U+2029, which `.` excludes).
inline void multibyte(Nfa& n, int from, int to, bool line_seps) {
  auto chain = [&](std::initializer_list<std::pair<unsigned, unsigned>> ranges) {
    int cur = from;
    std::size_t k = 0;
    for (auto [lo, hi] : ranges) {
      int nxt = ++k == ranges.size() ? to : n.add();
      n.range(cur, lo, hi, nxt);
      cur = nxt;
    }
  };
  chain({{0xC2, 0xDF}, {0x80, 0xBF}});
  chain({{0xE0, 0xE0}, {0xA0, 0xBF}, {0x80, 0xBF}});
  chain({{0xE1, 0xE1}, {0x80, 0xBF}, {0x80, 0xBF}});
  if (line_seps) {
    chain({{0xE2, 0xE2}, {0x80, 0xBF}, {0x80, 0xBF}});
  } else {
    chain({{0xE2, 0xE2}, {0x81, 0xBF}, {0x80, 0xBF}});
    chain({{0xE2, 0xE2}, {0x80, 0x80}, {0x80, 0xA7}});
    chain({{0xE2, 0xE2}, {0x80, 0x80}, {0xAA, 0xBF}});
  }
  chain({{0xE3, 0xEC}, {0x80, 0xBF}, {0x80, 0xBF}});
  chain({{0xED, 0xED}, {0x80, 0x9F}, {0x80, 0xBF}});
  chain({{0xEE, 0xEF}, {0x80, 0xBF}, {0x80, 0xBF}});
  chain({{0xF0, 0xF0}, {0x90, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}});
  chain({{0xF1, 0xF3}, {0x80, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}});
  chain({{0xF4, 0xF4}, {0x80, 0x8F}, {0x80, 0xBF}, {0x80, 0xBF}});
}

inline Frag build(Nfa& n, const Ast& a) {
  switch (a.kind) {
    case Ast::set: {
      Frag f{n.add(), n.add()};
      for (unsigned b = 0; b < 128; ++b)
        if (a.ascii[b]) n.range(f.in, b, b, f.out);
      if (a.multibyte) multibyte(n, f.in, f.out, a.line_seps);
      return f;
    }
    case Ast::bytes: {
      Frag f{n.add(), 0};
      int cur = f.in;
      for (unsigned char b : a.text) {
        int nxt = n.add();
        n.range(cur, b, b, nxt);
        cur = nxt;
      }
      f.out = cur;
      return f;
    }
    case Ast::cat: {
      Frag f{n.add(), 0};
      int cur = f.in;
      for (const auto& k : a.kids) {
        Frag g = build(n, *k);
        n.eps[std::size_t(cur)].push_back(g.in);
        cur = g.out;
      }
      f.out = cur;
      return f;
    }
    case Ast::alt: {
      Frag f{n.add(), n.add()};
      for (const auto& k : a.kids) {
        Frag g = build(n, *k);
        n.eps[std::size_t(f.in)].push_back(g.in);
        n.eps[std::size_t(g.out)].push_back(f.out);
      }
      return f;
    }
    case Ast::rep: {
      Frag f{n.add(), 0};
      int cur = f.in;
      for (int k = 0; k < a.min; ++k) {
        Frag g = build(n, *a.kids[0]);
        n.eps[std::size_t(cur)].push_back(g.in);
        cur = g.out;
      }
      if (a.max == -1) {
        Frag g = build(n, *a.kids[0]);
        int end = n.add();
        n.eps[std::size_t(cur)].push_back(g.in);
        n.eps[std::size_t(cur)].push_back(end);
        n.eps[std::size_t(g.out)].push_back(cur);
        cur = end;
      } else {
        int end = n.add();
        for (int k = a.min; k < a.max; ++k) {
          n.eps[std::size_t(cur)].push_back(end);
          Frag g = build(n, *a.kids[0]);
          n.eps[std::size_t(cur)].push_back(g.in);
          cur = g.out;
        }
        n.eps[std::size_t(cur)].push_back(end);
        cur = end;
      }
      f.out = cur;
      return f;
    }
  }
  return {};
}

inline std::unique_ptr<Ast> any_star() {
  auto dot = std::make_unique<Ast>();
  dot->kind = Ast::set;
  dot->ascii.fill(true);
  dot->multibyte = dot->line_seps = true;
  auto r = std::make_unique<Ast>();
  r->kind = Ast::rep;
  r->min = 0;
  r->max = -1;
  r->kids.push_back(std::move(dot));
  return r;
}

}  // namespace regex_impl

// Compiles a pattern; throws regex_error for unsupported syntax, too large automata, or a pattern
// that no raw JSON string content can match.
inline ByteDfa compile_pattern(std::string_view pattern, const RegexLimits& lim = {}) {
  using namespace regex_impl;
  if (pattern.size() > lim.max_pattern) throw regex_error("pattern longer than " + std::to_string(lim.max_pattern) + " bytes");
  bool as = false, ae = false;
  Parser parser(pattern, lim);
  auto body = parser.parse(as, ae);
  Ast top;
  top.kind = Ast::cat;
  if (!as) top.kids.push_back(any_star());
  top.kids.push_back(std::move(body));
  if (!ae) top.kids.push_back(any_star());
  Nfa n;
  n.limit = lim.max_nfa_states;
  Frag f = build(n, top);

  auto closure = [&](std::vector<int> set) {
    std::vector<bool> in(n.edges.size());
    for (int s : set) in[std::size_t(s)] = true;
    for (std::size_t k = 0; k < set.size(); ++k)
      for (int t : n.eps[std::size_t(set[k])])
        if (!in[std::size_t(t)]) in[std::size_t(t)] = true, set.push_back(t);
    std::sort(set.begin(), set.end());
    return set;
  };
  std::map<std::vector<int>, std::int32_t> ids;
  std::vector<std::vector<int>> sets;
  ByteDfa d;
  auto id_of = [&](std::vector<int> s) -> std::int32_t {
    if (s.empty()) return -1;
    auto [it, fresh] = ids.emplace(s, std::int32_t(sets.size()));
    if (fresh) {
      if (sets.size() >= lim.max_dfa_states)
        throw regex_error("pattern \"" + std::string(pattern) + "\" needs more than " + std::to_string(lim.max_dfa_states) + " automaton states");
      sets.push_back(std::move(s));
      d.next.resize(sets.size() * 256, -1);
      d.accepting.push_back(false);
    }
    return it->second;
  };
  id_of(closure({f.in}));
  for (std::size_t s = 0; s < sets.size(); ++s) {
    d.accepting[s] = std::binary_search(sets[s].begin(), sets[s].end(), f.out);
    std::array<std::vector<int>, 256> by_byte;
    for (int q : sets[s])
      for (const auto& e : n.edges[std::size_t(q)])
        for (unsigned b = e.lo; b <= e.hi; ++b) by_byte[b].push_back(e.to);
    for (unsigned b = 0; b < 256; ++b)
      if (!by_byte[b].empty()) {
        std::int32_t t = id_of(closure(std::move(by_byte[b])));
        d.next[s * 256 + b] = t;
      }
  }
  // Keep only states from which an accepting state is reachable.
  const std::size_t ns = sets.size();
  std::vector<bool> live(d.accepting.begin(), d.accepting.end());
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t s = 0; s < ns; ++s)
      if (!live[s])
        for (unsigned b = 0; b < 256; ++b)
          if (std::int32_t t = d.next[s * 256 + b]; t >= 0 && live[std::size_t(t)]) {
            live[s] = changed = true;
            break;
          }
  }
  if (!live[0]) throw regex_error("pattern \"" + std::string(pattern) + "\" matches no string that can be written without escapes");
  for (auto& t : d.next)
    if (t >= 0 && !live[std::size_t(t)]) t = -1;
  return d;
}

}  // namespace gptoss::constrain::detail
