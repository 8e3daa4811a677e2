// Model folder layout: single file, index.json shards, all-*.safetensors shards, pickled weights
// refused, duplicate and misplaced tensors rejected; gzip text reading checked against the gzip
// trailer's own length field.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "io/model_files.h"
#include "io/safetensors_writer.h"
#include "io/text_file.h"
#include "temp_dir.h"

namespace nibble {
namespace {

void write_tensor_file(const test::TempDir& dir, const std::string& name, const std::vector<std::string>& tensors) {
  static const float v[2] = {1.0f, 2.0f};
  std::vector<TensorToWrite> ts;
  for (const auto& t : tensors) ts.push_back({t, DType::f32, {2}, {reinterpret_cast<const std::uint8_t*>(v), 8}});
  ASSERT_TRUE(write_safetensors(dir.file(name), ts).ok());
}

TEST(ModelFiles, SingleFile) {
  test::TempDir dir;
  dir.write("config.json", "{}");
  write_tensor_file(dir, "model.safetensors", {"a", "b"});
  auto files = locate_model_files(dir.path());
  ASSERT_TRUE(files) << files.error().to_string();
  ASSERT_EQ(files->weight_files.size(), 1u);
  auto set = TensorSet::open(*files);
  ASSERT_TRUE(set) << set.error().to_string();
  EXPECT_NE(set->find("b"), nullptr);
  EXPECT_EQ(set->all().size(), 2u);
}

TEST(ModelFiles, IndexedShards) {
  test::TempDir dir;
  dir.write("config.json", "{}");
  write_tensor_file(dir, "model-00001-of-00002.safetensors", {"a"});
  write_tensor_file(dir, "model-00002-of-00002.safetensors", {"b"});
  write_tensor_file(dir, "stray.safetensors", {"c"});  // not in the index: ignored
  dir.write("model.safetensors.index.json",
            R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
  auto files = locate_model_files(dir.path());
  ASSERT_TRUE(files) << files.error().to_string();
  EXPECT_EQ(files->weight_files.size(), 2u);
  auto set = TensorSet::open(*files);
  ASSERT_TRUE(set) << set.error().to_string();
  EXPECT_NE(set->find("a"), nullptr);
  EXPECT_NE(set->find("b"), nullptr);
  EXPECT_EQ(set->find("c"), nullptr);
}

TEST(ModelFiles, IndexErrors) {
  test::TempDir dir;
  dir.write("config.json", "{}");
  write_tensor_file(dir, "one.safetensors", {"a"});
  dir.write("model.safetensors.index.json", R"({"weight_map":{"a":"two.safetensors"}})");
  auto missing = locate_model_files(dir.path());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
  EXPECT_NE(missing.error().message.find("two.safetensors"), std::string::npos);

  dir.write("model.safetensors.index.json", R"({"weight_map":{"a":"../one.safetensors"}})");
  auto escape = locate_model_files(dir.path());
  ASSERT_FALSE(escape);
  EXPECT_EQ(escape.error().kind, ErrorKind::format);

  write_tensor_file(dir, "two.safetensors", {"b"});
  dir.write("model.safetensors.index.json", R"({"weight_map":{"a":"two.safetensors","b":"two.safetensors"}})");
  auto files = locate_model_files(dir.path());
  ASSERT_TRUE(files) << files.error().to_string();
  auto set = TensorSet::open(*files);
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().kind, ErrorKind::format);
  EXPECT_NE(set.error().message.find("'a'"), std::string::npos) << set.error().message;
}

TEST(ModelFiles, DuplicateTensorAcrossShards) {
  test::TempDir dir;
  dir.write("config.json", "{}");
  write_tensor_file(dir, "x-1.safetensors", {"a", "b"});
  write_tensor_file(dir, "x-2.safetensors", {"b"});
  auto files = locate_model_files(dir.path());
  ASSERT_TRUE(files);
  auto set = TensorSet::open(*files);
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().kind, ErrorKind::format);
  EXPECT_NE(set.error().message.find("'b'"), std::string::npos) << set.error().message;
}

TEST(ModelFiles, PickledWeightsAreRefused) {
  test::TempDir dir;
  dir.write("config.json", "{}");
  dir.write("pytorch_model.bin", "PK\x03\x04");
  auto r = locate_model_files(dir.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::unsupported);
  EXPECT_NE(r.error().message.find("pytorch_model.bin"), std::string::npos);
  EXPECT_NE(r.error().message.find("pickle"), std::string::npos);
}

TEST(ModelFiles, MissingConfigOrWeights) {
  test::TempDir dir;
  auto no_config = locate_model_files(dir.path());
  ASSERT_FALSE(no_config);
  EXPECT_EQ(no_config.error().kind, ErrorKind::not_found);
  dir.write("config.json", "{}");
  auto no_weights = locate_model_files(dir.path());
  ASSERT_FALSE(no_weights);
  EXPECT_EQ(no_weights.error().kind, ErrorKind::not_found);
  EXPECT_FALSE(locate_model_files(dir.file("nothing-here")));
}

TEST(TextFile, GunzipsToTheLengthInTheGzipTrailer) {
  const std::string path = std::string(NIBBLE_TEST_DATA_DIR) + "/corpus/heldout_raw.txt.gz";
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  ASSERT_TRUE(in);
  const auto size = static_cast<std::streamoff>(in.tellg());
  in.seekg(size - 4);
  std::uint32_t isize = 0;
  in.read(reinterpret_cast<char*>(&isize), 4);
  auto text = read_text_file(path);
  if (!text && text.error().kind == ErrorKind::unsupported) GTEST_SKIP() << text.error().message;
  ASSERT_TRUE(text) << text.error().to_string();
  EXPECT_EQ(static_cast<std::uint32_t>(text->size()), isize);
  EXPECT_GT(text->size(), 100000u);
}

TEST(TextFile, PlainAndMissing) {
  test::TempDir dir;
  dir.write("a.txt", "hello\n");
  auto t = read_text_file(dir.file("a.txt"));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "hello\n");
  dir.write("b.gz", std::string("\x1f\x8b\x08\x00garbage", 11));
  EXPECT_FALSE(read_text_file(dir.file("b.gz")));
  auto missing = read_text_file(dir.file("none.txt"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::io);
}

}  // namespace
}  // namespace nibble
