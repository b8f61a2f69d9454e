// Driver for adaptive_mlp.mlir (concatenated by scripts/run.sh): runs the
// controller and the chosen path on three inputs of growing magnitude and
// prints the chosen path and the output's first row.

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefI64(tensor<*xi64>)

func.func @run_one(%scale: f32) {
  %e = tensor.empty() : tensor<4x8xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(t, f) -> (t, f)>],
                       iterator_types = ["parallel", "parallel"]}
       outs(%e : tensor<4x8xf32>) {
  ^bb0(%out: f32):
    %t = linalg.index 0 : index
    %f = linalg.index 1 : index
    %s = arith.addi %t, %f : index
    %n = arith.index_cast %s : index to i32
    %v = arith.sitofp %n : i32 to f32
    %c = math.cos %v : f32
    %r = arith.mulf %c, %scale : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %sel = call @controller(%x) : (tensor<4x8xf32>) -> index
  %sel64 = arith.index_cast %sel : index to i64
  %path = tensor.from_elements %sel64 : tensor<1xi64>
  %path_u = tensor.cast %path : tensor<1xi64> to tensor<*xi64>
  call @printMemrefI64(%path_u) : (tensor<*xi64>) -> ()
  %y = call @encoder(%sel, %x) : (index, tensor<4x8xf32>) -> tensor<4x8xf32>
  %row = tensor.extract_slice %y[0, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
  %row_u = tensor.cast %row : tensor<1x8xf32> to tensor<*xf32>
  call @printMemrefF32(%row_u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  %easy = arith.constant 0.1 : f32
  %medium = arith.constant 1.0 : f32
  %hard = arith.constant 4.0 : f32
  call @run_one(%easy) : (f32) -> ()
  call @run_one(%medium) : (f32) -> ()
  call @run_one(%hard) : (f32) -> ()
  return
}
