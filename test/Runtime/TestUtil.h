// Helpers shared by the runtime tests.
#ifndef TACRT_TEST_TESTUTIL_H
#define TACRT_TEST_TESTUTIL_H

#include "TestModels.h"
#include "tacrt/tacrt.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace tacrt_test {

/// Removes every file tempPath handed out once all tests have run.
class TempFiles : public ::testing::Environment {
public:
  static std::vector<std::string> &paths() {
    static std::vector<std::string> all;
    return all;
  }
  void TearDown() override {
    for (const std::string &path : paths())
      unlink(path.c_str());
  }
};

/// A fresh path under the test temp dir (unique per call and process).
inline std::string tempPath(const std::string &name) {
  static int counter = 0;
  static bool registered =
      (::testing::AddGlobalTestEnvironment(new TempFiles), true);
  (void)registered;
  std::string path = ::testing::TempDir() + "tacrt-" +
                     std::to_string(getpid()) + "-" +
                     std::to_string(counter++) + "-" + name;
  TempFiles::paths().push_back(path);
  return path;
}

/// Serialises `model` to a temp file and returns its path.
inline std::string writeModel(const tac::format::ModelDesc &model) {
  std::string path = tempPath("model.tacm");
  writeFile(path, tac::format::serializeTacm(model));
  return path;
}

inline tac::rt::ModelRef loadOrDie(const tac::format::ModelDesc &desc) {
  auto model = tac::rt::Model::load(writeModel(desc));
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

/// The message of a load that must fail.
inline std::string loadError(const std::string &path) {
  auto model = tac::rt::Model::load(path);
  EXPECT_FALSE(model.ok()) << "loading '" << path << "' succeeded";
  return model.ok() ? std::string() : model.status().message();
}

inline std::string loadError(const tac::format::ModelDesc &desc) {
  return loadError(writeModel(desc));
}

/// The message of a CPU session that must fail on a model that loads: the
/// CPU code object is mapped by the first CPU session, not at load.
inline std::string cpuSessionError(const tac::format::ModelDesc &desc) {
  tac::rt::ModelRef model = loadOrDie(desc);
  if (!model)
    return std::string();
  auto session = tac::rt::Session::create(model);
  EXPECT_FALSE(session.ok()) << "a CPU session was created";
  return session.ok() ? std::string() : session.status().message();
}

} // namespace tacrt_test

#endif
