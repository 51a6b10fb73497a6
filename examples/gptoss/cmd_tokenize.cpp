// gptoss tokenize / detokenize: text (exact bytes on stdin) <-> a JSON array of token ids.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace {

using namespace gptoss;
using text::Tokenizer;

std::string read_stdin() {
  std::string data;
  char buffer[1 << 16];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, stdin)) > 0;) data.append(buffer, n);
  if (std::ferror(stdin)) throw io_error("cannot read standard input");
  return data;
}

Tokenizer load(const cli::Args& args) {
  return args.has("vocab") ? Tokenizer::from_file(args.str("vocab")) : Tokenizer::load_default();
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int tokenize(const cli::Args& args) {
  const std::string mode = args.str("special", "plain");
  if (mode != "plain" && mode != "allow" && mode != "error")
    throw cli::usage_error("--special must be plain, allow or error, not '" + mode + "'");
  if (mode == "allow" && args.has("allow-special"))
    throw cli::usage_error("--allow-special lists the recognised tokens; it cannot be combined with --special allow");
  const Tokenizer tok = load(args);
  const std::string input = read_stdin();
  std::vector<token_id> ids;
  if (mode == "allow") {
    ids = tok.encode_with_all_specials(input);
  } else {
    const auto allowed = args.has("allow-special") ? split_commas(args.str("allow-special")) : std::vector<std::string>{};
    for (const auto& s : allowed) {
      try {
        tok.special(s);
      } catch (const input_error&) {
        throw cli::usage_error("--allow-special: '" + s + "' is not a special token");
      }
    }
    ids = tok.encode(input, allowed, mode == "error" ? Tokenizer::Disallowed::error : Tokenizer::Disallowed::plain);
  }
  fmt::print("[{}]\n", fmt::join(ids, ", "));
  return 0;
}

int detokenize(const cli::Args& args) {
  const Tokenizer tok = load(args);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(read_stdin());
  } catch (const nlohmann::json::parse_error& e) {
    throw input_error(std::string("standard input is not JSON: ") + e.what());
  }
  if (!json.is_array()) throw input_error("standard input must be a JSON array of token ids");
  std::vector<token_id> ids;
  for (const auto& v : json) {
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 0xFFFFFFFFu)
      throw input_error("not a token id: " + v.dump());
    ids.push_back(v.get<token_id>());
  }
  const std::string bytes = tok.decode(ids);
  std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  return 0;
}

const cli::Opt vocab_option{"--vocab",
                             "tokenizer.json or o200k_base.tiktoken (default: $GPTOSS_VOCAB, then the installed o200k_base.tiktoken)",
                             "FILE"};

const cli::Register tokenize_command({
    .name = "tokenize",
    .summary = "print the token ids of standard input as a JSON array",
    .usage = "gptoss tokenize [--vocab FILE] [--special plain|allow|error] [--allow-special TOKEN,...] < text",
    .options = {vocab_option,
                {"--special", "special-token text such as <|start|> is: plain = ordinary text (default), "
                              "allow = the special token, error = an error (exit 1)", "MODE"},
                {"--allow-special", "recognise only these special tokens; other special text follows --special", "LIST"}},
    .run = tokenize,
    .details = "Reads standard input as exact bytes and prints its token ids, e.g. [976, 4853].",
});

const cli::Register detokenize_command({
    .name = "detokenize",
    .summary = "write the bytes of a JSON array of token ids",
    .usage = "gptoss detokenize [--vocab FILE] < ids.json",
    .options = {vocab_option},
    .run = detokenize,
    .details = "Reads a JSON array of token ids on standard input and writes exactly their bytes (no newline).",
});

}  // namespace
