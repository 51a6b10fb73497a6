// Structured decoding: the schema suite (every supported keyword, nesting, $ref, refused schemas),
// properties of the byte automaton checked by exhaustive enumeration against an independent
// validator, masks over the real vocabulary against per-token checks, UTF-8 split across tokens,
// and random walks through the Harmony envelope that the Harmony parser must accept.
#define BOOST_TEST_MODULE constrain
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <functional>
#include <random>

#include "constrain/validator.hpp"
#include "gptoss/config/model_config.hpp"
#include "gptoss/constrain/constrain.hpp"
#include "gptoss/generate/generate.hpp"
#include "gptoss/harmony/parse.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;
using namespace gptoss::constrain;
using test::json;

namespace {

const text::Tokenizer& tokenizer() {
  static auto tok = text::Tokenizer::from_file(std::string(GPTOSS_TEST_DATA) + "/tokenizer/o200k_base.tiktoken");
  return tok;
}

JsonMatcher matcher(const std::string& schema) { return JsonMatcher(compile_schema(json::parse(schema))); }

bool accepts(const JsonMatcher& m, std::string_view doc) {
  MatchState s = m.initial(), o;
  for (unsigned char b : doc) {
    m.step(s, b, o);
    if (o.dead()) return false;
    std::swap(s, o);
  }
  return m.accepts_end(s);
}

// Whether some completion of the state exists within `depth` more bytes (a bounded search over
// every byte).
bool completable(const JsonMatcher& m, const MatchState& s, int depth) {
  if (m.accepts_end(s)) return true;
  if (depth == 0) return false;
  static const std::string preferred = "\"}]0a1:,[{tnfrueals";
  MatchState o;
  for (unsigned char b : preferred) {
    m.step(s, b, o);
    if (!o.dead() && completable(m, o, depth - 1)) return true;
  }
  return false;
}

struct Case {
  const char* schema;
  std::vector<const char*> valid, invalid;
};

}  // namespace

BOOST_AUTO_TEST_CASE(schema_suite_accepts_valid_and_rejects_invalid_documents) {
  const std::vector<Case> cases = {
      {R"({"type":"string"})", {R"("")", R"("abc")", R"("a\"b\\c\u00e9\n")", "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\""},
       {R"(abc)", R"("a)", "\"\x01\"", R"("\x")", R"("\ud800")", "\"\xC3\"", "\"\xED\xA0\x80\"", "1"}},
      {R"({"type":"string","minLength":2,"maxLength":3})", {R"("ab")", R"("abc")", "\"\xC3\xA9\xC3\xA9\"", R"("a\n")"}, {R"("a")", R"("abcd")", "\"\xC3\xA9\""}},
      {R"({"type":"string","pattern":"^[a-z]{2,3}-\\d+$"})", {R"("ab-1")", R"("xyz-42")"}, {R"("a-1")", R"("abcd-1")", R"("ab-")", R"("AB-1")"}},
      {R"({"type":"string","pattern":"^.[^a]$"})", {"\"xy\""}, {"\"x\xC3\"", "\"\xC3x\"", "\"x\x01\"", "\"xa\""}},
      {R"({"type":"string","pattern":"ab"})", {R"("ab")", R"("xaby")"}, {R"("a")", R"("ba")"}},
      {R"({"type":"string","pattern":"^(cat|dog)s?$"})", {R"("cat")", R"("dogs")"}, {R"("cow")", R"("cats!")"}},
      {R"({"type":"integer"})", {"0", "-12", "42"}, {"01", "1.5", "-", "1e3", "+1"}},
      {R"({"type":"number"})", {"0", "-1.25", "3e10", "2.5E-3", "-0"}, {"1.", ".5", "1e", "--1", "0x10"}},
      {R"({"type":"boolean"})", {"true", "false"}, {"True", "1", "null"}},
      {R"({"type":"null"})", {"null"}, {"nul", "false"}},
      {R"({"enum":["a",1,null,{"x":[1,2]},true]})", {R"("a")", "1", "null", R"({"x":[1,2]})", "true"}, {R"("b")", "2", "false", R"({"x":[1]})"}},
      {R"({"type":"string","enum":["a",1,"b"]})", {R"("a")", R"("b")"}, {"1"}},
      {R"({"const":{"k":"v"}})", {R"({"k":"v"})"}, {R"({"k":"w"})", "{}"}},
      {R"({"type":["string","null"]})", {R"("x")", "null"}, {"1"}},
      {R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})", {"[1]", "[1,2,3]", "[ 1, 2 ]"}, {"[]", "[1,2,3,4]", "[1,]", R"(["a"])"}},
      {R"({"type":"array"})", {"[]", R"([1,"a",null,[{}]])"}, {"[", "[1 2]"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"],"additionalProperties":false})",
       {R"({"a":1})", R"({"a":1,"b":"x"})", R"({"b":"x","a":2})", R"({ "a" : 1 })"},
       {"{}", R"({"b":"x"})", R"({"a":1,"c":2})", R"({"a":1,"a":2})", R"({"a":"1"})", R"({"a":1,})"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"}}})", {R"({"a":1,"zz":[true]})", "{}"}, {R"({"a":"x"})"}},
      {R"({"type":"object","additionalProperties":{"type":"boolean"}})", {R"({"x":true,"y":false})", "{\"\xC3\xA9\":true}"},
       {R"({"x":1})", "{\"\xC3\":true}", "{\"\xE2\x82\":true}", "{\"\x01\":true}"}},  // keys are UTF-8 too
      {R"({"anyOf":[{"type":"string","maxLength":1},{"type":"integer"},{"type":"object","properties":{"k":{"const":1}},"required":["k"],"additionalProperties":false}]})",
       {R"("a")", "7", R"({"k":1})"}, {R"("ab")", "1.5", R"({"k":2})"}},
      {R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"],"additionalProperties":false}},"$ref":"#/$defs/node"})",
       {R"({"v":1,"next":null})", R"({"v":1,"next":{"v":2,"next":null}})"}, {R"({"v":1})", R"({"v":1,"next":{"v":2}})"}},
      {R"({"type":"object","properties":{"list":{"type":"array","items":{"$ref":"#"}}},"additionalProperties":false})",
       {R"({"list":[{"list":[]},{}]})"}, {R"({"list":[1]})"}},
      {"{}", {"1", R"({"a":[null]})", R"("s")"}, {"", "{", "1 2"}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.schema) {
      const json schema = json::parse(c.schema);
      const auto m = JsonMatcher(compile_schema(schema));
      for (const char* d : c.valid) {
        BOOST_TEST(accepts(m, d), "should accept " << d);
        BOOST_TEST(test::validate(json::parse(d), schema), "the validator disagrees on " << d);
      }
      for (const char* d : c.invalid) BOOST_TEST(!accepts(m, d), "should reject " << d);
    }
  }
}

BOOST_AUTO_TEST_CASE(whitespace_is_bounded) {
  const auto m = matcher(R"({"type":"object","properties":{"a":{"type":"integer"}}})");
  BOOST_TEST(accepts(m, "{  \"a\"  :  1  }"));
  BOOST_TEST(!accepts(m, "{   \"a\":1}"));
  BOOST_TEST(!accepts(m, " {}"));  // none before the document
  BOOST_TEST(!accepts(m, "{} "));  // nor after it: the end token must come
}

BOOST_AUTO_TEST_CASE(bad_schemas_are_refused_naming_the_keyword_and_path) {
  const std::vector<std::pair<const char*, const char*>> bad = {
      {R"({"type":"string","format":"date-time"})", "/format: unsupported keyword \"format\""},
      {R"({"type":"object","properties":{"when":{"type":"number","minimum":0}}})", "/properties/when/minimum: unsupported keyword"},
      {R"({"oneOf":[{"type":"string"}]})", "/oneOf: unsupported keyword"},
      {R"({"type":"strin"})", "/type: unknown type"},
      {R"({"type":"string","minLength":5,"maxLength":2})", "/minLength: minLength is greater than maxLength"},
      {R"({"type":"array","minItems":3,"maxItems":1})", "/minItems"},
      {R"({"type":"array","items":[{"type":"string"}]})", "/items: tuple items"},
      {R"({"$ref":"#/$defs/missing"})", "/$ref: $ref \"#/$defs/missing\" points to nothing"},
      {R"({"$ref":"http://example.com/s.json"})", "/$ref"},
      {R"({"type":"object","required":["x"],"additionalProperties":false})", "/required: \"x\" is required but not allowed"},
      {R"({"type":"string","enum":[1,2]})", "/enum: no value matches"},
      {R"j({"type":"string","pattern":"(a"})j", "/pattern"},
      {R"j({"type":"string","pattern":"a(?=b)"})j", "lookaround"},
      {R"({"type":"string","pattern":"^\"$"})", "/pattern"},
      {R"({"type":"string","pattern":"^a$","maxLength":3})", "/pattern: pattern together with minLength/maxLength"},
      {R"({"type":"integer","maxLength":3})", "/maxLength: keyword \"maxLength\" needs type string"},
      {R"({"enum":[1],"minimum":0})", "/minimum"},
      {R"({"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"]})", "matches no finite JSON value"},
      {R"(false)", "the schema false matches nothing"},
      {R"(3)", "a schema must be an object or a boolean"},
      {R"({"anyOf":[]})", "/anyOf: must be a non-empty array"},
  };
  for (const auto& [schema, expected] : bad) {
    BOOST_TEST_CONTEXT(schema) {
      try {
        compile_schema(json::parse(schema));
        BOOST_ERROR("not refused");
      } catch (const schema_error& e) {
        BOOST_TEST(std::string(e.what()).find(expected) != std::string::npos, e.what() << " lacks " << expected);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(deep_and_huge_schemas_are_refused_within_limits) {
  std::string deep = R"({"type":"string"})";
  for (int i = 0; i < 100; ++i) deep = R"({"type":"array","items":)" + deep + "}";
  BOOST_CHECK_THROW(compile_schema(json::parse(deep)), schema_error);
  json wide = {{"type", "object"}, {"properties", json::object()}};
  for (int i = 0; i < 65; ++i) wide["properties"]["p" + std::to_string(i)] = {{"type", "string"}};
  BOOST_CHECK_THROW(compile_schema(wide), schema_error);
  json big_enum = {{"enum", json::array()}};
  for (int i = 0; i < 2000; ++i) big_enum["enum"].push_back(i);
  BOOST_CHECK_THROW(compile_schema(big_enum), schema_error);
  // Required nesting beyond the generation depth limit.
  std::string must = R"({"type":"string"})";
  for (int i = 0; i < 30; ++i) must = R"({"type":"array","minItems":1,"items":)" + must + "}";
  BOOST_CHECK_THROW(compile_schema(json::parse(must)), schema_error);
}

// Every string over a small alphabet up to a length: the automaton accepts it exactly when it is
// JSON (parsed independently) that validates against the schema, within the whitespace bound.
BOOST_AUTO_TEST_CASE(exhaustive_enumeration_matches_an_independent_validator) {
  struct Small {
    const char* schema;
    std::string alphabet;
    int n;
  };
  const std::vector<Small> smalls = {
      {R"({"type":"array","items":{"type":"integer"},"maxItems":2})", "[]1,0-", 6},
      {R"({"type":"object","properties":{"a":{"type":"boolean"}},"additionalProperties":false})", "{}\"a:tru", 8},
      {R"({"type":"string","maxLength":2})", "\"a\\n", 6},
      {R"({"anyOf":[{"type":"integer"},{"type":"array","maxItems":1,"items":{"enum":[0,"0"]}}]})", "[]0\",1", 6},
      {R"({"type":"number"})", "1.e-0", 4},
      {R"({"type":"string","pattern":"^a+b?$"})", "\"ab", 6},
  };
  for (const auto& sm : smalls) {
    BOOST_TEST_CONTEXT(sm.schema) {
      const json schema = json::parse(sm.schema);
      const auto m = JsonMatcher(compile_schema(schema));
      std::size_t accepted = 0, checked = 0;
      std::function<void(std::string&, const MatchState&, bool)> rec = [&](std::string& s, const MatchState& st, bool alive) {
        if (!s.empty()) {
          ++checked;
          bool independent = false;
          try {
            independent = test::validate(json::parse(s), schema);
          } catch (const json::parse_error&) {
          }
          const bool mine = alive && m.accepts_end(st);
          accepted += mine;
          // Sound: everything accepted is valid. Complete (on this alphabet, no whitespace): every
          // valid document is accepted.
          if (mine != independent) BOOST_ERROR("disagree on " << s << ": automaton " << mine << ", validator " << independent);
          // Never stuck: a live prefix always has a completion.
          if (alive && !completable(m, st, 12)) BOOST_ERROR("live prefix without completion: " << s);
        }
        if (int(s.size()) == sm.n) return;
        MatchState o;
        for (char c : sm.alphabet) {
          if (alive) m.step(st, (unsigned char)c, o);
          s.push_back(c);
          rec(s, o, alive && !o.dead());
          s.pop_back();
        }
      };
      std::string s;
      rec(s, m.initial(), true);
      BOOST_TEST(accepted > 0);
      BOOST_TEST_MESSAGE(sm.schema << ": " << checked << " strings, " << accepted << " accepted");
    }
  }
}

// The mask (a walk over the sorted vocabulary with shared prefixes and the string fast path) is
// exactly the set of tokens that pass a direct byte-by-byte check, in many states; and following
// random allowed tokens always reaches a document that parses and validates.
BOOST_AUTO_TEST_CASE(masks_over_the_real_vocabulary_match_per_token_checks) {
  const auto& tok = tokenizer();
  const json schema = json::parse(
      R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},"n":{"type":"number"},"tags":{"type":"array","items":{"enum":["x","y"]},"maxItems":2},"code":{"type":"string","pattern":"^[A-Z]{2}[0-9]{0,3}$"}},"required":["name","n","code"],"additionalProperties":false})");
  StructuredOutput so;
  so.response_format = {ResponseFormat::Kind::json_schema, schema};
  so.reasoning_budget = 0;
  std::mt19937_64 rng(7);
  for (int run = 0; run < 6; ++run) {
    Constraint c(tok, EnvelopeSpec{}, so);
    std::vector<token_id> out;
    for (int step = 0; step < 120 && !c.finished(); ++step) {
      const TokenMask& m = c.mask();
      std::vector<token_id> allowed;
      for (token_id t = 0; t < m.size(); ++t)
        if (m.test(t)) allowed.push_back(t);
      // The direct check on every allowed token and on as many random others.
      std::vector<token_id> probe = allowed;
      for (std::size_t k = 0; k < 4000; ++k) probe.push_back(token_id(rng() % m.size()));
      if (probe.size() > 8000) std::shuffle(probe.begin(), probe.end(), rng), probe.resize(8000);
      for (token_id t : probe)
        if (m.test(t) != c.allows(t)) {
          BOOST_ERROR("run " << run << " step " << step << ": mask " << m.test(t) << " but allows " << c.allows(t) << " for token " << t);
          return;
        }
      BOOST_REQUIRE(!allowed.empty());
      // Prefer closing tokens now and then so documents finish.
      token_id t = allowed[rng() % allowed.size()];
      c.advance(t);
      out.push_back(t);
    }
    if (!c.finished()) continue;
    auto msgs = harmony::parse_completion(tok, out, harmony::Role::assistant, true);
    BOOST_REQUIRE(!msgs.empty());
    BOOST_TEST(msgs.back().channel.value_or("") == "final");
    BOOST_TEST(test::validate(json::parse(msgs.back().text()), schema), msgs.back().text());
  }
}

BOOST_AUTO_TEST_CASE(utf8_split_across_tokens) {
  // A character split over byte-level tokens is accepted only when completed correctly.
  const auto& tok = tokenizer();
  const auto m = matcher(R"({"type":"string","maxLength":1})");
  const std::string euro = "\xE2\x82\xAC";
  // Find single-byte tokens for each byte of the character.
  std::vector<token_id> parts;
  for (unsigned char b : euro) {
    token_id found = 0;
    for (token_id t = 0; t < tok.ranks().size(); ++t)
      if (tok.token_bytes(t) == std::string(1, char(b))) found = t;
    BOOST_REQUIRE(found != 0);
    parts.push_back(found);
  }
  BOOST_TEST(accepts(m, "\"" + euro + "\""));
  BOOST_TEST(!accepts(m, "\"\xE2\x82\""));        // cut short
  BOOST_TEST(!accepts(m, "\"" + euro + "a\""));   // two characters > maxLength 1
  BOOST_TEST(!accepts(m, "\"\xE2\x41\xAC\""));    // broken sequence
  // Through the envelope and mask: after the first two bytes only continuation tokens are allowed.
  StructuredOutput so;
  so.response_format = {ResponseFormat::Kind::json_schema, json::parse(R"({"type":"string","maxLength":1})")};
  so.reasoning_budget = 0;
  Constraint c(tok, EnvelopeSpec{}, so);
  for (auto t : tok.encode_ordinary("")) c.advance(t);
  std::vector<token_id> header = {harmony::tokens::channel};
  for (auto t : tok.encode_ordinary("final")) header.push_back(t);
  header.push_back(harmony::tokens::message);
  for (auto t : header) c.advance(t);
  c.advance(tok.encode_ordinary("\"")[0]);
  c.advance(parts[0]);
  c.advance(parts[1]);
  const TokenMask& mk = c.mask();
  BOOST_TEST(mk.test(parts[2]));
  for (token_id t = 0; t < tok.ranks().size(); ++t)
    if (mk.test(t)) {
      const auto b = tok.token_bytes(t);
      BOOST_TEST(((unsigned char)b[0] >= 0x80 && (unsigned char)b[0] <= 0xBF), "token " << t << " is no continuation");
    }
  BOOST_TEST(!mk.test(harmony::tokens::return_));
}

namespace {

json weather_tool() {
  return json::parse(R"({"type":"object","properties":{"city":{"type":"string","maxLength":8},"unit":{"enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false})");
}

harmony::Conversation tool_conversation(bool strict) {
  harmony::DeveloperContent dev;
  harmony::ToolNamespace ns{"functions", std::nullopt, {}};
  harmony::ToolDescription t{"get_weather", "Weather of a city", weather_tool()};
  t.strict = strict;
  ns.tools.push_back(t);
  ns.tools.push_back(harmony::ToolDescription{"get_time", "Time", json::parse(R"({"type":"object","properties":{}})")});
  dev.tools.push_back(ns);
  harmony::Conversation conv;
  conv.system().developer(dev).user("Weather in Paris?");
  return conv;
}

// Random tokens among the allowed ones, biased towards a few so that messages end.
std::vector<token_id> random_reply(Constraint& c, std::mt19937_64& rng, int max_tokens, int budget, int& spent_at) {
  std::vector<token_id> out;
  spent_at = budget == 0 ? -1 : max_tokens;
  for (int i = 0; i < max_tokens && !c.finished(); ++i) {
    const TokenMask& m = c.mask();
    std::vector<token_id> allowed, special;
    for (token_id t = 0; t < m.size(); ++t)
      if (m.test(t)) (t >= text::n_ordinary_tokens ? special : allowed).push_back(t);
    if (allowed.empty() && special.empty()) {
      std::string so_far;
      for (auto t : out) so_far += t >= text::n_ordinary_tokens ? text::special_token_text(t) : std::string(tokenizer().token_bytes(t));
      BOOST_FAIL("no token allowed after: " << so_far);
    }
    token_id t = (!special.empty() && (allowed.empty() || rng() % 4 == 0)) ? special[rng() % special.size()] : allowed[rng() % allowed.size()];
    c.advance(t);
    out.push_back(t);
    if (spent_at == max_tokens && c.reasoning_tokens() >= budget) spent_at = int(out.size()) - 1;
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(envelope_random_walks_always_parse) {
  const auto& tok = tokenizer();
  std::mt19937_64 rng(3);
  int calls = 0, finals = 0;
  for (int run = 0; run < 40; ++run) {
    StructuredOutput so;
    so.reasoning_budget = int(rng() % 6);
    if (run % 4 == 1) so.tool_choice = {ToolChoice::Mode::required, ""};
    if (run % 4 == 2) so.tool_choice = {ToolChoice::Mode::function, "get_weather"};
    if (run % 4 == 3) so.response_format = {ResponseFormat::Kind::json_object, {}};
    const bool strict = run % 2 == 0;
    Constraint c(tok, tool_conversation(strict), so);
    int spent_at = 0;
    auto out = random_reply(c, rng, 150, *so.reasoning_budget, spent_at);
    BOOST_TEST_CONTEXT("run " << run) {
      std::vector<harmony::Message> msgs;
      BOOST_REQUIRE_NO_THROW(msgs = harmony::parse_completion(tok, out, harmony::Role::assistant, true));
      for (const auto& m : msgs) {
        BOOST_TEST(m.channel.has_value());
        const auto ch = m.channel.value_or("");
        BOOST_TEST((ch == "analysis" || ch == "commentary" || ch == "final"));
      }
      if (!c.finished()) continue;
      // The reasoning budget: the tokens before the final message or forced call.
      // The reasoning budget: every message begun after it was spent is the final one or a forced
      // call (the message in progress then is completed, a text one at once).
      std::vector<int> starts{0};
      for (std::size_t i = 0; i < out.size(); ++i)
        if (out[i] == harmony::tokens::start) starts.push_back(int(i));
      BOOST_REQUIRE(starts.size() == msgs.size());
      for (std::size_t k = 0; k < msgs.size(); ++k)
        if (starts[k] > spent_at) {
          const bool forced_call = msgs[k].recipient && so.tool_choice.mode != ToolChoice::Mode::automatic;
          BOOST_TEST((msgs[k].channel == "final" || forced_call), "message " << k << " begun after the budget was spent");
        } else if (k + 1 < msgs.size() && !msgs[k].recipient && msgs[k].channel != "final" && spent_at >= 0) {
          BOOST_TEST(int(tokenizer().encode_ordinary(msgs[k].text()).size()) <= *so.reasoning_budget);
        }
      const auto& last = msgs.back();
      if (last.recipient) {
        ++calls;
        BOOST_TEST((*last.recipient == "functions.get_weather" || *last.recipient == "functions.get_time"));
        BOOST_TEST(last.content_type.value_or("") == "<|constrain|>json");
        BOOST_TEST(out.back() == harmony::tokens::call);
        const json args = json::parse(last.text());
        BOOST_TEST(args.is_object());
        if (so.tool_choice.mode == ToolChoice::Mode::function) BOOST_TEST(*last.recipient == "functions.get_weather");
        if (*last.recipient == "functions.get_weather" && (strict || so.tool_choice.mode != ToolChoice::Mode::automatic))
          BOOST_TEST(test::validate(args, weather_tool()), last.text());
      } else {
        ++finals;
        BOOST_TEST((so.tool_choice.mode == ToolChoice::Mode::automatic));  // forced: no final answer
        BOOST_TEST(last.channel.value_or("") == "final");
        BOOST_TEST(out.back() == harmony::tokens::return_);
        if (so.response_format.kind == ResponseFormat::Kind::json_object) BOOST_TEST(json::parse(last.text()).is_object());
      }
    }
  }
  BOOST_TEST(calls > 0);
  BOOST_TEST(finals > 0);
}

namespace {

// Logits that prefer token 3 most, then 2, then 1, 0 (vocabulary of 6); decode keeps them.
struct FixedModel {
  struct Sequence {
    std::int64_t length = 0, capacity = 0;
  };
  ModelConfig cfg = [] {
    ModelConfig c = tiny_test;
    return c;
  }();
  const ModelConfig& config() const { return cfg; }
  Sequence new_sequence(std::int64_t capacity) { return {0, capacity}; }
  static void fill(std::span<float> l) {
    std::fill(l.begin(), l.end(), -5.0f);
    l[0] = 0.0f, l[1] = 1.0f, l[2] = 2.0f, l[3] = 3.0f;
  }
  std::vector<float> prefill(Sequence&, std::span<const token_id>) {
    std::vector<float> l(6);
    fill(l);
    return l;
  }
  void decode(Sequence&, token_id, std::span<float> l) { fill(l); }
};

// Allows only the tokens in `allowed`; finishes after `limit` tokens.
struct SetConstraint : TokenConstraint {
  std::vector<token_id> allowed;
  int limit = 3, taken = 0, masks = 0;
  void allowed_tokens(std::span<std::uint64_t> w) override {
    ++masks;
    for (auto t : allowed) w[t / 64] |= std::uint64_t(1) << (t % 64);
  }
  bool allows(token_id t) override { return std::find(allowed.begin(), allowed.end(), t) != allowed.end(); }
  void advance(token_id t) override {
    BOOST_TEST(allows(t));
    ++taken;
  }
  bool finished() const override { return taken >= limit; }
};

}  // namespace

BOOST_AUTO_TEST_CASE(generate_samples_only_allowed_tokens) {
  FixedModel m;
  std::vector<token_id> prompt{1};
  // Greedy: the best allowed token, and the mask is built only when the best token is refused.
  SetConstraint c1;
  c1.allowed = {1, 2};
  BOOST_TEST(generate(m, prompt, {.max_tokens = 10, .constraint = &c1}) == (std::vector<token_id>{2, 2, 2}));  // stops when finished
  BOOST_TEST(c1.masks == 3);
  SetConstraint c2;
  c2.allowed = {3, 0};
  BOOST_TEST(generate(m, prompt, {.max_tokens = 10, .constraint = &c2}) == (std::vector<token_id>{3, 3, 3}));
  BOOST_TEST(c2.masks == 0);
  // Sampling with top-k (mask first) and plain temperature (retry): never a refused token.
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    SetConstraint c3;
    c3.allowed = {0, 5};
    c3.limit = 20;
    for (token_id t : generate(m, prompt, {.max_tokens = 20, .sampling = {.temperature = 1.0f, .top_k = 2, .seed = seed}, .constraint = &c3}))
      BOOST_TEST((t == 0 || t == 5));
    SetConstraint c4;
    c4.allowed = {1, 4};
    c4.limit = 20;
    for (token_id t : generate(m, prompt, {.max_tokens = 20, .sampling = {.temperature = 1.0f, .seed = seed}, .constraint = &c4}))
      BOOST_TEST((t == 1 || t == 4));
  }
}

BOOST_AUTO_TEST_CASE(request_fields_are_read) {
  auto rf = response_format_from_json(json::parse(R"({"type":"json_schema","json_schema":{"name":"x","schema":{"type":"integer"},"strict":true}})"));
  BOOST_TEST((rf.kind == ResponseFormat::Kind::json_schema));
  BOOST_TEST(rf.schema == json::parse(R"({"type":"integer"})"));
  rf = response_format_from_json(json::parse(R"({"type":"json_schema","name":"x","schema":{"type":"string"}})"));
  BOOST_TEST(rf.schema == json::parse(R"({"type":"string"})"));
  BOOST_TEST((response_format_from_json(json::parse(R"({"type":"json_object"})")).kind == ResponseFormat::Kind::json_object));
  BOOST_TEST((response_format_from_json(json::parse(R"({"type":"text"})")).kind == ResponseFormat::Kind::text));
  BOOST_CHECK_THROW(response_format_from_json(json::parse(R"({"type":"json_schema"})")), input_error);
  BOOST_CHECK_THROW(response_format_from_json(json::parse(R"({"type":"yaml"})")), input_error);

  BOOST_TEST((tool_choice_from_json("auto").mode == ToolChoice::Mode::automatic));
  BOOST_TEST((tool_choice_from_json("none").mode == ToolChoice::Mode::none));
  BOOST_TEST((tool_choice_from_json("required").mode == ToolChoice::Mode::required));
  auto tc = tool_choice_from_json(json::parse(R"({"type":"function","function":{"name":"f"}})"));
  BOOST_TEST((tc.mode == ToolChoice::Mode::function));
  BOOST_TEST(tc.name == "f");
  BOOST_TEST(tool_choice_from_json(json::parse(R"({"type":"function","name":"g"})")).name == "g");
  BOOST_CHECK_THROW(tool_choice_from_json("sometimes"), input_error);

  auto tools = function_tools_from_json(json::parse(
      R"([{"type":"function","function":{"name":"a","description":"A","parameters":{"type":"object"},"strict":true}},{"type":"function","name":"b"},{"name":"c"}])"));
  BOOST_TEST(tools.size() == 3u);
  BOOST_TEST(tools[0].name == "a");
  BOOST_TEST(tools[0].strict);
  BOOST_TEST(tools[0].parameters.has_value());
  BOOST_TEST(!tools[1].strict);
  BOOST_TEST(tools[2].name == "c");
  BOOST_CHECK_THROW(function_tools_from_json(json::parse(R"([{"type":"web_search"}])")), input_error);
  BOOST_CHECK_THROW(function_tools_from_json(json::parse(R"([{"name":"has space"}])")), input_error);

  // Refusals at request time: an unknown forced tool, an unenforceable tool schema.
  harmony::Conversation conv = tool_conversation(true);
  StructuredOutput so;
  so.tool_choice = {ToolChoice::Mode::function, "nope"};
  BOOST_CHECK_THROW(Constraint(tokenizer(), conv, so), input_error);
  EnvelopeSpec spec;
  spec.tools = function_tools_from_json(json::parse(R"([{"name":"t","strict":true,"parameters":{"type":"object","properties":{"d":{"type":"string","format":"date"}}}}])"));
  try {
    Constraint c(tokenizer(), spec, StructuredOutput{});
    BOOST_ERROR("not refused");
  } catch (const schema_error& e) {
    BOOST_TEST(e.path == "/tools/t/parameters/properties/d/format");
  }
  so = {};
  so.tool_choice = {ToolChoice::Mode::required, ""};
  BOOST_CHECK_THROW(Constraint(tokenizer(), EnvelopeSpec{}, so), input_error);  // no tools to call
}
