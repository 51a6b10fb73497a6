// Tokenizer throughput and vocabulary load time.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "gptoss/text/pretokenize.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace fs = std::filesystem;
using gptoss::text::Tokenizer;

namespace {

const fs::path data_dir = fs::path(GPTOSS_TEST_DATA) / "tokenizer";
const fs::path repo_dir = fs::path(GPTOSS_TEST_DATA).parent_path().parent_path();

fs::path tokenizer_json() {
  if (const char* env = std::getenv("GPTOSS_TOKENIZER_JSON"); env && *env) return env;
  return repo_dir.parent_path() / "shared/tokenizer/tokenizer.json";
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Half the golden cases' inputs (prose in many scripts, emoji, digits, fuzz, code; repeated to
// match) and half the repository's source and docs, repeated to at least 12 MB.
const std::string& corpus() {
  static const std::string text = [] {
    std::string cases_text, code;
    std::ifstream cases(data_dir / "cases.jsonl");
    for (std::string line; std::getline(cases, line);) {
      auto c = nlohmann::json::parse(line);
      if (!c.contains("input_hex")) continue;
      const std::string hex = c["input_hex"];
      for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        cases_text += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
      cases_text += "\n";
    }
    for (const char* dir : {"include", "examples", "tests", "tools", "docs", "bench"}) {
      if (!fs::exists(repo_dir / dir)) continue;
      for (const auto& e : fs::recursive_directory_iterator(repo_dir / dir)) {
        const auto ext = e.path().extension();
        if (e.is_regular_file() && (ext == ".hpp" || ext == ".cpp" || ext == ".py" || ext == ".md" || ext == ".txt"))
          code += read(e.path());
      }
    }
    std::string base;
    while (base.size() < code.size()) base += cases_text;
    base += code;
    std::string out;
    while (out.size() < (12u << 20)) out += base;
    return out;
  }();
  return text;
}

const Tokenizer& tokenizer() {
  static const Tokenizer t = Tokenizer::from_file(data_dir / "o200k_base.tiktoken");
  return t;
}

void BM_encode_ordinary(benchmark::State& state) {
  const auto& tok = tokenizer();
  const auto& text = corpus();
  std::size_t n_ids = 0;
  for (auto _ : state) {
    auto ids = tok.encode_ordinary(text);
    n_ids = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["corpus_MB"] = static_cast<double>(text.size()) / 1e6;
  state.counters["bytes_per_token"] = static_cast<double>(text.size()) / static_cast<double>(n_ids);
  const auto non_ascii = std::count_if(text.begin(), text.end(), [](char c) { return c & 0x80; });
  state.counters["non_ascii_share"] = static_cast<double>(non_ascii) / static_cast<double>(text.size());
}
BENCHMARK(BM_encode_ordinary)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_encode_with_all_specials(benchmark::State& state) {
  const auto& tok = tokenizer();
  const auto& text = corpus();
  for (auto _ : state) benchmark::DoNotOptimize(tok.encode_with_all_specials(text).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_encode_with_all_specials)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The pre-tokenizer alone: the part of encoding that is not BPE.
void BM_pretokenize(benchmark::State& state) {
  const auto& text = corpus();
  tokenizer();
  for (auto _ : state) {
    std::size_t n = 0;
    gptoss::text::for_each_piece(text, [&](std::string_view) { ++n; });
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_pretokenize)->Unit(benchmark::kMillisecond);

void BM_decode(benchmark::State& state) {
  const auto& tok = tokenizer();
  const auto ids = tok.encode_ordinary(corpus());
  for (auto _ : state) benchmark::DoNotOptimize(tok.decode(ids).data());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * corpus().size()));
}
BENCHMARK(BM_decode)->Unit(benchmark::kMillisecond);

void BM_load_tiktoken(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Tokenizer::from_file(data_dir / "o200k_base.tiktoken"));
}
BENCHMARK(BM_load_tiktoken)->Unit(benchmark::kMillisecond);

void BM_load_tokenizer_json(benchmark::State& state) {
  if (!fs::exists(tokenizer_json())) {
    state.SkipWithError(("no " + tokenizer_json().string() + " (set GPTOSS_TOKENIZER_JSON)").c_str());
    for (auto _ : state) {
    }
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(Tokenizer::from_file(tokenizer_json()));
}
BENCHMARK(BM_load_tokenizer_json)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
