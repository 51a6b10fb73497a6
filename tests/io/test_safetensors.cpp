// safetensors parsing: well-formed files read back exactly; every kind of malformed header is
// rejected with a format_error naming the file and what is wrong.
#define BOOST_TEST_MODULE io
#include <boost/test/unit_test.hpp>

#include "common/temp_dir.hpp"
#include "gptoss/tools/npy.hpp"
#include "gptoss/io/safetensors.hpp"
#include "gptoss/io/safetensors_writer.hpp"

using namespace gptoss;
using test::safetensors_bytes;

namespace {

// Parses `bytes` as a safetensors file and returns the error message ("" if it parsed).
std::string parse_error(const std::string& bytes) {
  test::TempDir dir;
  test::write_file(dir / "x.safetensors", bytes);
  try {
    io::SafetensorsFile f(dir / "x.safetensors");
    return "";
  } catch (const format_error& e) {
    return e.what();
  }
}

void expect_error(const std::string& bytes, const std::string& fragment) {
  const std::string msg = parse_error(bytes);
  BOOST_TEST(!msg.empty(), "accepted a file that should fail with: " << fragment);
  BOOST_TEST(msg.find(fragment) != std::string::npos, "message '" << msg << "' lacks '" << fragment << "'");
  BOOST_TEST(msg.find("x.safetensors") != std::string::npos, "message '" << msg << "' does not name the file");
}

}  // namespace

BOOST_AUTO_TEST_CASE(reads_a_wellformed_file) {
  test::TempDir dir;
  const std::string header = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";
  test::write_file(dir / "x.safetensors", safetensors_bytes(header, std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b", 11)));
  io::SafetensorsFile f(dir / "x.safetensors");
  BOOST_TEST(f.tensors().size() == 2u);
  BOOST_TEST(f.metadata().at("format") == "pt");
  const auto* b = f.find("b");
  BOOST_REQUIRE(b);
  BOOST_TEST(b->shape == std::vector<std::int64_t>{3}, boost::test_tools::per_element());
  auto bytes = f.bytes(*b);
  BOOST_TEST(bytes.size() == 3u);
  BOOST_TEST(std::to_integer<int>(bytes[0]) == 9);
  BOOST_TEST(f.find("missing") == nullptr);
}

BOOST_AUTO_TEST_CASE(rejects_malformed_headers) {
  expect_error("", "truncated");
  expect_error("1234567", "truncated");
  expect_error(safetensors_bytes("{}", "", 1000), "truncated");
  expect_error(safetensors_bytes("{}", "", 1ull << 40), "exceeds the limit");
  expect_error(safetensors_bytes("{not json", ""), "not valid JSON");
  expect_error(safetensors_bytes("[1,2]", ""), "not a JSON object");
  expect_error(safetensors_bytes(R"({"a":5})", ""), "not an object");
  expect_error(safetensors_bytes(R"({"a":{"shape":[1],"data_offsets":[0,1]}})", "x"), "missing field 'dtype'");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}})", "x"), "unknown dtype");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "x"), "non-negative integer");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", "x"), "non-negative integer");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})", "x"), "shape");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[1099511627776,1099511627776],"data_offsets":[0,1]}})", "x"), "too large");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}})", "x"), "begin after");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", "x"), "data_offsets");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "xy"), "truncated");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,4]}})", "xyzw"), "needs 8");
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "xyz"), "overlap");
  expect_error(safetensors_bytes(R"({"__metadata__":{"k":1}})", ""), "not a string");
  // Offsets that would overflow 64-bit arithmetic.
  expect_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,18446744073709551615]}})", "x"), "truncated");
}

BOOST_AUTO_TEST_CASE(missing_file_is_an_io_error) {
  BOOST_CHECK_THROW(io::SafetensorsFile("/nonexistent/x.safetensors"), io_error);
  test::TempDir dir;
  BOOST_CHECK_THROW(io::SafetensorsFile(dir.path()), io_error);  // a folder
}

BOOST_AUTO_TEST_CASE(writer_output_reads_back) {
  test::TempDir dir;
  std::vector<io::TensorSpec> specs{{"w", io::DType::U8, {3, 5}}, {"v", io::DType::F32, {2}}};
  io::write_safetensors(dir / "w.safetensors", specs, [](std::size_t i, std::uint64_t off, std::span<std::byte> out) {
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = std::byte(i * 100 + off + k);
  });
  io::SafetensorsFile f(dir / "w.safetensors");
  BOOST_TEST(f.find("w")->shape == (std::vector<std::int64_t>{3, 5}), boost::test_tools::per_element());
  BOOST_TEST(std::to_integer<int>(f.bytes(*f.find("w"))[14]) == 14);
  BOOST_TEST(std::to_integer<int>(f.bytes(*f.find("v"))[7]) == 107);
}

BOOST_AUTO_TEST_CASE(npy_header_is_numpy_format_1) {
  test::TempDir dir;
  std::vector<float> v{1.0f, -2.5f, 3.0f, 4.0f, 5.0f, 6.0f};
  tools::write_npy(dir / "a.npy", v, {2, 3});
  const std::string bytes = test::read_file(dir / "a.npy");
  BOOST_TEST(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_len = std::uint8_t(bytes[8]) | (std::uint8_t(bytes[9]) << 8);
  BOOST_TEST((10 + header_len) % 64 == 0u);
  const std::string header = bytes.substr(10, header_len);
  BOOST_TEST(header.find("'descr': '<f4'") != std::string::npos);
  BOOST_TEST(header.find("'shape': (2,3)") != std::string::npos);
  BOOST_TEST(bytes.size() == 10 + header_len + 24);
  float second;
  std::memcpy(&second, bytes.data() + 10 + header_len + 4, 4);
  BOOST_TEST(second == -2.5f);
}
