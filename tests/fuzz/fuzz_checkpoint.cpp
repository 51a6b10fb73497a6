// A whole checkpoint folder from one input: config.json, a NUL, then (when the rest starts with
// '{') a model.safetensors.index.json and another NUL, then the safetensors file. Opening it,
// viewing the weights for the config (either layout), scanning them for NaN/Inf and running a
// short prompt must fail with gptoss::error or work. A model that works gives one row of
// vocab_size logits per token, advances its sequence by the prompt, and computes the same function
// each time: a second sequence given the same prompt gets bit-identical logits (so no result
// depends on memory left over from the first call). The values themselves are not judged:
// arbitrary finite weights may overflow float32 legitimately.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz.hpp"
#include "gptoss/model/check.hpp"
#include "gptoss/model/transformer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gptoss;
  namespace fs = std::filesystem;
  std::string_view in = fuzz::as_text(data, size);
  const std::size_t nul = in.find('\0');
  if (nul == std::string_view::npos) return 0;
  const fs::path dir = fuzz::scratch_dir() / "checkpoint";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  fuzz::write_file(dir / "config.json", in.substr(0, nul));
  std::string_view rest = in.substr(nul + 1);
  std::string shard = "model.safetensors";
  if (rest.starts_with('{')) {
    const std::size_t end = rest.find('\0');
    if (end == std::string_view::npos) return 0;
    fuzz::write_file(dir / "model.safetensors.index.json", rest.substr(0, end));
    rest = rest.substr(end + 1);
    shard = "model-00001-of-00001.safetensors";
  }
  fuzz::write_file(dir / shard, rest);

  try {
    Transformer<> model(io::Checkpoint::open(dir), HostOptions{.threads = 1});
    const ModelConfig& c = model.config();
    try {
      check_weights_finite(model.checkpoint(), c);
    } catch (const format_error&) {
      // NaN/Inf weights still have to run without crashing.
    }
    const std::vector<token_id> prompt{0, token_id(c.vocab_size - 1), token_id(c.vocab_size / 2)};
    auto seq = model.new_sequence(std::min<std::int64_t>(4, c.max_context()));
    auto logits = model.prefill(seq, prompt, Logits::all);
    FUZZ_CHECK(logits.size() == prompt.size() * std::size_t(c.vocab_size));
    FUZZ_CHECK(seq.length() == std::int64_t(prompt.size()));
    auto again = model.new_sequence(seq.capacity());
    const auto repeat = model.prefill(again, prompt, Logits::all);
    FUZZ_CHECK(repeat.size() == logits.size());
    FUZZ_CHECK(std::memcmp(repeat.data(), logits.data(), logits.size() * sizeof(float)) == 0);
  } catch (const gptoss::error&) {
  }
  return 0;
}
