// nibble-cli dispatch: --version, --help, unknown commands and usage errors, run in-process.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "nibble/version.h"

namespace nibble::cli {
namespace {

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  args.insert(args.begin(), "nibble-cli");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  int code = run_cli(static_cast<int>(argv.size()), argv.data(), {out, err});
  return {code, out.str(), err.str()};
}

TEST(CliDispatch, Version) {
  auto r = run({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, std::string("nibble-cli ") + NIBBLE_VERSION_STRING + "\n");
}

TEST(CliDispatch, HelpListsEveryCommand) {
  auto r = run({"--help"});
  EXPECT_EQ(r.code, 0);
  for (auto c = commands_begin(); c != commands_end(); ++c)
    EXPECT_NE(r.out.find(std::string(c->name)), std::string::npos) << c->name;
}

TEST(CliDispatch, UnknownCommandIsAUsageError) {
  auto r = run({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
}

TEST(CliDispatch, NoCommandPrintsUsage) {
  auto r = run({});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("Usage:"), std::string::npos);
}

TEST(CliServe, NonLoopbackWithoutKeyIsRefused) {
  auto r = run({"serve", "--model", "/nonexistent", "--host", "0.0.0.0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("refusing to listen on 0.0.0.0 without --api-key"), std::string::npos) << r.err;
}

TEST(CliServe, UsageErrors) {
  EXPECT_EQ(run({"serve"}).code, 2);
  EXPECT_EQ(run({"serve", "--model", "/m", "--port", "70000"}).code, 2);
  EXPECT_EQ(run({"serve", "--model", "/m", "--max-body", "10"}).code, 2);
  EXPECT_EQ(run({"serve", "--model", "/m", "--bogus"}).code, 2);
  auto missing = run({"serve", "--model", "/nonexistent/model"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("/nonexistent/model"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace nibble::cli
