// The on-device dispatch kernel (docs/cuda.md): reads the controller's
// int64 path, maps it to a variant through the round-up table and sets the
// SWITCH conditional node's value, so the GPU picks the variant with no host
// round trip. Built by nvcc into a fatbin that libtacrt embeds; the driver
// resolves cudaGraphSetConditional (a device-runtime builtin) at load.
#include <cuda_runtime.h>

extern "C" __global__ void tac_select_variant(cudaGraphConditionalHandle handle,
                                              const long long *path,
                                              const int *table, int tableSize,
                                              int *chosen) {
  long long p = *path;
  int variant = (p >= 0 && p < tableSize) ? table[p] : -1;
  *chosen = variant;
  // Out of range: a value >= the node's size runs no body; the host reports
  // the bad path.
  cudaGraphSetConditional(handle, variant < 0 ? 0xffffffffu
                                              : static_cast<unsigned>(variant));
}
