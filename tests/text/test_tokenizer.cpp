// The o200k_harmony tokenizer: golden cases from both vocabulary files, the pre-tokenizer, UTF-8
// handling, streaming decode, bad vocabulary files and the tokenize/detokenize commands.
#define BOOST_TEST_MODULE tokenizer
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/text/pretokenize.hpp"
#include "gptoss/text/stream_decoder.hpp"
#include "gptoss/text/tokenizer.hpp"
#include "gptoss/text/utf8.hpp"

namespace fs = std::filesystem;
using gptoss::token_id;
using gptoss::text::Tokenizer;

namespace {

const fs::path data_dir = fs::path(GPTOSS_TEST_DATA) / "tokenizer";
const fs::path tiktoken_file = data_dir / "o200k_base.tiktoken";
// The Hugging Face file, unpacked into the build tree from tests/data/tokenizer/tokenizer.json.tar.xz.
const fs::path json_file = GPTOSS_TOKENIZER_JSON;

const Tokenizer& json_tokenizer() {
  BOOST_REQUIRE_MESSAGE(fs::exists(json_file), json_file << " is missing: it is unpacked when the build is configured");
  static const Tokenizer t = Tokenizer::from_file(json_file);
  return t;
}

const Tokenizer& tiktoken_tokenizer() {
  static const Tokenizer t = Tokenizer::from_file(tiktoken_file);
  return t;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string to_hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// The golden cases; $GPTOSS_TOKENIZER_CASES may name another file of the same schema.
std::vector<nlohmann::json> load_cases() {
  fs::path path = data_dir / "cases.jsonl";
  if (const char* env = std::getenv("GPTOSS_TOKENIZER_CASES"); env && *env) path = env;
  std::ifstream in(path);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << path);
  std::vector<nlohmann::json> cases;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) cases.push_back(nlohmann::json::parse(line));
  return cases;
}

// Runs one case; returns what went wrong, or "" if it passed.
std::string run_case(const Tokenizer& tok, const nlohmann::json& c) {
  const std::string mode = c.at("mode");
  try {
    if (mode == "decode") {
      const auto ids = c.at("ids").get<std::vector<token_id>>();
      if (c.value("expect_error", false)) {
        try {
          tok.decode(ids);
        } catch (const gptoss::input_error&) {
          return "";
        }
        return "decode did not fail";
      }
      const std::string got = to_hex(tok.decode(ids));
      return got == c.at("decode_hex") ? "" : "decode gave " + got;
    }
    const std::string input = from_hex(c.at("input_hex"));
    std::vector<token_id> ids;
    if (mode == "ordinary") {
      ids = tok.encode_ordinary(input);
    } else if (mode == "special_all") {
      ids = tok.encode_with_all_specials(input);
    } else if (mode == "special_subset") {
      ids = tok.encode(input, c.at("allowed_special").get<std::vector<std::string>>(), Tokenizer::Disallowed::plain);
    } else if (mode == "error_disallowed") {
      try {
        tok.encode(input, {}, Tokenizer::Disallowed::error);
      } catch (const gptoss::input_error&) {
        return "";
      }
      return "encode did not fail";
    } else {
      return "unknown mode " + mode;
    }
    if (ids != c.at("ids").get<std::vector<token_id>>()) return "ids differ: got " + nlohmann::json(ids).dump();
    if (c.contains("decode_hex") && to_hex(tok.decode(ids)) != c.at("decode_hex")) return "round trip differs";
    return "";
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  }
}

// tokenizer.json's added tokens stop at 200018, but the loader adds the full Harmony table, so
// every case applies to both files.
void check_all_cases(const Tokenizer& tok) {
  int failed = 0;
  const auto cases = load_cases();
  for (const auto& c : cases) {
    std::string problem = run_case(tok, c);
    if (!problem.empty()) {
      ++failed;
      BOOST_ERROR(c.at("id").get<std::string>() << " (" << c.at("category").get<std::string>() << "): " << problem);
    }
  }
  BOOST_TEST_MESSAGE(cases.size() - failed << " of " << cases.size() << " cases passed");
  // All of them: the file's README counts 274 (another file named by $GPTOSS_TOKENIZER_CASES is
  // taken as it is).
  if (!std::getenv("GPTOSS_TOKENIZER_CASES")) BOOST_TEST(cases.size() == 274u);
}

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (auto p : gptoss::text::split_pieces(text)) out.emplace_back(p);
  return out;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const gptoss::format_error& e) {
    return e.what();
  }
  return "(no format_error)";
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("gptoss_tok_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
    return path / name;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(golden_cases_tiktoken_file) { check_all_cases(tiktoken_tokenizer()); }

BOOST_AUTO_TEST_CASE(golden_cases_tokenizer_json) { check_all_cases(json_tokenizer()); }

BOOST_AUTO_TEST_CASE(both_files_give_the_same_vocabulary) {
  const Tokenizer& json = json_tokenizer();
  const Tokenizer& tik = tiktoken_tokenizer();
  BOOST_TEST(json.vocab_size() == tik.vocab_size());
  for (token_id id = 0; id < tik.vocab_size(); ++id)
    if (json.token_bytes(id) != tik.token_bytes(id)) BOOST_FAIL("token " << id << " differs");
}

BOOST_AUTO_TEST_CASE(pretokenizer_splits) {
  using V = std::vector<std::string>;
  BOOST_TEST(pieces("a   b") == (V{"a", "  ", " b"}));
  BOOST_TEST(pieces("Hello world") == (V{"Hello", " world"}));
  BOOST_TEST(pieces("camelCase HTTPServer") == (V{"camel", "Case", " HTTPServer"}));
  BOOST_TEST(pieces("I'm HE'LL they'RE") == (V{"I'm", " HE'LL", " they'RE"}));
  BOOST_TEST(pieces("1234567") == (V{"123", "456", "7"}));
  BOOST_TEST(pieces("x = 12;\n") == (V{"x", " =", " ", "12", ";\n"}));
  BOOST_TEST(pieces("a\n\n  b") == (V{"a", "\n\n", " ", " b"}));
  BOOST_TEST(pieces("a  \n") == (V{"a", "  \n"}));
  BOOST_TEST(pieces("end   ") == (V{"end", "   "}));
  BOOST_TEST(pieces(" 42") == (V{" ", "42"}));
  BOOST_TEST(pieces("path/to//x") == (V{"path", "/to", "//", "x"}));
  BOOST_TEST(pieces("...!?\r\n") == (V{"...!?\r\n"}));
  BOOST_TEST(pieces("\tfoo") == (V{"\tfoo"}));
  BOOST_TEST(pieces("don\xC5\xBF") == (V{"don\xC5\xBF"}));         // long s is a lower-case letter
  BOOST_TEST(pieces("it'\xC5\xBF") == (V{"it'\xC5\xBF"}));         // and folds to s in 's
  BOOST_TEST(pieces("e\xCC\x81t\xC3\xA9") == (V{"e\xCC\x81t\xC3\xA9"}));  // combining mark inside a word
  BOOST_TEST(pieces("\xE4\xBD\xA0\xE5\xA5\xBD") == (V{"\xE4\xBD\xA0\xE5\xA5\xBD"}));  // 你好
  BOOST_TEST(pieces("a\xC2\xA0\xC2\xA0z") == (V{"a", "\xC2\xA0", "\xC2\xA0z"}));  // NBSP is \s
  BOOST_TEST(pieces("").empty());
}

// The straightforward definition of BPE, to check the fast paths (both the linear-scan merge of
// short pieces and the heap merge of long ones) against.
std::vector<token_id> reference_bpe(const gptoss::text::BpeRanks& ranks, std::string_view piece) {
  std::vector<std::string> parts;
  for (char c : piece) parts.emplace_back(1, c);
  for (;;) {
    std::size_t best = parts.size();
    std::uint32_t best_rank = gptoss::text::BpeRanks::none;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      std::uint32_t r = ranks.rank(parts[i] + parts[i + 1]);
      if (r < best_rank) best_rank = r, best = i;
    }
    if (best == parts.size()) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  std::vector<token_id> ids;
  for (const auto& p : parts) ids.push_back(ranks.rank(p));
  return ids;
}

BOOST_AUTO_TEST_CASE(bpe_matches_the_reference_definition) {
  const auto& ranks = tiktoken_tokenizer().ranks();
  std::vector<std::string> pieces;
  for (const auto& c : load_cases())
    if (c.contains("input_hex")) {
      // The pieces are views into the text, which must outlive the loop over them.
      const std::string text = gptoss::text::utf8::replace_invalid(from_hex(c["input_hex"]));
      for (auto p : gptoss::text::split_pieces(text))
        if (p.size() <= 600) pieces.emplace_back(p);
    }
  // Long single pieces on both sides of the linear-scan limit.
  const std::vector<std::string> units = {"ab", "xyz", "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96", "\xD0\xB6\xD0\xB8",
                                          "\xE0\xA4\x95\xE0\xA4\xBF", "q"};
  for (std::size_t len : {60, 130, 255, 256, 257, 300, 520})
    for (const auto& u : units) {
      std::string p;
      for (std::size_t i = 0; p.size() < len; ++i) p += u.substr(0, std::min(u.size(), len - p.size()));
      pieces.push_back(p);
    }
  int failed = 0;
  for (const auto& p : pieces) {
    std::vector<token_id> got;
    ranks.encode(p, got);
    if (got != reference_bpe(ranks, p) && ++failed < 5) BOOST_ERROR("BPE differs for " << to_hex(p));
  }
  BOOST_TEST(failed == 0);
}

BOOST_AUTO_TEST_CASE(utf8_replacement_uses_maximal_subparts) {
  using gptoss::text::utf8::replace_invalid;
  const std::string fffd = "\xEF\xBF\xBD";
  BOOST_TEST(replace_invalid("abc") == "abc");
  BOOST_TEST(replace_invalid("a\xFF" "b") == "a" + fffd + "b");
  BOOST_TEST(replace_invalid("\xE2\x82") == fffd);                 // truncated 3-byte sequence: one
  BOOST_TEST(replace_invalid("\xE0\x80\x80") == fffd + fffd + fffd);  // overlong: each byte
  BOOST_TEST(replace_invalid("\xED\xA0\x80") == fffd + fffd + fffd);  // surrogate
  BOOST_TEST(replace_invalid("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // above U+10FFFF
  BOOST_TEST(replace_invalid("\xF0\x9F\x98") == fffd);
  BOOST_TEST(replace_invalid("\xC3\xA9\x80") == "\xC3\xA9" + fffd);
  // The tokenizer encodes the replaced text.
  const auto& tok = tiktoken_tokenizer();
  BOOST_TEST(tok.encode_ordinary("a\xFF" "b") == tok.encode_ordinary("a" + fffd + "b"));
}

// What Rust's std::str::from_utf8 reports for the same bytes (Utf8Error's valid_up_to and
// error_len, None written as 0).
BOOST_AUTO_TEST_CASE(utf8_check_reports_as_rust_utf8error) {
  using gptoss::text::utf8::check;
  struct Case {
    std::string bytes;
    bool valid;
    std::size_t valid_up_to, error_len;
  };
  const Case cases[] = {
      {"abc", true, 3, 0},
      {"a\xC3", false, 1, 0},               // unfinished: more bytes may complete it
      {"a\xC3x", false, 1, 1},
      {"\xE2\x82", false, 0, 0},
      {"\xE2\x82x", false, 0, 2},           // the maximal subpart: lead and one continuation
      {"\xED\xA0\x80", false, 0, 1},        // a surrogate's second byte is out of range
      {"\xE0\x9F\xBF", false, 0, 1},        // overlong
      {"\xF4\x90\x80\x80", false, 0, 1},    // above U+10FFFF
      {"\xC0\x80", false, 0, 1},
      {"\xF5", false, 0, 1},
      {"\xC3\xA9\xF0\x9F\x98", false, 2, 0},
      {"\xC3\xA9\xF0\x9F\x98\x80", true, 6, 0},
  };
  for (const Case& c : cases) {
    const auto r = check(c.bytes);
    BOOST_TEST_CONTEXT(c.bytes) {
      BOOST_TEST(r.valid == c.valid);
      BOOST_TEST(r.valid_up_to == c.valid_up_to);
      BOOST_TEST(r.error_len == c.error_len);
    }
  }
}

BOOST_AUTO_TEST_CASE(stream_decoder_holds_back_partial_characters) {
  const auto& tok = tiktoken_tokenizer();
  const std::string text = "h\xC3\xA9llo \xF0\x9F\x98\x80 \xE4\xBD\xA0\xE5\xA5\xBD!";
  // Feed the text one byte-token at a time: every multi-byte character is split across tokens.
  std::vector<token_id> ids;
  for (char c : text) ids.push_back(tok.ranks().rank(std::string_view(&c, 1)));
  gptoss::text::StreamDecoder dec(tok);
  std::string out;
  for (token_id id : ids) {
    std::string piece = dec.feed(id);
    BOOST_TEST(gptoss::text::utf8::is_valid(piece));
    out += piece;
  }
  out += dec.finish();
  BOOST_TEST(out == text);
  // Something that stays incomplete is flushed as U+FFFD.
  gptoss::text::StreamDecoder dec2(tok);
  const char lead = '\xF0';
  BOOST_TEST(dec2.feed(tok.encode_ordinary("ok")[0]) == "ok");
  BOOST_TEST(dec2.feed(tok.ranks().rank(std::string_view(&lead, 1))).empty());
  BOOST_TEST(dec2.finish() == "\xEF\xBF\xBD");
  BOOST_CHECK_THROW(dec2.feed(201088), gptoss::input_error);
}

BOOST_AUTO_TEST_CASE(special_tokens) {
  const auto& tok = tiktoken_tokenizer();
  BOOST_TEST(tok.vocab_size() == 201088u);
  BOOST_TEST(tok.special("<|start|>") == 200006u);
  BOOST_TEST(tok.special("<|endofprompt|>") == 200018u);
  BOOST_TEST(tok.special("<|reserved_200018|>") == 200018u);
  BOOST_TEST(tok.special("<|reserved_201087|>") == 201087u);
  BOOST_CHECK_THROW(tok.special("<|reserved_201088|>"), gptoss::input_error);
  BOOST_TEST(tok.token_bytes(200018) == "<|endofprompt|>");
  BOOST_TEST(tok.is_special(199998));
  BOOST_TEST(!tok.is_special(199997));
  const std::string text = "<|start|>user<|message|>hi<|end|>";
  auto ids = tok.encode(text, {"<|start|>", "<|end|>"}, Tokenizer::Disallowed::plain);
  BOOST_TEST(ids.front() == 200006u);
  BOOST_TEST(ids.back() == 200007u);
  BOOST_TEST(tok.decode(ids) == text);
  BOOST_TEST(tok.encode(text, {}, Tokenizer::Disallowed::plain) == tok.encode_ordinary(text));
  try {
    tok.encode(text, {"<|start|>"}, Tokenizer::Disallowed::error);
    BOOST_FAIL("no error");
  } catch (const gptoss::input_error& e) {
    BOOST_TEST(std::string(e.what()).find("<|message|>") != std::string::npos);
  }
  // Unknown strings in the allowed list match nothing (tiktoken's behaviour).
  BOOST_TEST(tok.encode("<|nope|><|reserved_201088|>", {"<|nope|>", "<|reserved_201088|>"}, Tokenizer::Disallowed::error) ==
             tok.encode_ordinary("<|nope|><|reserved_201088|>"));
}

BOOST_AUTO_TEST_CASE(decode_of_unknown_ids_fails) {
  const auto& tok = tiktoken_tokenizer();
  const std::vector<token_id> bad = {976, 201088};
  try {
    tok.decode(bad);
    BOOST_FAIL("no error");
  } catch (const gptoss::input_error& e) {
    BOOST_TEST(std::string(e.what()).find("201088") != std::string::npos);
  }
  BOOST_CHECK_THROW(tok.token_bytes(0xFFFFFFFFu), gptoss::input_error);
}

BOOST_AUTO_TEST_CASE(hostile_inputs) {
  const auto& tok = tiktoken_tokenizer();
  // Every byte value, long runs that form one piece, lone specials' pieces: no crash, and the
  // round trip holds wherever the input is UTF-8.
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  BOOST_TEST(!tok.encode_with_all_specials(all).empty());
  for (std::string piece : {std::string(200000, 'a'), std::string(100000, '!'), std::string(50000, ' '),
                            std::string(30000, '7'), std::string("<|") + std::string(1000, 'x')}) {
    auto ids = tok.encode_ordinary(piece);
    BOOST_TEST(tok.decode(ids) == piece);
  }
  std::string emoji;
  for (int i = 0; i < 5000; ++i) emoji += "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x92\xBB";
  BOOST_TEST(tok.decode(tok.encode_ordinary(emoji)) == emoji);
}

BOOST_AUTO_TEST_CASE(bad_vocabulary_files) {
  TempDir dir;
  const std::string good = [] {
    std::ifstream in(tiktoken_file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto load = [&](const std::string& name, const std::string& content) {
    return error_of([&] { Tokenizer::from_file(dir.write(name, content)); });
  };
  auto has = [](const std::string& message, const std::string& part) {
    BOOST_TEST_INFO("message: " << message);
    BOOST_TEST(message.find(part) != std::string::npos);
  };
  has(load("empty.tiktoken", ""), "empty");
  has(load("truncated.tiktoken", good.substr(0, good.size() / 2)), "truncated");
  has(load("cut.tiktoken", good.substr(0, good.size() - 3)), "line 199998");
  has(load("base64.tiktoken", "IQ== 0\n!!!! 1\n"), "line 2: bad base64");
  has(load("rank.tiktoken", "IQ== zero\n"), "line 1: bad rank");
  has(load("big_rank.tiktoken", "IQ== 250000\n"), "rank 250000 is outside");
  has(load("dup.tiktoken", "IQ== 0\nIg== 0\n"), "rank 0 appears twice");
  has(load("noline.tiktoken", "IQ==\n"), "expected 'base64 rank'");
  has(load("json.json", "{\"model\": {\"vocab\": {\"a\": 0,"), "malformed JSON");
  has(load("json2.json", "{\"model\": {\"vocab\": {\"a\": \"x\"}}}"), "not an id");
  has(load("json3.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}"), "not a BPE tokenizer");
  has(load("json4.json", "[1, 2]"), "no model.vocab");
  has(load("json5.json", "{\"model\": {\"vocab\": {\"a\": 0}}}"), "has 1 of the 199998");
  BOOST_CHECK_THROW(Tokenizer::from_file(dir.path / "missing.tiktoken"), gptoss::io_error);
  BOOST_REQUIRE_MESSAGE(fs::exists(json_file), json_file << " is missing");
  std::ifstream in(json_file, std::ios::binary);
  std::string json(std::istreambuf_iterator<char>(in), {});
  BOOST_REQUIRE_EQUAL(json.size(), 27868174u);  // the size tests/data/tokenizer/README.md gives
  has(load("cut.json", json.substr(0, json.size() - 100)), "malformed JSON");
}

BOOST_AUTO_TEST_CASE(default_vocabulary) {
  ::setenv("GPTOSS_VOCAB", tiktoken_file.c_str(), 1);
  BOOST_TEST(Tokenizer::load_default().encode_ordinary("hello") == tiktoken_tokenizer().encode_ordinary("hello"));
  ::setenv("GPTOSS_VOCAB", "/nonexistent/vocab.tiktoken", 1);
  BOOST_CHECK_THROW(Tokenizer::load_default(), gptoss::io_error);
  ::unsetenv("GPTOSS_VOCAB");
  // Not installed, the library looks only where an install puts the vocabulary (never into the
  // source tree's test data), and says where it looked.
  try {
    Tokenizer::load_default();
    BOOST_FAIL("a vocabulary was found outside the install paths");
  } catch (const gptoss::io_error& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("share/gptoss/o200k_base.tiktoken") != std::string::npos, what);
    BOOST_TEST(what.find("tests/data") == std::string::npos, what);
  }
}

namespace {

struct Run {
  int status;
  std::string out;
};

// Runs `gptoss ARGS` with `input` on stdin; stderr goes to err_file.
Run run_cli(const std::string& args, const std::string& input, const TempDir& dir) {
  const fs::path in = dir.write("stdin.bin", input);
  const std::string cmd = std::string("'") + GPTOSS_CLI + "' " + args + " < '" + in.string() + "' 2> '" +
                          (dir.path / "stderr.txt").string() + "'";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE(p);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

BOOST_AUTO_TEST_CASE(cli_tokenize_and_detokenize) {
  TempDir dir;
  const std::string vocab = "--vocab '" + tiktoken_file.string() + "'";
  Run r = run_cli("tokenize " + vocab, "The quick brown fox jumps over the lazy dog.", dir);
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.out == "[976, 4853, 19705, 68347, 65613, 1072, 290, 29082, 6446, 13]\n");

  const std::string bytes = std::string("a\0b\xFF\n<|end|> \xC3\xA9", 12);
  r = run_cli("tokenize " + vocab, bytes, dir);
  BOOST_TEST(r.status == 0);
  Run back = run_cli("detokenize " + vocab, r.out, dir);
  BOOST_TEST(back.status == 0);
  BOOST_TEST(back.out == tiktoken_tokenizer().decode(tiktoken_tokenizer().encode_ordinary(bytes)));

  r = run_cli("tokenize --special allow " + vocab, "<|start|>x<|end|>", dir);
  BOOST_TEST(r.out.rfind("[200006, ", 0) == 0);
  r = run_cli("tokenize --allow-special '<|end|>' " + vocab, "<|start|>x<|end|>", dir);
  BOOST_TEST(r.out.find("200006") == std::string::npos);
  BOOST_TEST(r.out.find("200007") != std::string::npos);
  r = run_cli("tokenize --special error " + vocab, "x<|end|>", dir);
  BOOST_TEST(r.status == 1);
  BOOST_TEST(r.out.empty());

  BOOST_TEST(run_cli("detokenize " + vocab, "[976, 201088]", dir).status == 1);
  BOOST_TEST(run_cli("detokenize " + vocab, "[976, ", dir).status == 1);
  BOOST_TEST(run_cli("detokenize " + vocab, "{\"a\": 1}", dir).status == 1);
  BOOST_TEST(run_cli("detokenize " + vocab, "[-1]", dir).status == 1);
  BOOST_TEST(run_cli("tokenize --special sometimes " + vocab, "x", dir).status == 2);
  BOOST_TEST(run_cli("tokenize --bogus", "x", dir).status == 2);
  BOOST_TEST(run_cli("tokenize --allow-special '<|nope|>' " + vocab, "x", dir).status == 2);
  BOOST_TEST(run_cli("tokenize --vocab /nonexistent", "x", dir).status == 1);
}
