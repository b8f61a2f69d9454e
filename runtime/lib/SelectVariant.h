// What the on-device dispatch decides, shared by the select kernel (nvcc,
// CudaSelect.cu) and the host (the CUDA executor, the CPU tests): the
// controller's path mapped to a variant index through the round-up table.
#ifndef TACRT_LIB_SELECTVARIANT_H
#define TACRT_LIB_SELECTVARIANT_H

#if defined(__CUDACC__)
#define TACRT_HOST_DEVICE __host__ __device__
#else
#define TACRT_HOST_DEVICE
#endif

/// The select kernel's record of one run, in a device slot of its own: the
/// variants run after it and overwrite the arena where the controller left
/// its path, so the host reads the path from here.
struct TacSelection {
  long long path; // the controller's path, as it chose it
  int variant;    // index into the variants; -1: the path is out of range
  int unused;
};

/// The variant index for `path` (-1 when outside [0, tableSize)).
TACRT_HOST_DEVICE inline int tacSelectVariant(long long path, const int *table,
                                              int tableSize) {
  return path >= 0 && path < tableSize ? table[path] : -1;
}

#endif // TACRT_LIB_SELECTVARIANT_H
