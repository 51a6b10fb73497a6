// The JSON Schema constraint compiler on hostile schemas. The first byte seeds a random walk, the
// rest is the schema. A schema is either refused with gptoss::error (a schema_error naming the
// path, for anything malformed, unsupported, unsatisfiable or over the limits) or it compiles,
// and then: the start state allows some byte; a random walk through allowed bytes never reaches a
// live state with no way on (neither an allowed byte nor the end); and every point where the
// automaton accepts the end is a complete JSON document that the tests' own validator
// (tests/constrain/validator.hpp) finds valid, unless the schema has a pattern (the validator's
// std::regex reads bytes, not characters).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "../constrain/validator.hpp"
#include "fuzz.hpp"
#include "gptoss/constrain/json_matcher.hpp"
#include "gptoss/core/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gptoss;
  if (size < 1) return 0;
  constrain::ojson schema;
  try {
    schema = parse_json<constrain::ojson>(fuzz::as_text(data + 1, size - 1), "schema", 256);
  } catch (const gptoss::format_error&) {
    return 0;
  }
  constrain::SchemaLimits limits;
  limits.max_nodes = 4000;  // keep each input fast
  std::unique_ptr<constrain::JsonMatcher> m;
  try {
    m = std::make_unique<constrain::JsonMatcher>(constrain::compile_schema(schema, limits));
  } catch (const constrain::schema_error& e) {
    FUZZ_CHECK(std::string(e.what()).rfind("JSON schema: /", 0) == 0);
    return 0;
  } catch (const gptoss::error&) {
    return 0;
  }
  const bool judge = schema.dump().find("\"pattern\"") == std::string::npos;  // see above
  std::mt19937_64 rng(data[0]);
  constrain::MatchState s = m->initial(), o;
  std::string doc;
  for (int step = 0; step < 400; ++step) {
    std::vector<unsigned char> live;
    for (unsigned b = 0; b < 256; ++b) {
      m->step(s, (unsigned char)b, o);
      if (!o.dead()) live.push_back((unsigned char)b);
    }
    const bool end = m->accepts_end(s);
    FUZZ_CHECK(!live.empty() || end);  // never stuck
    if (end) {
      try {
        auto parsed = constrain::ojson::parse(doc);
        if (judge && !test::validate(parsed, schema)) {
          std::fprintf(stderr, "accepted but invalid: %s\nschema: %s\n", doc.c_str(), schema.dump().c_str());
          FUZZ_CHECK(false);
        }
      } catch (const std::exception&) {
        std::fprintf(stderr, "accepted but not JSON: %s\n", doc.c_str());
        FUZZ_CHECK(false);
      }
      if (live.empty() || rng() % 8 == 0) break;
    }
    // Prefer bytes that close things, so walks end.
    unsigned char b = live[rng() % live.size()];
    for (unsigned char c : {'"', '}', ']', '0'})
      if (rng() % 3 == 0 && std::find(live.begin(), live.end(), c) != live.end()) b = c;
    m->step(s, b, o);
    std::swap(s, o);
    doc.push_back(char(b));
  }
  return 0;
}
