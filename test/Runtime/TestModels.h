// Small .tacm models for the runtime tests, built with the real writer and
// kernels compiled from kernels.c.
#ifndef TACRT_TEST_TESTMODELS_H
#define TACRT_TEST_TESTMODELS_H

#include "tacm_format.h"

#include <array>
#include <string>
#include <vector>

namespace tacrt_test {

using Vec4 = std::array<float, 4>;

/// The layer weights: each layer computes relu(x * kScale + kBias).
extern const Vec4 kScale, kBias;
/// Kernel indices in every test model.
enum Kernel : uint32_t { Mul = 0, Add = 1, Relu = 2, Policy = 3 };
/// Cost of one layer and of the controller.
inline constexpr uint64_t kLayerFlops = 12, kControllerFlops = 4;

/// The bytes of the kernel shared object.
const std::vector<uint8_t> &kernelObject();

/// One layer-stack variant running `numLayers` layers (ping-pong arena
/// buffers, a final copy into the output buffer, buffers described).
tac::format::PlanDesc layerPlan(const std::string &name, int32_t path,
                                int numLayers);

/// The adaptive model: input x: f32[1,4], output y: f32[1,4]; 4 paths (path
/// p runs p+1 layers), variants compiled for paths 0, 1 and 3 only; the
/// controller picks path floor(sum(x)) clamped to [0, 3] and reports it at
/// output 1 (output 0 is the score).
tac::format::ModelDesc adaptiveModel();
/// Controller work carried into the variants (Model.carried_results = 1):
/// the controller also computes r = relu(x) and returns it last; every
/// variant (paths 0, 1, 3) computes y = (x + x) * r, reading r as input 1.
/// The first variant step writes bytes a variant sharing the controller's
/// arena would overwrite r with.
tac::format::ModelDesc carriedModel();
/// The same layers without a controller: one variant, path -1, 1 layer.
tac::format::ModelDesc staticModel();

/// What path p computes: numLayers of relu(x * kScale + kBias).
Vec4 reference(Vec4 x, int numLayers);

/// Writes `bytes` to `path`; aborts the test program on failure.
void writeFile(const std::string &path, const std::vector<uint8_t> &bytes);

} // namespace tacrt_test

#endif
