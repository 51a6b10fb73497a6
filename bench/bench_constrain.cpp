// Cost of structured decoding per token on the real 201088-token vocabulary: the mask of allowed
// tokens in typical states of a tool's arguments and a nested object of a few dozen fields, and
// the table precomputed once per vocabulary. Compare with a CPU decode step of the 20B shape
// (docs/performance.md).
#include <benchmark/benchmark.h>

#include "gptoss/constrain/constrain.hpp"

using namespace gptoss;
using namespace gptoss::constrain;

namespace {

const text::Tokenizer& tok() {
  static auto t = text::Tokenizer::from_file(std::string(GPTOSS_TEST_DATA) + "/tokenizer/o200k_base.tiktoken");
  return t;
}

ojson nested_schema() {
  // 3 groups of 10 fields of assorted types: 30 fields plus the groups.
  ojson root = {{"type", "object"}, {"properties", ojson::object()}, {"additionalProperties", false}};
  for (int g = 0; g < 3; ++g) {
    ojson group = {{"type", "object"}, {"properties", ojson::object()}, {"additionalProperties", false}, {"required", ojson::array()}};
    for (int f = 0; f < 10; ++f) {
      std::string name = "field_" + std::to_string(g) + "_" + std::to_string(f);
      ojson s = f % 4 == 0 ? ojson{{"type", "string"}, {"maxLength", 40}}
              : f % 4 == 1 ? ojson{{"type", "integer"}}
              : f % 4 == 2 ? ojson{{"enum", {"low", "medium", "high"}}}
                           : ojson{{"type", "array"}, {"items", {{"type", "number"}}}, {"maxItems", 5}};
      group["properties"][name] = s;
      group["required"].push_back(name);
    }
    root["properties"]["group_" + std::to_string(g)] = group;
  }
  return root;
}

ojson tool_schema() {
  return ojson::parse(R"({"type":"object","properties":{"location":{"type":"string","description":"City"},"unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["location","unit"],"additionalProperties":false})");
}

// A constraint advanced through the final header and `prefix` of the JSON body.
Constraint at(const ojson& schema, const std::string& prefix) {
  StructuredOutput so;
  so.response_format = {ResponseFormat::Kind::json_schema, schema};
  so.reasoning_budget = 0;
  Constraint c(tok(), EnvelopeSpec{}, so);
  c.advance(harmony::tokens::channel);
  for (auto t : tok().encode_ordinary("final")) c.advance(t);
  c.advance(harmony::tokens::message);
  for (auto t : tok().encode_ordinary(prefix)) c.advance(t);
  return c;
}

void run(benchmark::State& state, const ojson& schema, const std::string& prefix) {
  Constraint c = at(schema, prefix);
  std::size_t n = 0;
  for (auto _ : state) {
    const auto& m = c.mask();
    n = m.count();
    benchmark::DoNotOptimize(m);
  }
  state.counters["allowed"] = double(n);
}

}  // namespace

static void BM_TokenTable(benchmark::State& state) {
  for (auto _ : state) {
    TokenTable t(tok());
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_TokenTable)->Unit(benchmark::kMillisecond);

static void BM_Mask_ToolArgs_Start(benchmark::State& s) { run(s, tool_schema(), ""); }
static void BM_Mask_ToolArgs_Key(benchmark::State& s) { run(s, tool_schema(), "{\""); }
static void BM_Mask_ToolArgs_InString(benchmark::State& s) { run(s, tool_schema(), "{\"location\": \"San Fr"); }
static void BM_Mask_ToolArgs_AfterValue(benchmark::State& s) { run(s, tool_schema(), "{\"location\": \"Paris\""); }
static void BM_Mask_Nested_Key(benchmark::State& s) { run(s, nested_schema(), "{\"group_0\": {\"field_0_0\": \"x\", \""); }
static void BM_Mask_Nested_InString(benchmark::State& s) { run(s, nested_schema(), "{\"group_1\": {\"field_1_0\": \"some te"); }
static void BM_Mask_Nested_Number(benchmark::State& s) { run(s, nested_schema(), "{\"group_2\": {\"field_2_1\": 12"); }
static void BM_Mask_Nested_Array(benchmark::State& s) { run(s, nested_schema(), "{\"group_0\": {\"field_0_3\": [1.5, "); }
BENCHMARK(BM_Mask_ToolArgs_Start)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mask_ToolArgs_Key)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mask_ToolArgs_InString)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mask_ToolArgs_AfterValue)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mask_Nested_Key)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mask_Nested_InString)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mask_Nested_Number)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mask_Nested_Array)->Unit(benchmark::kMicrosecond);

// The header: which channel or tool comes next.
static void BM_Mask_Header(benchmark::State& state) {
  StructuredOutput so;
  Constraint c(tok(), EnvelopeSpec{}, so);
  c.advance(harmony::tokens::channel);
  for (auto _ : state) benchmark::DoNotOptimize(c.mask());
}
BENCHMARK(BM_Mask_Header)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
