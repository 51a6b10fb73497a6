// Hostile inputs through the gptoss command (issue 7): corrupted checkpoints, vocabularies and
// conversations are refused with exit code 1 and exactly one line on stderr; never a signal, a
// sanitizer report or a hang (run_cli's timeout turns one into exit code 124). The files are made
// here from the tiny checkpoint rather than kept in the repository.
#define BOOST_TEST_MODULE hostile
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <functional>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "common/golden.hpp"
#include "common/run.hpp"
#include "common/temp_dir.hpp"
#include "gptoss/harmony/requests.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using ordered = nlohmann::ordered_json;

namespace {

// A failure as the command promises it.
void expect_clean_failure(const test::RunResult& r, const std::string& what) {
  BOOST_TEST_CONTEXT(what << "\nstderr: " << r.err) {
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    BOOST_TEST((!r.err.empty() && r.err.back() == '\n'));
    BOOST_TEST(r.err.find("Sanitizer") == std::string::npos);
  }
}

// Success or a clean failure: for inputs that may happen to be harmless (a flipped bit in padding).
void expect_success_or_clean_failure(const test::RunResult& r, const std::string& what) {
  if (r.exit_code == 0) {
    BOOST_TEST(r.err.empty(), what << ": succeeded but wrote to stderr: " << r.err);
  } else {
    expect_clean_failure(r, what);
  }
}

const std::string tiny_original = test::tiny_dir + "/original";

// The tiny checkpoint's safetensors file split into its header (as JSON) and data section.
struct Safetensors {
  ordered header;
  std::string data;
  Safetensors() {
    const std::string bytes = test::read_file(tiny_original + "/model.safetensors");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | std::uint8_t(bytes[i]);
    header = ordered::parse(bytes.substr(8, n));
    data = bytes.substr(8 + n);
  }
  std::string file(const std::string& header_text) const { return test::safetensors_bytes(header_text, data); }
  std::string file() const { return file(header.dump()); }
};

// A checkpoint folder holding the tiny config.json (or `config`) and these safetensors bytes.
fs::path make_checkpoint(const test::TempDir& tmp, const std::string& name, const std::string& weights,
                         const std::string& config = test::read_file(tiny_original + "/config.json")) {
  const fs::path dir = tmp / name;
  fs::create_directories(dir);
  test::write_file(dir / "config.json", config);
  test::write_file(dir / "model.safetensors", weights);
  return dir;
}

std::string info(const fs::path& dir, const std::string& extra = "") {
  return "info --threads 1 --model '" + dir.string() + "'" + extra;
}
std::string logits(const fs::path& dir, const std::string& tokens = "1,2,3") {
  return "logits --threads 1 --model '" + dir.string() + "' --tokens " + tokens + " --out '" + (dir / "out.npy").string() + "'";
}

// Each corrupted checkpoint is refused by both info and logits.
void expect_refused(const fs::path& dir, const std::string& what) {
  expect_clean_failure(test::run_cli(info(dir)), "info: " + what);
  expect_clean_failure(test::run_cli(logits(dir)), "logits: " + what);
}

}  // namespace

BOOST_AUTO_TEST_CASE(truncated_checkpoints) {
  test::TempDir tmp;
  const std::string full = test::read_file(tiny_original + "/model.safetensors");
  for (std::size_t size : {std::size_t(0), std::size_t(5), std::size_t(8), std::size_t(100), std::size_t(5000),
                           full.size() / 2, full.size() - 1})
    expect_refused(make_checkpoint(tmp, "cut" + std::to_string(size), full.substr(0, size)),
                   "truncated to " + std::to_string(size) + " bytes");
}

BOOST_AUTO_TEST_CASE(bit_flipped_headers) {
  // Flips anywhere in the length and JSON header: most are refused, a few (in padding) are
  // harmless, none may crash.
  test::TempDir tmp;
  const std::string full = test::read_file(tiny_original + "/model.safetensors");
  std::mt19937 rng(7);
  int refused = 0, runs = 24;
  for (int i = 0; i < runs; ++i) {
    std::string bytes = full;
    const std::size_t at = i < 8 ? std::size_t(i) : 8 + rng() % 5776;
    bytes[at] ^= char(1 << (rng() % 8));
    auto r = test::run_cli(info(make_checkpoint(tmp, "flip" + std::to_string(i), bytes)));
    expect_success_or_clean_failure(r, "bit flip at byte " + std::to_string(at));
    refused += r.exit_code == 1;
  }
  BOOST_TEST(refused >= runs * 3 / 4);
}

BOOST_AUTO_TEST_CASE(oversized_and_lying_header_lengths) {
  test::TempDir tmp;
  Safetensors st;
  const std::string text = st.header.dump();
  for (std::uint64_t claimed : {std::uint64_t(1) << 40, std::uint64_t(100) << 20 | 1, std::uint64_t(text.size() + st.data.size() + 1),
                                ~std::uint64_t(0) - 1, std::uint64_t(0), std::uint64_t(1)})  // ~0 means "the real length" there
    expect_refused(make_checkpoint(tmp, "len" + std::to_string(claimed), test::safetensors_bytes(text, st.data, claimed)),
                   "header length " + std::to_string(claimed));
}

BOOST_AUTO_TEST_CASE(lying_tensor_tables) {
  test::TempDir tmp;
  const std::string emb = "embedding.weight", norm = "norm.scale";
  const std::vector<std::pair<std::string, std::function<void(ordered&)>>> edits{
      {"wrong dtype, same size", [&](ordered& h) { h[emb]["dtype"] = "F16"; }},
      {"unknown dtype", [&](ordered& h) { h[emb]["dtype"] = "Q4_K"; }},
      {"huge dimensions", [&](ordered& h) { h[emb]["shape"] = {1ull << 40, 1ull << 40}; }},
      {"dimension past 2^63", [&](ordered& h) { h[emb]["shape"] = {~0ull, 1}; }},
      {"negative dimension", [&](ordered& h) { h[emb]["shape"] = {-1000, -160}; }},
      {"rank 9", [&](ordered& h) { h[emb]["shape"] = ordered::array({1, 1, 1, 1, 1, 1, 1, 1, 1}); }},
      {"shape disagrees with the config", [&](ordered& h) {
         h[emb]["shape"] = {160, 1000};
       }},
      {"overlapping offsets", [&](ordered& h) { h[norm]["data_offsets"] = h[emb]["data_offsets"]; h[norm]["shape"] = h[emb]["shape"]; }},
      {"offsets that overflow", [&](ordered& h) { h[emb]["data_offsets"] = {~0ull - 1, ~0ull}; }},
      {"offsets past the end", [&](ordered& h) { h[emb]["data_offsets"] = {0ull, 1ull << 62}; }},
      {"offsets that run backwards", [&](ordered& h) { h[emb]["data_offsets"] = {320000, 0}; }},
      {"offsets of the wrong type", [&](ordered& h) { h[emb]["data_offsets"] = {"0", 320000}; }},
      {"missing tensor", [&](ordered& h) { h.erase(norm); }},
      {"entry not an object", [&](ordered& h) { h[emb] = 1; }},
      {"metadata not strings", [&](ordered& h) { h["__metadata__"] = {{"format", 1}}; }},
      {"bad entry with a newline in its name", [&](ordered& h) { h["evil\nname"] = {{"dtype", "X"}, {"shape", {1}}, {"data_offsets", {0, 1}}}; }},
      {"too many tensors", [&](ordered& h) {
         for (int i = 0; i < 70000; ++i) h["extra." + std::to_string(i)] = {{"dtype", "U8"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
       }},
      {"header not an object", [&](ordered& h) { h = ordered::array({1, 2}); }},
  };
  int n = 0;
  for (const auto& [what, edit] : edits) {
    Safetensors st;
    edit(st.header);
    expect_refused(make_checkpoint(tmp, "table" + std::to_string(n++), st.file()), what);
  }
  // Text the JSON writer would never produce: invalid UTF-8 in a name, nesting 100000 deep.
  Safetensors st;
  std::string text = st.header.dump();
  std::string bad_name = text;
  bad_name.replace(bad_name.find(emb), emb.size(), "embedding.\xff\xfeweight");
  expect_refused(make_checkpoint(tmp, "utf8", st.file(bad_name)), "invalid UTF-8 in a tensor name");
  std::string deep = text;
  deep.insert(1, "\"deep\": " + std::string(100000, '[') + std::string(100000, ']') + ", ");
  expect_refused(make_checkpoint(tmp, "deep", st.file(deep)), "header nested 100000 deep");
}

BOOST_AUTO_TEST_CASE(hostile_configs) {
  test::TempDir tmp;
  const std::string weights = test::read_file(tiny_original + "/model.safetensors");
  const json config = json::parse(test::read_file(tiny_original + "/config.json"));
  const std::vector<std::pair<std::string, std::function<void(json&)>>> edits{
      {"huge dimensions", [](json& c) { c["hidden_size"] = 65536, c["vocab_size"] = 1 << 24; }},
      {"layers out of range", [](json& c) { c["num_hidden_layers"] = 1e9; }},
      {"negative size", [](json& c) { c["intermediate_size"] = -96; }},
      {"size as a string", [](json& c) { c["head_dim"] = "32"; }},
      {"fractional size", [](json& c) { c["num_experts"] = 7.5; }},
      {"heads that do not divide", [](json& c) { c["num_key_value_heads"] = 3; }},
      {"more experts per token than experts", [](json& c) { c["experts_per_token"] = 9; }},
      {"YaRN ramp out of range", [](json& c) { c["rope_ntk_beta"] = 1e6; }},
      {"a field with a line break", [](json& c) { c["vocab_size"] = "1000\n1000"; }},
  };
  int n = 0;
  for (const auto& [what, edit] : edits) {
    json c = config;
    edit(c);
    expect_refused(make_checkpoint(tmp, "config" + std::to_string(n++), weights, c.dump()), what);
  }
  // A value nested 100000 deep, where an error message would print it.
  std::string deep = config.dump();
  deep.replace(deep.find("160"), 3, std::string(100000, '[') + std::string(100000, ']'));
  for (const std::string& text : {std::string(""), std::string("{"), std::string("[]"), std::string("{\"vocab_size\": \"\xff\"}"),
                                  std::string(100000, '[') + std::string(100000, ']'), deep})
    expect_refused(make_checkpoint(tmp, "config" + std::to_string(n++), weights, text), "config.json: " + text.substr(0, 20));
}

BOOST_AUTO_TEST_CASE(files_that_are_not_files) {
  test::TempDir tmp;
  const fs::path dir = make_checkpoint(tmp, "fifo", "");
  fs::remove(dir / "model.safetensors");
  BOOST_REQUIRE(::mkfifo((dir / "model.safetensors").c_str(), 0600) == 0);
  expect_refused(dir, "model.safetensors is a FIFO (opening it must not wait for a writer)");
  const fs::path dir2 = make_checkpoint(tmp, "fifo-config", test::read_file(tiny_original + "/model.safetensors"));
  fs::remove(dir2 / "config.json");
  BOOST_REQUIRE(::mkfifo((dir2 / "config.json").c_str(), 0600) == 0);
  expect_refused(dir2, "config.json is a FIFO");
  const fs::path dir3 = make_checkpoint(tmp, "dir", "");
  fs::remove(dir3 / "model.safetensors");
  fs::create_directory(dir3 / "model.safetensors");
  expect_refused(dir3, "model.safetensors is a folder");
  expect_refused(tmp / "missing", "no such folder");
}

BOOST_AUTO_TEST_CASE(bad_tokens_and_long_prompts) {
  test::TempDir tmp;
  const fs::path dir = make_checkpoint(tmp, "ok", test::read_file(tiny_original + "/model.safetensors"));
  expect_clean_failure(test::run_cli(logits(dir, "1,1000")), "token id = vocab_size");
  expect_clean_failure(test::run_cli(logits(dir, "4294967295")), "token id 2^32-1");
  // A context of 8 tokens (YaRN off) cannot hold 9: the KV cache is sized once and cannot grow.
  json c = json::parse(test::read_file(tiny_original + "/config.json"));
  c["initial_context_length"] = 8, c["rope_scaling_factor"] = 1.0;
  const fs::path small = make_checkpoint(tmp, "small", test::read_file(tiny_original + "/model.safetensors"), c.dump());
  BOOST_TEST(test::run_cli(logits(small, "1,2,3,4,5,6,7,8")).exit_code == 0);
  expect_clean_failure(test::run_cli(logits(small, "1,2,3,4,5,6,7,8,9")), "prompt longer than the context");
}

BOOST_AUTO_TEST_CASE(non_finite_weights_found_on_request) {
  test::TempDir tmp;
  Safetensors st;
  auto with_bytes = [&](const std::string& name, const std::string& tensor, std::size_t element, const std::string& bytes) {
    std::string data = st.data;
    data.replace(st.header[tensor]["data_offsets"][0].get<std::size_t>() + element, bytes.size(), bytes);
    return make_checkpoint(tmp, name, test::safetensors_bytes(st.header.dump(), data));
  };
  const auto clean = make_checkpoint(tmp, "clean", st.file());
  auto r = test::run_cli(info(clean, " --check"));
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.find("all finite") != std::string::npos);
  const std::string nan("\xc0\x7f", 2), inf("\x80\xff", 2), scale255("\xff", 1);
  for (const auto& [name, tensor, element, bytes] :
       {std::tuple{"nan", "block.2.attn.qkv.weight", std::size_t(2 * 777), nan},
        std::tuple{"inf", "unembedding.weight", std::size_t(2 * 159999), inf},
        std::tuple{"scale", "block.3.mlp.mlp2_weight.scales", std::size_t(41), scale255}}) {
    const fs::path dir = with_bytes(name, tensor, element, bytes);
    BOOST_TEST(test::run_cli(info(dir)).exit_code == 0);  // values are only read on request
    r = test::run_cli(info(dir, " --check"));
    expect_clean_failure(r, std::string("--check with ") + name);
    BOOST_TEST(r.err.find(tensor) != std::string::npos, r.err);
  }
}

namespace {

const std::string vocab = test::data_dir + "/tokenizer/o200k_base.tiktoken";

std::string tokenize(const fs::path& file) { return "tokenize --vocab '" + file.string() + "'"; }

}  // namespace

BOOST_AUTO_TEST_CASE(corrupted_vocabularies) {
  test::TempDir tmp;
  const std::string real = test::read_file(vocab);
  std::vector<std::pair<std::string, std::string>> files{
      {"empty", ""},
      {"blank", " \n\n\t"},
      {"truncated", real.substr(0, real.size() / 3)},
      {"cut mid-line", real.substr(0, real.size() - 3)},
      {"no rank", "IQ==\n"},
      {"bad base64", "I*==  0\n"},
      {"rank not a number", "IQ== zero\n"},
      {"rank too large", "IQ== 199998\n"},
      {"rank repeated", "IQ== 0\nIg== 0\n"},
      {"binary", std::string("\x00\xff\xfe\x01\x89PNG\r\n", 10)},
      {"line break in a bad line", "a\rb c d\n"},
      {"tokenizer.json: not JSON", "{\"model\": "},
      {"tokenizer.json: no vocab", "{\"model\": {\"type\": \"BPE\"}}"},
      {"tokenizer.json: not BPE", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}"},
      {"tokenizer.json: vocab value not an id", "{\"model\": {\"vocab\": {\"a\": \"b\"}}}"},
      {"tokenizer.json: negative id", "{\"model\": {\"vocab\": {\"a\": -1}}}"},
      {"tokenizer.json: wrong added token", "{\"added_tokens\": [{\"id\": 200006, \"content\": \"<|end|>\"}], \"model\": {\"vocab\": {}}}"},
      {"tokenizer.json: invalid UTF-8", "{\"model\": {\"vocab\": {\"\xff\": 0}}}"},
      {"tokenizer.json: nested 100000 deep", "{\"model\": " + std::string(100000, '[') + std::string(100000, ']') + "}"},
  };
  // Flips that break a line's structure (a flip inside base64 text may give other valid bytes).
  for (std::size_t at : {std::size_t(0), real.find('\n', 1234567), real.find(' ', 2345678) + 1, real.size() - 2}) {
    std::string flipped = real;
    flipped[at] ^= 0x40;
    files.push_back({"bit flip at byte " + std::to_string(at), flipped});
  }
  int n = 0;
  for (const auto& [what, bytes] : files) {
    const fs::path file = tmp / ("vocab" + std::to_string(n++) + (what.starts_with("tokenizer.json") ? ".json" : ".tiktoken"));
    test::write_file(file, bytes);
    expect_clean_failure(test::run_cli(tokenize(file), "hello"), "tokenize, vocabulary: " + what);
  }
  expect_clean_failure(test::run_cli(tokenize(tmp.path()), "hello"), "a folder as vocabulary");
  expect_clean_failure(test::run_cli(tokenize(tmp / "missing"), "hello"), "a missing vocabulary");
  ::mkfifo((tmp / "fifo").c_str(), 0600);
  expect_clean_failure(test::run_cli(tokenize(tmp / "fifo"), "hello"), "a FIFO as vocabulary");
  expect_clean_failure(test::run_cli("harmony render --vocab '" + (tmp / "vocab0.tiktoken").string() + "'", "{}"),
                       "harmony render with an empty vocabulary");
}

BOOST_AUTO_TEST_CASE(hostile_text_and_ids) {
  // Arbitrary bytes are text to encode (invalid UTF-8 becomes U+FFFD); ids outside the
  // vocabulary and disallowed special tokens are clean errors.
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += char(i);
  BOOST_TEST(test::run_cli("tokenize --vocab '" + vocab + "'", bytes + "<|start|>\xf0\x9f").exit_code == 0);
  expect_clean_failure(test::run_cli("tokenize --special error --vocab '" + vocab + "'", "hi <|start|>"), "disallowed special");
  expect_clean_failure(test::run_cli("detokenize --vocab '" + vocab + "'", "[1, 201088]"), "id past the vocabulary");
  expect_clean_failure(test::run_cli("detokenize --vocab '" + vocab + "'", "[1, -1]"), "negative id");
  expect_clean_failure(test::run_cli("detokenize --vocab '" + vocab + "'", "[[[[1]]]]"), "nested ids");
}

BOOST_AUTO_TEST_CASE(malformed_conversations) {
  const std::string render = "harmony render --vocab '" + vocab + "'";
  const std::vector<std::pair<std::string, std::string>> requests{
      {"empty input", ""},
      {"not JSON", "{\"messages\": [ "},
      {"invalid UTF-8", "{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\x28\"}]}"},
      {"nested 100000 deep", std::string(100000, '[') + std::string(100000, ']')},
      {"nested just past the limit", "{\"x\": " + std::string(300, '[') + std::string(300, ']') + "}"},
      {"not an object", "[1, 2]"},
      {"messages not an array", "{\"messages\": {}}"},
      {"message not an object", "{\"messages\": [7]}"},
      {"no role", "{\"messages\": [{\"content\": \"x\"}]}"},
      {"unknown role", "{\"messages\": [{\"role\": \"root\", \"content\": \"x\"}]}"},
      {"role with a line break", "{\"messages\": [{\"role\": \"user\\nsystem\", \"content\": \"x\"}]}"},
      {"content of the wrong type", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}"},
      {"unknown part type", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}]}"},
      {"tool without a name", "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}"},
      {"system content from a user", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"system_content\"}]}]}"},
      {"developer content from the assistant",
       "{\"messages\": [{\"role\": \"assistant\", \"content\": [{\"type\": \"developer_content\"}]}]}"},
      {"bad reasoning effort",
       "{\"messages\": [{\"role\": \"system\", \"content\": [{\"type\": \"system_content\", \"reasoning_effort\": \"max\"}]}]}"},
      {"tools not an array", "{\"messages\": [{\"role\": \"developer\", \"content\": [{\"type\": \"developer_content\", \"tools\": 1}]}]}"},
      {"unknown mode", "{\"render\": {\"mode\": \"poem\"}, \"messages\": []}"},
      {"message mode with two messages",
       "{\"render\": {\"mode\": \"message\"}, \"messages\": [{\"role\": \"user\"}, {\"role\": \"user\"}]}"},
      {"name of the wrong type", "{\"messages\": [{\"role\": \"user\", \"name\": [], \"content\": \"x\"}]}"},
  };
  for (const auto& [what, request] : requests) {
    auto r = test::run_cli(render, request);
    expect_clean_failure(r, "harmony render: " + what);
    BOOST_TEST(r.out.starts_with("{\"error\":"), what << ": " << r.out);
  }
}

BOOST_AUTO_TEST_CASE(parse_any_token_sequence) {
  const std::string parse = "harmony parse --vocab '" + vocab + "'";
  std::mt19937 rng(99);
  const std::vector<std::uint64_t> interesting{200006, 200008, 200007, 200012, 200002, 200005, 200003, 0, 9552,
                                               201087, 201088, 199999, 4294967295u};
  for (int i = 0; i < 12; ++i) {
    json ids = json::array();
    for (std::size_t n = rng() % 40; n > 0; --n) ids.push_back(rng() % 2 ? interesting[rng() % interesting.size()] : rng() % 201100);
    json input = {{"tokens", ids}, {"strict", i % 2 == 0}, {"role", i % 3 ? json("assistant") : json()}};
    expect_success_or_clean_failure(test::run_cli(parse, json{{"input", input}}.dump()), "harmony parse " + ids.dump());
  }
  for (const std::string& bad : {"{\"input\": {\"tokens\": [-1]}}", "{\"input\": {\"tokens\": [4294967296]}}",
                                 "{\"input\": {\"tokens\": \"200006\"}}", "{\"input\": {\"role\": \"god\"}}", "{}"})
    expect_clean_failure(test::run_cli(parse, bad), "harmony parse " + bad);
}

// tests/harmony proves that special-token text in message contents renders as text; this covers
// every other string a request carries (names, recipients, channels, content types, system
// fields, tool schemas), through the JSON the command reads. (A content type that starts with
// <|constrain|> is the schema's way to ask for that token, so the text is put after "json".)
BOOST_AUTO_TEST_CASE(special_token_text_in_every_field_stays_text) {
  using namespace gptoss;
  const auto tok = text::Tokenizer::from_file(vocab);
  const std::set<token_id> structural{harmony::tokens::start, harmony::tokens::message, harmony::tokens::end,
                                      harmony::tokens::channel, harmony::tokens::constrain, harmony::tokens::call};
  auto request = [](const std::string& s) {
    ordered tool = {{"name", "f" + s}, {"description", s}, {"parameters", {{"type", "object"}, {"properties", {{"x", {{"type", "string"}, {"description", s}}}}}}}};
    return ordered{
        {"render", {{"mode", "conversation"}}},
        {"messages",
         {{{"role", "system"},
           {"content", {{{"type", "system_content"}, {"model_identity", s}, {"knowledge_cutoff", s},
                         {"conversation_start_date", s}, {"channel_config", {{"valid_channels", {s}}}}}}}},
          {{"role", "developer"},
           {"content", {{{"type", "developer_content"}, {"instructions", s},
                         {"tools", {{{"name", "functions"}, {"description", s}, {"tools", {tool}}}}}}}}},
          {{"role", "user"}, {"name", s}, {"content", s}},
          {{"role", "assistant"}, {"channel", s}, {"recipient", "functions.f" + s}, {"content_type", "json" + s}, {"content", s}},
          {{"role", "tool"}, {"name", s}, {"recipient", s}, {"channel", s}, {"content", s}}}}};
  };
  auto structure = [&](const ordered& out) {
    std::vector<token_id> seen;
    for (token_id t : out["tokens"].get<std::vector<token_id>>())
      if (tok.is_special(t)) seen.push_back(t);
    return seen;
  };
  const auto want = structure(harmony::render_request(tok, request("plain")));
  for (const auto& t : want) BOOST_TEST_REQUIRE(structural.count(t) == 1);
  for (token_id id = text::first_special_token; id < text::o200k_harmony_vocab_size; ++id) {
    const std::string s(tok.token_bytes(id));
    BOOST_TEST(structure(harmony::render_request(tok, request(s))) == want, s);
  }
}
