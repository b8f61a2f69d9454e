// dlopen of the CUDA driver and cuBLASLt (see CudaApi.h).
#include "CudaApi.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>

namespace tac::rt::cuda {

namespace {
/// The exported symbol behind an API name (cuda.h's #defines for CUDA 13).
const char *abiName(const char *name) {
  static const struct {
    const char *api, *abi;
  } kVersioned[] = {
      {"cuDevicePrimaryCtxRelease", "cuDevicePrimaryCtxRelease_v2"},
      {"cuMemAlloc", "cuMemAlloc_v2"},
      {"cuMemFree", "cuMemFree_v2"},
      {"cuMemAllocHost", "cuMemAllocHost_v2"},
      {"cuMemcpyHtoDAsync", "cuMemcpyHtoDAsync_v2"},
      {"cuMemcpyDtoHAsync", "cuMemcpyDtoHAsync_v2"},
      {"cuMemcpyDtoDAsync", "cuMemcpyDtoDAsync_v2"},
      {"cuStreamDestroy", "cuStreamDestroy_v2"},
      {"cuStreamBeginCapture", "cuStreamBeginCapture_v2"},
      {"cuStreamGetCaptureInfo", "cuStreamGetCaptureInfo_v3"},
      {"cuGraphAddNode", "cuGraphAddNode_v2"},
  };
  for (const auto &entry : kVersioned)
    if (std::strcmp(entry.api, name) == 0)
      return entry.abi;
  return name;
}

template <typename Fn> bool resolve(void *handle, const char *name, Fn &fn) {
  fn = reinterpret_cast<Fn>(dlsym(handle, abiName(name)));
  return fn != nullptr;
}
} // namespace

std::string Driver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName)
    cuGetErrorName(result, &name);
  if (cuGetErrorString)
    cuGetErrorString(result, &text);
  return std::string(name ? name : "CUDA error " + std::to_string(result)) +
         (text ? std::string(" (") + text + ")" : std::string());
}

Status loadDriver(const char *library, Driver &out) {
  void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return Status::error(ErrorCode::Unsupported,
                         std::string("no CUDA driver (") + library +
                             " not found); install the NVIDIA driver or run "
                             "on the CPU (--device=cpu)");
  out.handle = handle;
  std::string missing;
#define TACRT_CU(name, ...)                                                    \
  if (!resolve(handle, #name, out.name))                                       \
    missing += (missing.empty() ? "" : ", ") + std::string(abiName(#name));
#include "CudaApi.def"
#undef TACRT_CU
  if (!missing.empty())
    return Status::error(ErrorCode::Unsupported,
                         std::string("the CUDA driver ") + library +
                             " lacks " + missing +
                             "; tac needs a CUDA 12.8+ driver (13 "
                             "recommended): update the NVIDIA driver");
  if (CUresult r = out.cuInit(0); r != CUDA_SUCCESS)
    return Status::error(ErrorCode::Unsupported,
                         "no CUDA device: cuInit failed with " +
                             out.describe(r));
  out.cuDriverGetVersion(&out.version);
  return Status::success();
}

Expected<const Driver *> driver() {
  static Driver instance;
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *library = std::getenv("TACRT_LIBCUDA");
    status = loadDriver(library && *library ? library : "libcuda.so.1",
                        instance);
  });
  if (!status)
    return status;
  return static_cast<const Driver *>(&instance);
}

bool deviceAvailable(std::string *why) {
  Expected<const Driver *> d = driver();
  if (!d) {
    if (why)
      *why = d.status().message();
    return false;
  }
  int count = 0;
  CUresult r = (*d)->cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS || count == 0) {
    if (why)
      *why = r != CUDA_SUCCESS ? "no CUDA device: " + (*d)->describe(r)
                               : std::string("no CUDA device");
    return false;
  }
  return true;
}

Expected<const Blas *> blas() {
  static Blas instance;
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] {
    void *handle = nullptr;
    for (const char *name : {"libcublasLt.so.13", "libcublasLt.so"})
      if ((handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)))
        break;
    if (!handle) {
      status = Status::error(ErrorCode::Unsupported,
                             "cuBLASLt not found (libcublasLt.so.13); install "
                             "the CUDA 13 runtime libraries or put them on "
                             "LD_LIBRARY_PATH");
      return;
    }
    instance.handle = handle;
    std::string missing;
#define TACRT_BLAS(name, ...)                                                  \
  if (!resolve(handle, #name, instance.name))                                  \
    missing += (missing.empty() ? "" : ", ") + std::string(#name);
#include "CudaApi.def"
#undef TACRT_BLAS
    if (!missing.empty())
      status = Status::error(ErrorCode::Unsupported,
                             "cuBLASLt lacks " + missing);
  });
  if (!status)
    return status;
  return static_cast<const Blas *>(&instance);
}

} // namespace tac::rt::cuda
