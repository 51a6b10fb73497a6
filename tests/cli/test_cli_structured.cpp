// The gptoss program's structured replies: generate --json-schema/--json-object, --tools with
// --tool-choice, --reasoning-budget, in generate and in chat. A random model with the real
// vocabulary writes the replies at temperature 1; each finished one is checked here, by hand, against
// the few small schemas below (not by the library's validator), and the refused arguments exit 2.
#define BOOST_TEST_MODULE cli_structured
#include <boost/test/unit_test.hpp>

#include <regex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/golden.hpp"
#include "common/run.hpp"

namespace {

using json = nlohmann::json;

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

test::TempDir& files() {
  static test::TempDir dir;
  return dir;
}

// A tiny model with the real vocabulary (one block), written once.
const std::string& model() {
  static const std::string m = [] {
    const std::string m = (files() / "m").string();
    auto r = test::run_cli("synth --config tiny-harmony --layers 1 -q --out '" + m + "'");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return m;
  }();
  return m;
}

// Writes `text` to a file of the temporary folder; returns its path, quoted for the shell.
std::string file(const std::string& name, const std::string& text) {
  test::write_file(files() / name, text);
  std::string quoted = "'";  // built step by step: GCC 12 warns (-Wrestrict) on "'" + s + "'"
  quoted += (files() / name).string();
  quoted += '\'';
  return quoted;
}

const std::string vocab = "--vocab '" + test::data_dir + "/tokenizer/o200k_base.tiktoken'";

std::string gen(const std::string& rest) { return "generate -m '" + model() + "' " + vocab + " -p 'How long is it?' -q " + rest; }

// {"n": integer, "unit": "cm" or "kg"}, both required, nothing else.
const std::string measure_schema =
    R"({"type":"object","properties":{"n":{"type":"integer"},"unit":{"type":"string","enum":["cm","kg"]}},)"
    R"("required":["n","unit"],"additionalProperties":false})";

bool is_measure(const json& j) {
  if (!j.is_object() || j.size() != 2 || !j.contains("n") || !j.contains("unit")) return false;
  return j["n"].is_number_integer() && j["unit"].is_string() && (j["unit"] == "cm" || j["unit"] == "kg");
}

const std::string tools_json = R"([
  {"type": "function", "function": {"name": "get_weather", "description": "The weather of a city, for some days",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city", "days"], "additionalProperties": false}}},
  {"type": "function", "function": {"name": "get_time",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
                   "required": ["zone"], "additionalProperties": false}}}
])";

bool is_weather_args(const json& j) {
  return j.is_object() && j.size() == 2 && j.contains("city") && j["city"].is_string() && j.contains("days") &&
         j["days"].is_number_integer();
}

bool is_time_args(const json& j) {
  return j.is_object() && j.size() == 1 && j.contains("zone") && (j["zone"] == "UTC" || j["zone"] == "CET");
}

// Runs generate --json; returns its output, checked to be one JSON document with messages.
json run_json(const std::string& rest) {
  auto r = test::run_cli(gen("--json " + rest));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json out = json::parse(r.out, nullptr, false);
  BOOST_REQUIRE_MESSAGE(out.is_object() && out.contains("messages") && out["messages"].is_array(), r.out);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(json_schema_final_answers_satisfy_the_schema) {
  const std::string schema = file("measure.json", measure_schema);
  int finished = 0;
  for (int seed = 1; seed <= 4; ++seed) {
    const json out = run_json("--json-schema " + schema + " --reasoning-budget 0 --temp 1 -n 200 -s " + std::to_string(seed));
    BOOST_TEST_CONTEXT("seed " << seed << ": " << out.dump()) {
      BOOST_TEST(!out.contains("error"));
      // A budget of 0: no reasoning written.
      for (const auto& m : out["messages"])
        if (m.value("channel", "") == "analysis") BOOST_TEST(m.value("content", "") == "");
      if (out.value("truncated", false)) continue;  // cut off by -n: allowed, not judged
      const json& last = out["messages"].back();
      BOOST_TEST(last.value("channel", "") == "final");
      BOOST_TEST(!last.contains("recipient"));
      const json answer = json::parse(last.value("content", ""), nullptr, false);
      BOOST_TEST(is_measure(answer), last.value("content", ""));
      ++finished;
    }
  }
  BOOST_TEST(finished >= 2, "too few replies finished within 200 tokens to judge");
}

BOOST_AUTO_TEST_CASE(json_schema_as_response_format_and_plain_output) {
  // The OpenAI response_format wrapper is accepted as well as a bare schema.
  const std::string wrapped = file("wrapped.json", R"({"type":"json_schema","json_schema":{"name":"measure","strict":true,"schema":)" +
                                                       measure_schema + "}}");
  for (int seed = 5; seed <= 6; ++seed) {
    auto r = test::run_cli(gen("--json-schema " + wrapped + " --reasoning-budget 0 --temp 1 -n 200 -s " + std::to_string(seed)));
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    // Without --json stdout is the final answer alone: the JSON document.
    const json answer = json::parse(r.out, nullptr, false);
    BOOST_TEST((is_measure(answer) || r.out.empty()), "seed " << seed << ": " << r.out);
  }
  // --json-object: any JSON object.
  int finished = 0;
  for (int seed = 1; seed <= 3; ++seed) {
    const json out = run_json("--json-object --reasoning-budget 0 --temp 1 -n 120 -s " + std::to_string(seed));
    if (out.value("truncated", false)) continue;
    const json& last = out["messages"].back();
    BOOST_TEST(last.value("channel", "") == "final");
    BOOST_TEST(json::parse(last.value("content", ""), nullptr, false).is_object(), last.dump());
    ++finished;
  }
  BOOST_TEST(finished >= 1);
}

BOOST_AUTO_TEST_CASE(forced_tool_calls_follow_the_parameters) {
  const std::string tools = file("tools.json", tools_json);
  int finished = 0;
  for (const std::string name : {"get_weather", "get_time"})
    for (int seed = 1; seed <= 3; ++seed) {
      const json out = run_json("--tools " + tools + " --tool-choice " + name + " --reasoning-budget 2 --temp 1 -n 200 -s " +
                                std::to_string(seed));
      BOOST_TEST_CONTEXT(name << " seed " << seed << ": " << out.dump()) {
        BOOST_TEST(!out.contains("error"));
        if (out.value("truncated", false)) continue;
        // The call ends the reply (<|call|>), and nothing is a final answer.
        BOOST_TEST(out["tokens"].back().get<int>() == 200012);
        for (const auto& m : out["messages"]) BOOST_TEST(m.value("channel", "") != "final");
        const json& last = out["messages"].back();
        BOOST_TEST(last.value("recipient", "") == "functions." + name);
        BOOST_TEST(last.value("channel", "") == "commentary");
        const json args = json::parse(last.value("content", ""), nullptr, false);
        BOOST_TEST((name == "get_weather" ? is_weather_args(args) : is_time_args(args)), last.value("content", ""));
        ++finished;
      }
    }
  BOOST_TEST(finished >= 3);
}

BOOST_AUTO_TEST_CASE(tools_are_described_in_the_developer_message) {
  // --tool-choice none: the tools are still declared to the model but no call is written.
  const std::string tools = file("tools.json", tools_json);
  for (int seed = 1; seed <= 2; ++seed) {
    const json out = run_json("--tools " + tools + " --tool-choice none --reasoning-budget 2 --temp 1 -n 60 -s " + std::to_string(seed));
    for (const auto& m : out["messages"]) BOOST_TEST(!m.contains("recipient"), m.dump());
  }
  // The prompt grows by the rendered tools: more prefill tokens than without them.
  auto with = test::run_cli("generate -m '" + model() + "' " + vocab + " -p hi -n 1 --tools " + tools);
  auto without = test::run_cli("generate -m '" + model() + "' " + vocab + " -p hi -n 1");
  BOOST_REQUIRE(with.exit_code == 0);
  BOOST_REQUIRE(without.exit_code == 0);
  static const std::regex prefill(R"(prefill (\d+) tokens)");
  std::smatch a, b;
  BOOST_REQUIRE(std::regex_search(with.err, a, prefill));
  BOOST_REQUIRE(std::regex_search(without.err, b, prefill));
  BOOST_TEST(std::stol(a[1]) > std::stol(b[1]) + 20);
}

BOOST_AUTO_TEST_CASE(refused_arguments_exit_2) {
  const std::string schema = file("measure.json", measure_schema);
  const std::string tools = file("tools.json", tools_json);
  const std::string broken = file("broken.json", "{\"type\": \"object\",");
  const std::string unsupported = file("minimum.json", R"({"type":"object","properties":{"n":{"type":"integer","minimum":3}}})");
  const std::string bad_tool = file("bad_tool.json", R"([{"type":"function","function":{"name":"f",)"
                                                     R"("parameters":{"type":"object","properties":{"x":{"oneOf":[{"type":"string"}]}}}}}])");
  struct Case {
    std::string args;
    std::vector<std::string> in_message;
  };
  const std::vector<Case> cases = {
      {gen("--json-schema " + broken), {"--json-schema", "broken.json", "not JSON"}},
      {gen("--json-schema " + unsupported), {"--json-schema", "minimum.json", "/properties/n/minimum", "minimum"}},
      {gen("--json-schema " + file("missing_dir.json", "") + "x"), {"--json-schema", "missing_dir.jsonx"}},
      {gen("--tools " + bad_tool + " --tool-choice f"), {"--tools", "bad_tool.json", "/tools/f/parameters/properties/x/oneOf"}},
      {gen("--tools " + schema), {"--tools", "measure.json", "array"}},
      {gen("--reasoning-budget -5"), {"--reasoning-budget", "-5", "between 0 and"}},
      {gen("--tools " + tools + " --tool-choice nope"), {"--tool-choice", "nope", "get_weather"}},
      {gen("--tool-choice auto"), {"--tool-choice", "--tools"}},
      {gen("--json-schema " + schema + " --json-object"), {"--json-schema", "--json-object"}},
      {"generate -m '" + model() + "' --tokens 1,2,3 --json-schema " + schema, {"--json-schema", "--tokens"}},
      {"generate -m '" + model() + "' --tokens 1,2,3 --tools " + tools, {"--tools", "--tokens"}},
      {"generate -m '" + model() + "' --tokens 1,2,3 --reasoning-budget 4", {"--reasoning-budget", "--tokens"}},
      {"chat -m '" + model() + "' " + vocab + " --reasoning-budget -5", {"--reasoning-budget", "between 0 and"}},
      {"chat -m '" + model() + "' " + vocab + " --tools " + tools + " --tool-choice nope", {"--tool-choice", "nope"}},
      {"chat -m '" + model() + "' " + vocab + " --json-schema " + schema, {"json-schema"}},  // generate only
  };
  for (const auto& c : cases) {
    auto r = test::run_cli(c.args, "hello\n/exit\n");
    BOOST_TEST_CONTEXT(c.args << "\nstderr: " << r.err) {
      BOOST_TEST(r.exit_code == 2);
      BOOST_TEST(r.out == "");
      for (const auto& s : c.in_message) BOOST_TEST(contains(r.err, s), s);
    }
  }
}

BOOST_AUTO_TEST_CASE(chat_with_tools_through_stdin) {
  const std::string tools = file("tools.json", tools_json);
  // Each reply is forced to call get_time; /tool answers the call and the model writes the next turn.
  auto r = test::run_cli("chat -m '" + model() + "' " + vocab + " --tools " + tools +
                             " --tool-choice get_time --reasoning-budget 0 -n 200 -s 3 -q",
                         "What time is it?\n/tool {\"time\": \"12:00\"}\n/tool\nhi\n/exit\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  static const std::regex call(R"(\[tool call to functions\.get_time\] ([^]*?)\n\(this chat runs no tools: the call to functions\.get_time)");
  int calls = 0;
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), call), end; it != end; ++it, ++calls)
    BOOST_TEST(is_time_args(json::parse((*it)[1].str(), nullptr, false)), (*it)[1].str());
  BOOST_TEST(calls == 3, r.out);  // the question, the /tool answer, "hi"
  BOOST_TEST(contains(r.err, "/tool: /tool needs the tool's result"), r.err);
  BOOST_TEST(!contains(r.out, "[tool call to functions.get_weather]"));

  // Without a call to answer, /tool says so and nothing is generated.
  auto plain = test::run_cli("chat -m '" + model() + "' " + vocab + " -q", "/tool 42\n/exit\n");
  BOOST_TEST(plain.exit_code == 0);
  BOOST_TEST(plain.out == "");
  BOOST_TEST(contains(plain.err, "/tool: the model's last message is not a tool call"), plain.err);
}
