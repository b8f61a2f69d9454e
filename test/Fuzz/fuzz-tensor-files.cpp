// libFuzzer: tac-run's input readers. The first byte picks the format
// (even: .npy, odd: ONNX TensorProto .pb); the rest is the file. A reader
// must return a tensor or an error, never crash or allocate more than the
// file can fill.
#include "TensorFiles.h"

#include <cstdio>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  static const std::string base =
      "/tmp/tac-fuzz-tensor-" + std::to_string(getpid());
  std::string path = base + ((data[0] & 1) ? ".pb" : ".npy");
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  tac::rt::Expected<tac::rt::Tensor> tensor = tac::run::readTensorFile(path);
  if (tensor) // the payload a successful read claims must be readable
    for (size_t i = 0; i < tensor->byteSize(); i += 4096)
      (void)static_cast<volatile const uint8_t *>(tensor->data())[i];
  std::remove(path.c_str());
  return 0;
}
