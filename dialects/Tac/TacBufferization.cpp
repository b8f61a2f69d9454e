//===- TacBufferization.cpp - one-shot bufferization of tac ops -----------===//
//
// tac.attention is destination-style: on buffers it writes its init and
// reads the rest, like a linalg op. The upstream helper answers the
// analysis questions (inputs are read, the init is read and written and
// is the result's buffer); this model only rebuilds the op on buffers.
//
//===----------------------------------------------------------------------===//

#include "dialects/Tac/TacDialect.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"

using namespace mlir;
using namespace mlir::tac;

namespace {

struct AttentionOpBufferization
    : bufferization::DstBufferizableOpInterfaceExternalModel<
          AttentionOpBufferization, AttentionOp> {
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const bufferization::BufferizationOptions &options,
                          bufferization::BufferizationState &state) const {
    auto attention = cast<AttentionOp>(op);
    SmallVector<Value> buffers;
    for (Value operand : op->getOperands()) {
      FailureOr<Value> buffer =
          bufferization::getBuffer(rewriter, operand, options, state);
      if (failed(buffer))
        return failure();
      buffers.push_back(*buffer);
    }
    rewriter.setInsertionPoint(op);
    OperationState built(op->getLoc(), op->getName(), buffers,
                         /*types=*/TypeRange(), op->getAttrs());
    rewriter.create(built);
    bufferization::replaceOpWithBufferizedValues(
        rewriter, op, buffers[attention.getInitMutable().getOperandNumber()]);
    return success();
  }
};

} // namespace

void mlir::tac::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, TacDialect *) {
    AttentionOp::attachInterface<AttentionOpBufferization>(*context);
  });
}
