// Random input sets for checks that run real compiled models.
#ifndef TACRT_TEST_RANDOMINPUTS_H
#define TACRT_TEST_RANDOMINPUTS_H

#include "tacrt/tacrt.hpp"

#include <random>
#include <vector>

namespace tacrt_test {

/// Input set k of `model`: floats uniform in [0, 1), integers and booleans 0
/// or 1 (valid token ids and masks), like tac-run --random.
inline std::vector<tac::rt::Tensor> makeRandomInputs(const tac::rt::Model &model,
                                                     int k) {
  using namespace tac::rt;
  std::mt19937 rng(1234 + k);
  std::vector<Tensor> inputs;
  for (const TensorSpec &spec : model.inputs()) {
    Tensor t = *Tensor::allocate(spec.dtype, spec.shape);
    size_t n = spec.byteSize / dtypeSize(spec.dtype);
    for (size_t i = 0; i < n; ++i) {
      uint32_t bit = rng() & 1;
      switch (spec.dtype) {
      case DType::F32:
        t.dataAs<float>()[i] = std::uniform_real_distribution<float>(0, 1)(rng);
        break;
      case DType::F64:
        t.dataAs<double>()[i] = std::uniform_real_distribution<double>(0, 1)(rng);
        break;
      case DType::I64:
        t.dataAs<int64_t>()[i] = bit;
        break;
      case DType::I32:
        t.dataAs<int32_t>()[i] = bit;
        break;
      default: // other widths: 0/1 in the low byte
        static_cast<uint8_t *>(t.data())[i * dtypeSize(spec.dtype)] = bit;
      }
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

} // namespace tacrt_test

#endif // TACRT_TEST_RANDOMINPUTS_H
