// Loading a code object: which CPU features the machine has, and dlopen of a
// shared object that lives in memory rather than in its own file.
#include "ModelImpl.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif
#include <unistd.h>

namespace tac::rt {

const char *hostArch() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

std::optional<bool> cpuSupports(const std::string &feature) {
#if defined(__x86_64__)
  // __builtin_cpu_supports only takes string literals, hence the table.
#define TACRT_FEATURE(name)                                                    \
  if (feature == name)                                                         \
    return __builtin_cpu_supports(name) != 0;
  TACRT_FEATURE("cmov") TACRT_FEATURE("mmx") TACRT_FEATURE("popcnt")
  TACRT_FEATURE("sse") TACRT_FEATURE("sse2") TACRT_FEATURE("sse3")
  TACRT_FEATURE("ssse3") TACRT_FEATURE("sse4.1") TACRT_FEATURE("sse4.2")
  TACRT_FEATURE("sse4a") TACRT_FEATURE("avx") TACRT_FEATURE("avx2")
  TACRT_FEATURE("fma") TACRT_FEATURE("fma4") TACRT_FEATURE("xop")
  TACRT_FEATURE("f16c") TACRT_FEATURE("bmi") TACRT_FEATURE("bmi2")
  TACRT_FEATURE("movbe") TACRT_FEATURE("lzcnt") TACRT_FEATURE("aes")
  TACRT_FEATURE("pclmul") TACRT_FEATURE("sha") TACRT_FEATURE("gfni")
  TACRT_FEATURE("vpclmulqdq") TACRT_FEATURE("avxvnni")
  TACRT_FEATURE("avx512f") TACRT_FEATURE("avx512vl")
  TACRT_FEATURE("avx512bw") TACRT_FEATURE("avx512dq")
  TACRT_FEATURE("avx512cd") TACRT_FEATURE("avx512vbmi")
  TACRT_FEATURE("avx512vbmi2") TACRT_FEATURE("avx512ifma")
  TACRT_FEATURE("avx512vpopcntdq") TACRT_FEATURE("avx512vnni")
  TACRT_FEATURE("avx512bitalg") TACRT_FEATURE("avx512bf16")
  TACRT_FEATURE("avx512fp16") TACRT_FEATURE("amx-tile")
  TACRT_FEATURE("x86-64") TACRT_FEATURE("x86-64-v2")
  TACRT_FEATURE("x86-64-v3") TACRT_FEATURE("x86-64-v4")
#undef TACRT_FEATURE
#elif defined(__aarch64__)
  // The kernel's hardware capabilities, by LLVM's feature names (what
  // tac-compile records for --cpu=aarch64...). NEON is in the base
  // architecture.
  if (feature == "neon" || feature == "fp-armv8")
    return true;
  struct Capability {
    const char *name;
    unsigned long word; // AT_HWCAP or AT_HWCAP2
    unsigned long bit;
  };
  static const Capability capabilities[] = {
      {"fullfp16", AT_HWCAP, HWCAP_ASIMDHP}, {"dotprod", AT_HWCAP, HWCAP_ASIMDDP},
      {"sve", AT_HWCAP, HWCAP_SVE},          {"sve2", AT_HWCAP2, HWCAP2_SVE2},
      {"i8mm", AT_HWCAP2, HWCAP2_I8MM},      {"bf16", AT_HWCAP2, HWCAP2_BF16}};
  for (const Capability &capability : capabilities)
    if (feature == capability.name)
      return (getauxval(capability.word) & capability.bit) != 0;
#endif
  (void)feature;
  return std::nullopt;
}

NativeCode::~NativeCode() {
  if (handle)
    dlclose(handle);
  // Closed only after dlclose: glibc matches dlopen paths by name, so a
  // /proc/self/fd/N path must not be reused while the object is loaded.
  if (fd >= 0)
    close(fd);
}

namespace {
bool writeAll(int fd, const uint8_t *bytes, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, bytes, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    bytes += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string dlerrorString() {
  const char *message = dlerror();
  return message ? message : "unknown dlopen error";
}
} // namespace

Status loadNativeCode(const uint8_t *bytes, size_t size,
                      const std::string &what, NativeCode &code) {
  // memfd: the object never touches the file system.
  int fd = memfd_create("tacm-code", MFD_CLOEXEC);
  if (fd >= 0) {
    if (!writeAll(fd, bytes, size)) {
      int err = errno;
      close(fd);
      return Status::error(ErrorCode::OutOfMemory,
                           "cannot stage " + what + " in memory: " +
                               std::strerror(err));
    }
    // glibc matches dlopen paths against loaded objects by name before it
    // opens anything. An object that outlived its Model (linked with
    // -z nodelete, as LLVM's CMake links shared objects, so dlclose keeps
    // it) still owns the name "/proc/self/fd/N" after our N was closed and
    // reused: move to a descriptor number whose name is free.
    std::vector<int> taken;
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    while (void *existing = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
      dlclose(existing);
      int next = fcntl(fd, F_DUPFD_CLOEXEC, 0);
      taken.push_back(fd);
      if (next < 0) {
        int err = errno;
        for (int old : taken)
          close(old);
        return Status::error(ErrorCode::Unsupported,
                             "cannot load " + what +
                                 ": no free file descriptor (" +
                                 std::strerror(err) +
                                 "); close files or raise the limit");
      }
      fd = next;
      path = "/proc/self/fd/" + std::to_string(fd);
    }
    for (int old : taken)
      close(old);
    dlerror();
    code.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!code.handle) {
      std::string message = dlerrorString();
      close(fd);
      return Status::error(ErrorCode::Unsupported,
                           "cannot load " + what + ": " + message +
                               "; recompile the model for this machine");
    }
    code.fd = fd;
    return Status::success();
  }

  // No memfd (old kernel, seccomp): a private temp file, unlinked once
  // loaded.
  const char *dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/tacm-XXXXXX";
  std::vector<char> name(path.begin(), path.end());
  name.push_back('\0');
  fd = mkstemp(name.data());
  if (fd < 0)
    return Status::error(ErrorCode::Unsupported,
                         "cannot load " + what +
                             ": memfd_create failed and no temp file in '" +
                             path + "' (" + std::strerror(errno) +
                             "); set TMPDIR to a writable directory");
  bool written = writeAll(fd, bytes, size);
  int err = errno;
  close(fd);
  if (!written) {
    unlink(name.data());
    return Status::error(ErrorCode::Unsupported,
                         "cannot load " + what + ": writing '" +
                             std::string(name.data()) +
                             "' failed: " + std::strerror(err));
  }
  dlerror();
  code.handle = dlopen(name.data(), RTLD_NOW | RTLD_LOCAL);
  std::string message = code.handle ? "" : dlerrorString();
  unlink(name.data());
  if (!code.handle)
    return Status::error(ErrorCode::Unsupported,
                         "cannot load " + what + ": " + message +
                             "; recompile the model for this machine");
  return Status::success();
}

} // namespace tac::rt
