// The safetensors reader on arbitrary bytes: it rejects them with gptoss::error (anything else
// escaping is a crash) or accepts them, and then every tensor's byte range lies inside the file
// and holds exactly its dtype and shape.
#include <cstdint>

#include "fuzz.hpp"
#include "gptoss/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gptoss;
  const auto path = fuzz::write_file(fuzz::scratch_dir() / "model.safetensors", fuzz::as_text(data, size));
  try {
    io::SafetensorsFile file(path);
    std::uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = header << 8 | data[i];
    for (const auto& [name, t] : file.tensors()) {
      const auto bytes = file.bytes(t);
      FUZZ_CHECK(8 + header + t.end <= size);
      FUZZ_CHECK(bytes.size() == std::uint64_t(t.elements()) * io::dtype_info(t.dtype).bytes);
    }
  } catch (const gptoss::error&) {
  }
  return 0;
}
