// Reading and writing tensors for tac-run: NumPy .npy files and ONNX
// TensorProto .pb files, plus random data and value printing.
#ifndef TAC_TOOLS_TACRUN_TENSORFILES_H
#define TAC_TOOLS_TACRUN_TENSORFILES_H

#include "tacrt/tacrt.hpp"

#include <random>
#include <string>

namespace tac::run {

/// A tensor read from `path` (.npy, or a TensorProto .pb; other names are
/// told apart by their first bytes).
rt::Expected<rt::Tensor> readTensorFile(const std::string &path);

/// Writes `tensor` as a little-endian, C-order .npy file (bfloat16 as its
/// raw uint16 bits: NumPy has no bfloat16).
rt::Status writeNpy(const rt::Tensor &tensor, const std::string &path);

/// A tensor of `spec`'s type filled with uniform random values: floats in
/// [0, 1), integers and booleans 0 or 1 (safe as indices and masks).
rt::Expected<rt::Tensor> randomTensor(const rt::TensorSpec &spec,
                                      std::mt19937_64 &rng);

/// The first `limit` values, "[0.5, 1, ...]".
std::string formatValues(const rt::Tensor &tensor, size_t limit);

} // namespace tac::run

#endif
