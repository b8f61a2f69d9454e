// tacrt-make-test-models DIR: creates DIR and writes the test models (adaptive.tacm,
// static.tacm) for the command-line tests of tac-run and the C example.
#include "TestModels.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "tacrt-make-test-models: error: cannot create '%s': %s\n",
                 dir.c_str(), std::strerror(errno));
    return 1;
  }
  std::string error;
  if (!tac::format::writeTacm(tacrt_test::adaptiveModel(),
                              dir + "/adaptive.tacm", &error) ||
      !tac::format::writeTacm(tacrt_test::staticModel(), dir + "/static.tacm",
                              &error)) {
    std::fprintf(stderr, "tacrt-make-test-models: error: %s\n", error.c_str());
    return 1;
  }
  return 0;
}
