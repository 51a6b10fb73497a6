// The gptoss program's options: short aliases, --version, -v/-q, timings, ranges and their
// messages, options refused where they do not apply, prompts from files and standard input, chat's
// commands and Ctrl-C, and bench's lists and output formats.
#define BOOST_TEST_MODULE cli_flags
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/golden.hpp"
#include "common/run.hpp"
#include "gptoss/config/model_config.hpp"
#include "gptoss/version.hpp"
#include "gptoss/tools/presets.hpp"

namespace {

const std::string tiny = test::tiny_dir + "/original";

std::string join(const std::vector<gptoss::token_id>& v) {
  std::string s;
  for (auto t : v) s += (s.empty() ? "" : ",") + std::to_string(t);
  return s;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// A tiny model with the real vocabulary (one block), written once for the cases that need text.
const std::string& harmony_model() {
  static test::TempDir dir;
  static const std::string model = [] {
    const std::string m = (dir / "m").string();
    auto r = test::run_cli("synth --config tiny-harmony --layers 1 -q --out '" + m + "'");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return m;
  }();
  return model;
}

const std::string vocab = "--vocab '" + test::data_dir + "/tokenizer/o200k_base.tiktoken'";

// "prefill N tokens at X tokens/s, decode M tokens at Y tokens/s": N and M, or -1 when absent.
std::pair<long, long> timing_counts(const std::string& err) {
  static const std::regex line(R"(prefill (\d+) tokens at [0-9.]+ tokens/s(, decode (\d+) tokens at [0-9.]+ tokens/s)?\n)");
  std::smatch m;
  if (!std::regex_search(err, m, line)) return {-1, -1};
  return {std::stol(m[1]), m[3].matched ? std::stol(m[3]) : 0};
}

}  // namespace

BOOST_AUTO_TEST_CASE(version_and_generated_help) {
  auto r = test::run_cli("--version");
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out == std::string("gptoss ") + GPTOSS_VERSION_STRING + "\n");
  BOOST_TEST(std::regex_match(r.out, std::regex("gptoss [0-9]+\\.[0-9]+\\.[0-9]+\n")), r.out);
  BOOST_TEST(GPTOSS_VERSION == GPTOSS_VERSION_MAJOR * 10000 + GPTOSS_VERSION_MINOR * 100 + GPTOSS_VERSION_PATCH);

  r = test::run_cli("--help");
  BOOST_TEST(r.exit_code == 0);
  for (const char* cmd : {"bench", "chat", "detokenize", "generate", "harmony", "info", "logits", "synth", "tokenize"})
    BOOST_TEST(contains(r.out, cmd), cmd);
  // No command: the overview on stderr, exit 2.
  r = test::run_cli("");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "generate"));

  r = test::run_cli("generate --help");
  BOOST_TEST(r.exit_code == 0);
  for (const char* opt : {"-m,--model", "-p,--prompt", "-f,--file", "-n,--max-tokens", "-c,--ctx-size", "-t,--threads",
                          "-s,--seed", "--temperature,--temp", "--top-p", "-v,--verbose", "-q,--quiet", "--show-reasoning",
                          "--hide-reasoning", "default 2048 with a text prompt"})
    BOOST_TEST(contains(r.out, opt), opt);
  r = test::run_cli("bench -h");
  BOOST_TEST(r.exit_code == 0);
  for (const char* opt : {"-p,--prompt", "-n,--gen", "-d,--depth,--context", "-r,--repeat", "-o,--output", "--json"})
    BOOST_TEST(contains(r.out, opt), opt);
  r = test::run_cli("chat --help");
  for (const char* cmd : {"/help", "/reset", "/save FILE", "/load FILE", "/system TEXT", "/effort low|medium|high"})
    BOOST_TEST(contains(r.out, cmd), cmd);
}

// The short aliases reach the same options as the long names: the greedy continuation of the
// reference's prompt is the reference's.
BOOST_AUTO_TEST_CASE(short_aliases_match_the_reference) {
  test::Golden golden;
  const auto prompt = golden.tokens("greedy.prompt");
  const auto expect = golden.tokens("greedy.tokens_fp32");
  auto r = test::run_cli("generate -m " + tiny + " --tokens " + join(prompt) + " -n 16 -t 1 -q --json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(nlohmann::json::parse(r.out)["tokens"].get<std::vector<gptoss::token_id>>() == expect, boost::test_tools::per_element());
  BOOST_TEST(r.err.empty(), r.err);  // -q: nothing on stderr
  BOOST_TEST(lines(r.out).size() == 1u);  // --json: one JSON document and nothing else

  // --n-predict as llama.cpp spells it, --name=value, and the timings line: the prompt's tokens
  // prefilled, then every generated token but the first (which the prefill's logits give) decoded.
  r = test::run_cli("generate --model=" + tiny + " --tokens " + join(prompt) + " --n-predict 16 --threads=1");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == join(expect) + "\n");
  BOOST_TEST((timing_counts(r.err) == std::pair<long, long>(long(prompt.size()), 15)), r.err);
  // -v adds the backend.
  r = test::run_cli("generate -m " + tiny + " --tokens 1,2 -n 2 -v");
  BOOST_TEST(contains(r.err, "backend: cpu"), r.err);

  // --temp and -s are --temperature and --seed: sampling with a seed is reproducible through either.
  const std::string base = "generate -m " + tiny + " --tokens 1,2,3 -n 8 --top-p 0.9 --json -q";
  auto a = test::run_cli(base + " --temp 1 -s 5"), b = test::run_cli(base + " --temperature 1 --seed 5");
  BOOST_TEST(a.exit_code == 0);
  BOOST_TEST(a.out == b.out);
  BOOST_TEST(nlohmann::json::parse(a.out)["tokens"].size() == 8u);
}

// Every range, with the message the user sees. Exit code 2 for each, and the usage line.
BOOST_AUTO_TEST_CASE(ranges_are_validated_with_clear_messages) {
  const std::string gen = "generate -m " + tiny + " --tokens 1,2 ";
  const std::string bench = "bench -m " + tiny + " -p 8 -n 2 -r 1 ";
  const long limit = long(gptoss::tools::tiny_test.max_context());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {gen + "-t 0", "-t/--threads must be between 1 and "},
      {gen + "-t 100000", "-t/--threads must be between 1 and "},
      {gen + "--threads -1", "-t/--threads must be between 1 and "},
      {gen + "--temp -1", "--temperature must be between 0 and 100, not -1"},
      {gen + "--temperature 1000", "--temperature must be between 0 and 100, not 1000"},
      {gen + "--top-p 0", "--top-p must be greater than 0 and at most 1, not 0"},
      {gen + "--top-p 1.5", "--top-p must be greater than 0 and at most 1, not 1.5"},
      {gen + "--min-p 2", "--min-p must be between 0 and 1, not 2"},
      {gen + "--top-k -1", "--top-k must be between 0 and 1073741824, not -1"},
      {gen + "-n -4", "-n/--max-tokens must be between 0 and 16777216, not -4"},
      {gen + "-n x", "-n/--max-tokens: 'x' is not a valid number"},
      {gen + "-s -1", "-s/--seed: '-1' is not a valid number"},
      {gen + "-c 0", "-c/--ctx-size must be between 1 and " + std::to_string(limit) + " (the model's context), not 0"},
      {gen + "-c " + std::to_string(limit + 1), "-c/--ctx-size must be between 1 and " + std::to_string(limit)},
      {gen + "--device gpu", "--device must be cpu or cuda, not 'gpu'"},
      {gen + "--precision fp8", "--precision must be exact or bf16, not 'fp8'"},
      {gen + "--precision bf16 --device cuda", "--precision bf16 runs only on --device cpu"},
      {bench + "--precision BF16", "--precision must be exact or bf16, not 'BF16'"},
      {gen + "-v -q", "-v/--verbose and -q/--quiet exclude each other"},
      {gen + "--bogus", "--bogus"},
      {"generate -m " + tiny + " -p hi --reasoning-effort extreme", "--reasoning-effort must be low, medium or high, not 'extreme'"},
      {"generate -m " + tiny + " -p hi --show-reasoning --hide-reasoning", "--show-reasoning and --hide-reasoning exclude each other"},
      {"bench -m " + tiny + " -r 0", "-r/--repeat must be between 1 and 1000, not 0"},
      {"bench -m " + tiny + " -r 1001", "-r/--repeat must be between 1 and 1000, not 1001"},
      {bench + "-o xml", "-o/--output must be md, csv, json or jsonl, not 'xml'"},
      {"bench -m " + tiny + " -p 8,0 -n 2", "-p/--prompt: prompt lengths must be at least 1, not 0"},
      {"bench -m " + tiny + " -p 8 -n 0", "-n/--gen: generated token counts must be at least 1, not 0"},
      {"bench -m " + tiny + " -p 8 -n 2 -d -1", "-d/--depth: depths must be at least 0, not -1"},
      {bench + "-d " + std::to_string(limit), "depth " + std::to_string(limit) + " + prompt 8 + gen 2 exceed the model's context"},
      {"synth --config tiny --layers 0 --out /nonexistent/x", "--layers must be between 1 and 1024, not 0"},
  };
  for (const auto& [args, message] : cases) {
    auto r = test::run_cli(args);
    BOOST_TEST(r.exit_code == 2, "'" << args << "' exited " << r.exit_code);
    BOOST_TEST(contains(r.err, message), "'" << args << "': " << r.err);
    BOOST_TEST(contains(r.err, "usage: gptoss "), "'" << args << "': " << r.err);
  }
  // In range: accepted.
  BOOST_TEST(test::run_cli(gen + "-t 1 -n 1 -c 3 --temp 0.5 --top-p 1 --top-k 5 --min-p 0.1 -s 7").exit_code == 0);
  // -c cuts the reply where the context is full: 2 prompt tokens + 3 new in a context of 5.
  auto r = test::run_cli(gen + "-n 10 -c 5 --json -q");
  BOOST_TEST(nlohmann::json::parse(r.out)["tokens"].size() == 3u);
  // A prompt that fills the context leaves no room: an error of the input (exit 1), not of the options.
  r = test::run_cli(gen + "-c 2");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, "leaves no room in a context of 2 tokens"), r.err);
}

// Options that the chosen mode does not use are refused, not ignored.
BOOST_AUTO_TEST_CASE(options_that_do_not_apply_are_refused) {
  const std::string tokens = "generate -m " + tiny + " --tokens 1,2 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {tokens + "--system hi", "--system applies only to a text prompt"},
      {tokens + "--reasoning-effort low", "--reasoning-effort applies only to a text prompt"},
      {tokens + "--vocab /nonexistent", "--vocab applies only to a text prompt"},
      {tokens + "--show-reasoning", "--show-reasoning applies only to a text prompt"},
      {"generate -m " + tiny + " -p hi --stop 3", "--stop applies only to --tokens"},
      {"generate -m " + tiny + " -p hi -f /dev/null", "give -p/--prompt or -f/--file, not both"},
      {"generate -m " + tiny + " -p hi --tokens 1", "give exactly one of --tokens and -p/--prompt"},
      {"generate -m " + tiny, "give exactly one of --tokens and -p/--prompt"},
      {"bench -m " + tiny + " --json -o json", "--json and -o/--output exclude each other"},
      {"bench -m " + tiny + " -p 8,16 --json", "--json reports one configuration"},
      {"info -m " + tiny + " --prompt hi", "--prompt"},           // not an option of info
      {"tokenize --stop 3", "--stop"},                               // nor of tokenize
      {"chat -m " + tiny + " --tokens 1", "--tokens"},              // nor of chat
  };
  for (const auto& [args, message] : cases) {
    auto r = test::run_cli(args);
    BOOST_TEST(r.exit_code == 2, "'" << args << "' exited " << r.exit_code);
    BOOST_TEST(contains(r.err, message), "'" << args << "': " << r.err);
  }
}

// A folder that is not a model says so; a bad --vocab is reported before the model is read.
BOOST_AUTO_TEST_CASE(model_folder_and_vocabulary_errors) {
  test::TempDir dir;
  auto r = test::run_cli("info -m '" + dir.path().string() + "'");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, dir.path().string() + " holds no model: no config.json in it"), r.err);
  r = test::run_cli("info -m " + test::tiny_dir);
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, "(" + test::tiny_dir + "/original has one)"), r.err);
  r = test::run_cli("info -m /nonexistent/model");
  BOOST_TEST(contains(r.err, "/nonexistent/model: no such file or folder"), r.err);
  // The model does not exist either: the error names the vocabulary, which is checked first.
  r = test::run_cli("generate -m /nonexistent/model -p hi --vocab /nonexistent/vocab.json");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, "/nonexistent/vocab.json"), r.err);
  BOOST_TEST(!contains(r.err, "/nonexistent/model"), r.err);
}

// A text prompt from -p, from a file (-f FILE) and from standard input (-f -) is the same prompt:
// at temperature 0 the same reply, after the same number of prompt tokens.
BOOST_AUTO_TEST_CASE(prompt_from_text_file_and_stdin) {
  const std::string& model = harmony_model();
  test::TempDir dir;
  test::write_file(dir / "q.txt", "What is 2 + 2?\n");
  const std::string base = "generate -m '" + model + "' " + vocab + " -n 5 --json ";
  auto p = test::run_cli(base + "-p 'What is 2 + 2?'");
  auto f = test::run_cli(base + "-f '" + (dir / "q.txt").string() + "'");
  auto s = test::run_cli(base + "-f -", "What is 2 + 2?\n");
  for (const auto* r : {&p, &f, &s}) {
    BOOST_REQUIRE_MESSAGE(r->exit_code == 0, r->err);
    auto j = nlohmann::json::parse(r->out);  // only JSON on stdout
    BOOST_TEST(j["tokens"].size() == 5u);
    BOOST_TEST(j["truncated"] == true);
  }
  BOOST_TEST(p.out == f.out);
  BOOST_TEST(p.out == s.out);
  const auto counts = timing_counts(p.err);
  BOOST_TEST(counts.first > 10);  // the system message alone is longer
  BOOST_TEST(counts.second == 4);
  BOOST_TEST(timing_counts(f.err).first == counts.first);
  BOOST_TEST(timing_counts(s.err).first == counts.first);
  // A shorter question is fewer prompt tokens.
  BOOST_TEST(timing_counts(test::run_cli(base + "-p x").err).first < counts.first);

  // A reply cut off by the limit says so on stderr and exits 0; -q silences it and the timings.
  auto r = test::run_cli("generate -m '" + model + "' " + vocab + " -n 3 -p hi");
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(contains(r.err, "(the reply was cut off at the limit of 3 tokens"), r.err);
  r = test::run_cli("generate -m '" + model + "' " + vocab + " -n 3 -p hi -q --hide-reasoning");
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(!contains(r.err, "cut off"), r.err);
  BOOST_TEST(timing_counts(r.err).first == -1, r.err);

  // An empty prompt file, and a missing one, are errors of the input (exit 1).
  test::write_file(dir / "empty.txt", "\n");
  r = test::run_cli(base + "-f '" + (dir / "empty.txt").string() + "'");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, "is empty"), r.err);
  r = test::run_cli(base + "-f /nonexistent/prompt.txt");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, "/nonexistent/prompt.txt: cannot open the prompt file"), r.err);
}

// chat's commands, fed on standard input; /save writes what the conversation holds.
BOOST_AUTO_TEST_CASE(chat_commands) {
  const std::string& model = harmony_model();
  test::TempDir dir;
  const std::string a = (dir / "a.json").string(), b = (dir / "b.json").string(), c = (dir / "c.json").string(),
                    d = (dir / "d.json").string();
  const std::string script = "/help\n/effort extreme\n/effort high\n/system Be brief.\nHello\n/save " + a +
                             "\n/reset\n/save " + b + "\n/load " + a + "\n/system\n//slash\n/save " + c +
                             "\n/bogus\n/load /nonexistent/chat.json\n/save " + d + "\n/exit\nnot read\n";
  auto r = test::run_cli("chat -m '" + model + "' " + vocab + " -n 2 -s 1", script);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "/reset"), r.out);  // /help's list, on stdout
  BOOST_TEST(contains(r.err, "/effort: the effort must be low, medium or high, not 'extreme'"), r.err);
  BOOST_TEST(contains(r.err, "unknown command /bogus"), r.err);
  BOOST_TEST(contains(r.err, "/nonexistent/chat.json: cannot open"), r.err);

  auto roles = [](const nlohmann::json& j) {
    std::vector<std::string> out;
    for (const auto& m : j["messages"]) out.push_back(m["role"]);
    return out;
  };
  const auto ja = nlohmann::json::parse(test::read_file(a));
  // The reply to Hello (2 tokens of a random model) completes no message: only the user's is added.
  BOOST_TEST((roles(ja) == std::vector<std::string>{"system", "developer", "user"}));
  BOOST_TEST(ja["messages"][0]["content"][0]["reasoning_effort"] == "high");
  BOOST_TEST(ja["messages"][1]["content"][0]["instructions"] == "Be brief.");
  BOOST_TEST(ja["messages"][2]["content"] == "Hello");
  // /reset keeps the system message and the instructions.
  BOOST_TEST((roles(nlohmann::json::parse(test::read_file(b))) == std::vector<std::string>{"system", "developer"}));
  // /load brought back Hello; /system with no text removed the instructions; //slash is "/slash".
  const auto jc = nlohmann::json::parse(test::read_file(c));
  BOOST_TEST((roles(jc) == std::vector<std::string>{"system", "user", "user"}));
  BOOST_TEST(jc["messages"][1]["content"] == "Hello");
  BOOST_TEST(jc["messages"][2]["content"] == "/slash");
  // A failed /load leaves the conversation as it was.
  BOOST_TEST(nlohmann::json::parse(test::read_file(d)) == jc);
}

// Ctrl-C while a reply is written stops the reply and keeps the program and the conversation: the
// commands after it still run.
BOOST_AUTO_TEST_CASE(chat_ctrl_c_stops_the_reply_only) {
  const std::string& model = harmony_model();
  test::TempDir dir;
  const std::string in = (dir / "in").string(), out = (dir / "out").string(), err = (dir / "err").string(),
                    saved = (dir / "saved.json").string(), rc = (dir / "rc").string();
  // A reply of up to 100000 greedy tokens takes far longer than the wait before SIGINT; -v says
  // when the model is loaded.
  // (A background command of a script starts with SIGINT ignored; gptoss sets its own handler.)
  const std::string script = "mkfifo '" + in + "' || exit 1\n'" + std::string(GPTOSS_CLI) + "' chat -v -m '" + model + "' " +
                             vocab + " -n 100000 --temp 0 < '" + in + "' > '" + out + "' 2> '" + err + "' &\n" +
                             "pid=$!\n"
                             "exec 3> '" + in + "'\n"
                             "printf 'Hello\\n' >&3\n"
                             "i=0\n"
                             "until grep -q loaded '" + err + "' || [ $i -gt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
                             "sleep 1\n"
                             "kill -INT $pid\n"
                             "printf '/save " + saved + "\\n/exit\\n' >&3\n"
                             "exec 3>&-\n"
                             "wait $pid\n"
                             "echo $? > '" + rc + "'\n";
  test::write_file(dir / "script.sh", script);
  BOOST_REQUIRE(std::system(("sh '" + (dir / "script.sh").string() + "'").c_str()) == 0);
  BOOST_TEST(test::read_file(rc) == "0\n", test::read_file(err));
  BOOST_TEST(contains(test::read_file(err), "(reply stopped)"), test::read_file(err));
  const auto j = nlohmann::json::parse(test::read_file(saved));
  BOOST_TEST(j["messages"].back()["content"] == "Hello");
}

// bench: lists of -p, -n and -d, run in -r rounds of every test, in every output format.
BOOST_AUTO_TEST_CASE(bench_lists_and_output_formats) {
  const std::string base = "bench -m " + tiny + " -t 1 -p 8,16 -n 2 -r 2 ";
  auto r = test::run_cli(base + "-o jsonl");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto rows = lines(r.out);
  BOOST_REQUIRE(rows.size() == 4u);
  const std::vector<std::string> tests = {"pp8", "tg2", "pp16", "tg2"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto j = nlohmann::json::parse(rows[i]);
    BOOST_TEST(j["test"] == tests[i]);
    const auto samples = j["samples_ts"].get<std::vector<double>>();
    BOOST_REQUIRE(samples.size() == 2u);
    const double mean = (samples[0] + samples[1]) / 2;
    const double sd = std::abs(samples[0] - samples[1]) / std::sqrt(2.0);  // sample standard deviation of two
    BOOST_TEST(j["avg_ts"].get<double>() == mean, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(j["stddev_ts"].get<double>() == sd, boost::test_tools::tolerance(1e-6));
    // The median of two is their mean; the range is the samples' own.
    BOOST_TEST(j["median_ts"].get<double>() == mean, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(j["min_ts"].get<double>() == std::min(samples[0], samples[1]));
    BOOST_TEST(j["max_ts"].get<double>() == std::max(samples[0], samples[1]));
    BOOST_TEST(j["n_depth"] == 0);
  }
  // Rounds alternate the tests: every test once, then every test again, not one test twice in a row.
  r = test::run_cli(base + "-o jsonl -v");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::vector<std::string> order;
  for (const auto& line : lines(r.err)) {
    std::smatch m;
    if (std::regex_search(line, m, std::regex(R"(^round ([0-9]+): (pp[0-9]+) )"))) order.push_back(m[1].str() + " " + m[2].str());
  }
  BOOST_TEST((order == std::vector<std::string>{"1 pp8", "1 pp16", "2 pp8", "2 pp16"}), r.err);
  r = test::run_cli("bench -m " + tiny + " -t 1 -p 8 -n 2,3 -d 0,10 -r 1 -o json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto all = nlohmann::json::parse(r.out);
  std::vector<std::string> names;
  for (const auto& j : all) names.push_back(j["test"]);
  BOOST_TEST((names == std::vector<std::string>{"pp8", "tg2", "pp8", "tg3", "pp8 @ d10", "tg2 @ d10", "pp8 @ d10", "tg3 @ d10"}));

  r = test::run_cli(base + "-o csv");
  const auto csv = lines(r.out);
  BOOST_REQUIRE(csv.size() == 5u);
  BOOST_TEST(csv[0] == "test,n_prompt,n_gen,n_depth,avg_ts,stddev_ts,median_ts,min_ts,max_ts,bandwidth_fraction,backend,threads");
  BOOST_TEST(csv[1].rfind("pp8,8,0,0,", 0) == 0, csv[1]);
  BOOST_TEST(csv[2].rfind("tg2,0,2,0,", 0) == 0, csv[2]);

  r = test::run_cli(base);  // md by default
  BOOST_TEST(contains(r.out, "| test | t/s (median) | min – max |"), r.out);
  std::smatch m;
  BOOST_REQUIRE_MESSAGE(std::regex_search(r.out, m, std::regex(R"(\| pp16 \| ([0-9.]+) \| ([0-9.]+) – ([0-9.]+) \|)")), r.out);
  BOOST_TEST(std::stod(m[2]) <= std::stod(m[1]));
  BOOST_TEST(std::stod(m[1]) <= std::stod(m[3]));

  // --json keeps its single object, with --repeat 1 and the old --context for the depth.
  r = test::run_cli("bench -m " + tiny + " --prompt 8 --gen 2 --repeat 1 --context 10 --json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto j = nlohmann::json::parse(r.out);
  BOOST_TEST(j["context"] == 10);
  BOOST_TEST(j["repeat"] == 1);
  BOOST_TEST(j["decode_bandwidth_fraction"].get<double>() > 0.0);
  // One round: the range is the one sample, the median.
  for (const char* key : {"prefill_tokens_per_s", "decode_tokens_per_s"}) {
    BOOST_TEST(j[std::string(key) + "_min"] == j[key], key);
    BOOST_TEST(j[std::string(key) + "_max"] == j[key], key);
  }
  // Several rounds: the median lies within the range.
  r = test::run_cli("bench -m " + tiny + " -t 1 -p 8 -n 2 -r 3 --json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  j = nlohmann::json::parse(r.out);
  for (const char* key : {"prefill_tokens_per_s", "decode_tokens_per_s"}) {
    BOOST_TEST(j[std::string(key) + "_min"].get<double>() <= j[key].get<double>(), key);
    BOOST_TEST(j[key].get<double>() <= j[std::string(key) + "_max"].get<double>(), key);
    BOOST_TEST(j[std::string(key) + "_min"].get<double>() > 0.0, key);
  }
}
