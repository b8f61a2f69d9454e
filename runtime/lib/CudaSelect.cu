// The on-device dispatch kernel (docs/cuda.md): reads the controller's
// int64 path, maps it to a variant through the round-up table, records both
// in a slot of their own and sets the SWITCH conditional node's value, so
// the GPU picks the variant with no host round trip. Built by nvcc into a fatbin that libtacrt embeds; the driver
// resolves cudaGraphSetConditional (a device-runtime builtin) at load.
#include <cuda_runtime.h>

#include "SelectVariant.h"

extern "C" __global__ void tac_select_variant(cudaGraphConditionalHandle handle,
                                              const long long *path,
                                              const int *table, int tableSize,
                                              TacSelection *selection) {
  long long p = *path;
  int variant = tacSelectVariant(p, table, tableSize);
  selection->path = p;
  selection->variant = variant;
  // Out of range: a value >= the node's size runs no body; the host reports
  // the bad path.
  cudaGraphSetConditional(handle, variant < 0 ? 0xffffffffu
                                              : static_cast<unsigned>(variant));
}
