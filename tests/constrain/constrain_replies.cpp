// Generates structured replies with a small random model that has the real vocabulary, at
// temperature 1 over many seeds, and writes one JSON line per reply for validate.mjs, which judges
// them with ajv: {"schema", "json", "finished", "parsed", "prefix_ok", "what"}.
//   constrain_replies OUT.jsonl [SEEDS]
#include <fstream>
#include <iostream>

#include "common/temp_dir.hpp"
#include "gptoss/config/model_config.hpp"
#include "gptoss/constrain/constrain.hpp"
#include "gptoss/constrain/generate.hpp"
#include "gptoss/tools/synth.hpp"
#include "gptoss/model/any_model.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;
using json = nlohmann::ordered_json;

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: constrain_replies OUT.jsonl [SEEDS]\n";
    return 2;
  }
  const int seeds = argc > 2 ? std::stoi(argv[2]) : 6;
  test::TempDir dir;
  ModelConfig cfg = tiny_harmony_test;
  cfg.num_hidden_layers = 1;
  tools::synthesize_checkpoint(cfg, dir.path() / "model");
  auto model = open_model<>(io::Checkpoint::open(dir.path() / "model"));
  auto tok = text::Tokenizer::from_file(std::string(GPTOSS_TEST_DATA) + "/tokenizer/o200k_base.tiktoken");

  const std::vector<std::string> schemas = {
      R"({"type":"object","properties":{"name":{"type":"string","maxLength":6},"age":{"type":"integer"},"ok":{"type":"boolean"}},"required":["name","age","ok"],"additionalProperties":false})",
      R"({"type":"array","items":{"enum":["red","green",3,null]},"minItems":1,"maxItems":3})",
      R"({"anyOf":[{"type":"string","pattern":"^[a-z]{1,4}$"},{"type":"integer"},{"type":"null"}]})",
      R"({"$defs":{"p":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"],"additionalProperties":false}},"type":"object","properties":{"from":{"$ref":"#/$defs/p"},"to":{"$ref":"#/$defs/p"},"label":{"const":"route"}},"required":["from","to","label"],"additionalProperties":false})",
      R"({"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]{2}-[0-9]{2}$"},"tags":{"type":"array","items":{"type":"string","minLength":1,"maxLength":3},"maxItems":2}},"required":["code"],"additionalProperties":false})",
      R"({"type":"object","properties":{"a":{"type":["string","null"],"maxLength":4},"b":{"enum":[{"k":1},[1,2],"v"]}},"required":["a","b"],"additionalProperties":{"type":"boolean"}})",
  };
  std::ofstream out(argv[1]);
  std::size_t n = 0, finished = 0;
  auto record = [&](const std::string& what, const json& schema, const Reply& r, const std::string& channel, bool strict) {
    json line = {{"what", what}, {"schema", schema}, {"parsed", !r.parse_failed}, {"finished", false}};
    const harmony::Message* m = r.messages.empty() ? nullptr : &r.messages.back();
    const token_id last = r.tokens.empty() ? 0 : r.tokens.back();
    const bool done = m && (last == harmony::tokens::return_ || last == harmony::tokens::call);
    std::string body = m && m->channel == channel ? m->text() : "";
    line["finished"] = done;
    line["json"] = body;
    // An unfinished reply must be a prefix that can still be completed: the engine's own matcher
    // must be alive on it (ajv cannot judge prefixes). Strict parsing must succeed in any case.
    bool prefix_ok = true;
    if (!done) {
      try {
        harmony::parse_completion(tok, r.tokens, harmony::Role::assistant, true);
      } catch (const harmony::harmony_error&) {
        // A reply cut in its header is a valid prefix too.
      }
      if (strict) {
        constrain::JsonMatcher jm(constrain::compile_schema(schema));
        auto s = jm.initial();
        constrain::MatchState o;
        for (unsigned char b : body) {
          jm.step(s, b, o);
          if (o.dead()) prefix_ok = false;
          std::swap(s, o);
        }
      }
    }
    line["prefix_ok"] = prefix_ok;
    out << line.dump() << "\n";
    ++n;
    finished += done;
  };
  for (std::size_t i = 0; i < schemas.size(); ++i) {
    const json schema = json::parse(schemas[i]);
    for (int seed = 0; seed < seeds; ++seed) {
      harmony::Conversation conv;
      conv.system().user("Answer in JSON.");
      constrain::StructuredOutput so;
      so.response_format = {constrain::ResponseFormat::Kind::json_schema, schema};
      so.reasoning_budget = seed % 3 * 2;
      GenerateOptions opt{.max_tokens = 80, .sampling = {.temperature = 1.0f, .seed = std::uint64_t(seed + 100 * i)}};
      Reply r = generate_structured_reply(*model, tok, conv, opt, so);
      record("schema " + std::to_string(i), schema, r, "final", true);
    }
  }
  // Forced tool calls: the arguments must follow the tool's schema.
  const json params = json::parse(R"({"type":"object","properties":{"city":{"type":"string","maxLength":8},"days":{"type":"integer"},"unit":{"enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false})");
  for (int seed = 0; seed < seeds * 2; ++seed) {
    harmony::DeveloperContent dev;
    harmony::ToolDescription weather{"get_weather", "Weather of a city", params};
    weather.strict = true;
    dev.tools.push_back({"functions", std::nullopt, {weather, {"get_time", "Current time", std::nullopt}}});
    harmony::Conversation conv;
    conv.system().developer(dev).user("Weather in Paris?");
    constrain::StructuredOutput so;
    so.tool_choice = {seed % 2 ? constrain::ToolChoice::Mode::required : constrain::ToolChoice::Mode::function, "get_weather"};
    so.reasoning_budget = seed % 4;
    GenerateOptions opt{.max_tokens = 80, .sampling = {.temperature = 1.0f, .seed = std::uint64_t(seed + 7000)}};
    Reply r = generate_structured_reply(*model, tok, conv, opt, so);
    const bool weather_call = !r.messages.empty() && r.messages.back().recipient == "functions.get_weather";
    record(weather_call ? "call get_weather" : "call get_time", weather_call ? params : json::parse(R"({"type":"object"})"), r,
           "commentary", weather_call || seed % 2 == 0);
  }
  std::cerr << n << " replies, " << finished << " finished\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "constrain_replies: " << e.what() << "\n";
  return 1;
}
