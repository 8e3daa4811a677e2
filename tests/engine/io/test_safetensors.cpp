// safetensors reader and writer: a round trip through every dtype Nibble reads, and each kind of
// malformed file (truncated, header past the end, overlapping or out-of-range offsets, size not
// matching shape x dtype, unsupported dtype, bad JSON) rejected with a typed error naming the
// file and the tensor.
#include <gtest/gtest.h>

#include <cstring>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "temp_dir.h"

namespace nibble {
namespace {

std::vector<std::uint8_t> file_from(const std::string& header, std::size_t data_bytes) {
  std::vector<std::uint8_t> out(8 + header.size() + data_bytes, 0);
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

Error parse_error(const std::vector<std::uint8_t>& bytes) {
  auto r = parse_safetensors(bytes, "bad.safetensors");
  EXPECT_FALSE(r.ok());
  return r ? Error{} : r.error();
}

void expect_names(const Error& e, ErrorKind kind, const std::string& tensor) {
  EXPECT_EQ(e.kind, kind) << e.to_string();
  EXPECT_NE(e.message.find("bad.safetensors"), std::string::npos) << e.message;
  if (!tensor.empty()) {
    EXPECT_NE(e.message.find("'" + tensor + "'"), std::string::npos) << e.message;
  }
}

TEST(Safetensors, RoundTripsEveryDtype) {
  const float f32[3] = {1.5f, -2.0f, 3.25f};
  const std::uint16_t f16[2] = {0x3c00, 0xc000};     // 1, -2
  const std::uint16_t bf16[2] = {0x3f80, 0x4040};    // 1, 3
  const std::int32_t i32[2] = {-7, 1 << 30};
  const std::int16_t i16[4] = {-1, 2, -3, 4};
  const std::int8_t i8[3] = {-128, 0, 127};
  const std::uint8_t u8[1] = {255};
  std::vector<TensorToWrite> ts = {
      {"a.f32", DType::f32, {3}, {reinterpret_cast<const std::uint8_t*>(f32), sizeof f32}},
      {"b.f16", DType::f16, {1, 2}, {reinterpret_cast<const std::uint8_t*>(f16), sizeof f16}},
      {"c.bf16", DType::bf16, {2}, {reinterpret_cast<const std::uint8_t*>(bf16), sizeof bf16}},
      {"d.i32", DType::i32, {2}, {reinterpret_cast<const std::uint8_t*>(i32), sizeof i32}},
      {"e.i16", DType::i16, {2, 2}, {reinterpret_cast<const std::uint8_t*>(i16), sizeof i16}},
      {"f.i8", DType::i8, {3}, {reinterpret_cast<const std::uint8_t*>(i8), sizeof i8}},
      {"g.u8", DType::u8, {1}, {u8, sizeof u8}},
      {"h.empty", DType::f32, {0, 4}, {}},
  };
  auto bytes = serialize_safetensors(ts, {{"format", "pt"}});
  ASSERT_TRUE(bytes) << bytes.error().to_string();
  auto c = parse_safetensors(*bytes, "mem");
  ASSERT_TRUE(c) << c.error().to_string();
  ASSERT_EQ(c->tensors.size(), ts.size());
  EXPECT_EQ(c->metadata.at("format"), "pt");
  auto find = [&](const std::string& n) -> const TensorView& {
    for (const auto& t : c->tensors)
      if (t.name == n) return t;
    throw std::runtime_error("missing " + n);
  };
  EXPECT_EQ(find("a.f32").f(2), 3.25f);
  EXPECT_EQ(find("b.f16").f(1), -2.0f);
  EXPECT_EQ(find("b.f16").shape, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(find("c.bf16").f(1), 3.0f);
  EXPECT_EQ(find("d.i32").i32(1), 1 << 30);
  EXPECT_EQ(find("e.i16").i16(2), -3);
  EXPECT_EQ(static_cast<std::int8_t>(find("f.i8").data[0]), -128);
  EXPECT_EQ(find("g.u8").data[0], 255);
  EXPECT_EQ(find("h.empty").nbytes, 0u);
  // Header padded to 8 and every tensor aligned to its element size.
  std::uint64_t n;
  std::memcpy(&n, bytes->data(), 8);
  EXPECT_EQ(n % 8, 0u);
  for (const auto& t : c->tensors) {
    if (t.nbytes) {
      EXPECT_EQ(static_cast<std::size_t>(t.data - bytes->data()) % dtype_size(t.dtype), 0u) << t.name;
    }
  }
}

TEST(Safetensors, WritesAndMapsAFile) {
  test::TempDir dir;
  const float v[4] = {1, 2, 3, 4};
  ASSERT_TRUE(write_safetensors(dir.file("x.safetensors"), {{"w", DType::f32, {2, 2}, {reinterpret_cast<const std::uint8_t*>(v), 16}}}).ok());
  auto f = SafetensorsFile::open(dir.file("x.safetensors"));
  ASSERT_TRUE(f) << f.error().to_string();
  ASSERT_NE(f->find("w"), nullptr);
  EXPECT_EQ(f->find("w")->f(3), 4.0f);
  EXPECT_EQ(f->find("nope"), nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.safetensors.partial")));
}

TEST(Safetensors, WriterRejectsSizeMismatch) {
  const float v[3] = {};
  auto r = serialize_safetensors({{"w", DType::f32, {2, 2}, {reinterpret_cast<const std::uint8_t*>(v), 12}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
}

TEST(Safetensors, ReadsTheDemoModel) {
  auto f = SafetensorsFile::open(std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m/model.safetensors");
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ(f->tensors().size(), 3u + 8u * 9u);
  const TensorView* e = f->find("model.embed_tokens.weight");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dtype, DType::f16);
  EXPECT_EQ(e->shape, (std::vector<std::int64_t>{4096, 384}));
}

TEST(Safetensors, TruncatedFile) {
  auto bytes = file_from(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16);
  bytes.resize(bytes.size() - 1);
  const Error e = parse_error(bytes);
  expect_names(e, ErrorKind::format, "w");
  EXPECT_NE(e.message.find("truncated"), std::string::npos) << e.message;
}

TEST(Safetensors, HeaderLengthPastTheFile) {
  auto bytes = file_from(R"({})", 0);
  const std::uint64_t n = 1000;
  std::memcpy(bytes.data(), &n, 8);
  expect_names(parse_error(bytes), ErrorKind::format, "");
  const std::uint64_t huge = std::uint64_t{1} << 40;
  std::memcpy(bytes.data(), &huge, 8);
  expect_names(parse_error(bytes), ErrorKind::format, "");
  expect_names(parse_error(std::vector<std::uint8_t>(5, 0)), ErrorKind::format, "");
}

TEST(Safetensors, OverlappingOffsets) {
  auto bytes = file_from(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16);
  const Error e = parse_error(bytes);
  expect_names(e, ErrorKind::format, "a");
  EXPECT_NE(e.message.find("overlap"), std::string::npos) << e.message;
}

TEST(Safetensors, SizeMustMatchShapeTimesDtype) {
  auto bytes = file_from(R"({"w":{"dtype":"F16","shape":[3,3],"data_offsets":[0,16]}})", 16);
  expect_names(parse_error(bytes), ErrorKind::format, "w");
}

TEST(Safetensors, UnsupportedAndUnknownDtypes) {
  expect_names(parse_error(file_from(R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", 16)),
               ErrorKind::unsupported, "w");
  expect_names(parse_error(file_from(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,16]}})", 16)),
               ErrorKind::format, "w");
}

TEST(Safetensors, MalformedHeaders) {
  for (const char* h : {"{not json", "[1,2]", R"({"w":5})", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})",
                        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})",
                        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
                        R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
                        R"({"__metadata__":{"k":1}})"}) {
    auto r = parse_safetensors(file_from(h, 16), "bad.safetensors");
    ASSERT_FALSE(r) << h;
    EXPECT_EQ(r.error().kind, ErrorKind::format) << h;
  }
}

}  // namespace
}  // namespace nibble
