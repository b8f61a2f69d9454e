// libFuzzer: the .tacm loader on mutated files. The first input byte picks
// the mode: odd rewrites the header's file size and checksum to match the
// mutated bytes, so mutations get past the checksum into the FlatBuffers,
// plan and memory-plan checks; even loads the bytes as they are. Verify
// only (LoadOptions::mapCode = false): a mutated code object is never
// mapped, so every crash is the loader's.
#include "tacm_format.h"
#include "tacrt/tacrt.hpp"

#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  bool fixUp = data[0] & 1;
  std::vector<uint8_t> file(data + 1, data + size);
  if (fixUp && file.size() >= tac::format::kHeaderSize) {
    tac::format::TacmHeader header;
    std::memcpy(&header, file.data(), sizeof(header));
    header.fileSize = file.size();
    header.checksum = tac::format::checksum64(
        file.data() + tac::format::kHeaderSize,
        file.size() - tac::format::kHeaderSize);
    std::memcpy(file.data(), &header, sizeof(header));
  }
  tac::rt::LoadOptions options;
  options.mapCode = false;
  tac::rt::Expected<tac::rt::ModelRef> model =
      tac::rt::Model::loadFromMemory(file.data(), file.size(), "fuzz", options);
  if (model) { // what a caller reads after a successful load
    for (const tac::rt::VariantInfo &v : (*model)->variants())
      (void)v.flops;
    (void)(*model)->arenaBytes();
  }
  return 0;
}
