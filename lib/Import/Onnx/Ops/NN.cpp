//===- NN.cpp - ONNX contractions, normalisations, reductions -------------===//

#include "../ImportState.h"
#include "../TensorBuilders.h"

using namespace mlir;
using namespace mlir::tac::onnx_import;

void mlir::tac::onnx_import::registerNNOps(OpTable &table) {}
