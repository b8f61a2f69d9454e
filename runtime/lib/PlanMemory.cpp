// verifyPlanMemory: the compiler's arena allocation must never give one byte
// to two values that are alive at the same step.
#include "tacm_format.h"
#include "tacrt/tacrt.hpp"

#include <algorithm>

namespace tac::rt {

namespace {
using format::ArenaBufferDesc;
using format::BufferRefDesc;

std::string describe(size_t index, const ArenaBufferDesc &b) {
  return "buffer " + std::to_string(index) + " (bytes [" +
         std::to_string(b.offset) + ", " + std::to_string(b.offset + b.size) +
         "), steps " + std::to_string(b.firstStep) + ".." +
         std::to_string(b.lastStep) + ")";
}

Status fail(const format::PlanDesc &plan, const std::string &what) {
  return Status::error(ErrorCode::InvalidFile,
                       "plan '" + plan.name + "': memory plan: " + what +
                           "; the compiler's arena allocation is wrong: "
                           "recompile (a tac-compile bug if it persists)");
}

/// Whether an arena ref used at `step` lies in a buffer live at `step`.
bool covered(const std::vector<ArenaBufferDesc> &buffers, uint32_t step,
             const BufferRefDesc &ref) {
  for (const ArenaBufferDesc &b : buffers)
    if (b.firstStep <= step && step <= b.lastStep && b.offset <= ref.offset &&
        ref.size <= b.size && ref.offset - b.offset <= b.size - ref.size)
      return true;
  return false;
}
} // namespace

Status verifyPlanMemory(const format::PlanDesc &plan) {
  const std::vector<ArenaBufferDesc> &buffers = plan.buffers;
  if (buffers.empty())
    return Status::success();
  const uint64_t numSteps = plan.steps.size();

  for (size_t i = 0; i < buffers.size(); ++i) {
    const ArenaBufferDesc &b = buffers[i];
    if (b.size > plan.arenaBytes || b.offset > plan.arenaBytes - b.size)
      return fail(plan, describe(i, b) + " ends past the arena (" +
                            std::to_string(plan.arenaBytes) + " bytes)");
    if (b.firstStep > b.lastStep || b.lastStep >= numSteps)
      return fail(plan, describe(i, b) + " has a step range outside 0.." +
                            std::to_string(numSteps == 0 ? 0 : numSteps - 1));
  }

  // (a) Live at the same time => disjoint bytes. Sorting by offset lets the
  // inner loop stop at the first buffer that starts past this one's end.
  std::vector<size_t> order(buffers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return buffers[a].offset < buffers[b].offset;
  });
  for (size_t x = 0; x < order.size(); ++x) {
    const ArenaBufferDesc &a = buffers[order[x]];
    if (a.size == 0)
      continue;
    for (size_t y = x + 1; y < order.size(); ++y) {
      const ArenaBufferDesc &b = buffers[order[y]];
      if (b.offset >= a.offset + a.size)
        break;
      if (b.size == 0)
        continue;
      if (a.firstStep <= b.lastStep && b.firstStep <= a.lastStep)
        return fail(plan, describe(order[x], a) + " and " +
                              describe(order[y], b) +
                              " share bytes while both are live");
    }
  }

  // (b) Every arena access lies in a buffer live at that step.
  for (uint32_t s = 0; s < numSteps; ++s)
    for (const BufferRefDesc &ref : plan.steps[s].args)
      if (ref.space == format::Space::Arena && ref.size > 0 &&
          !covered(buffers, s, ref))
        return fail(plan, "step " + std::to_string(s) +
                              " uses arena bytes [" +
                              std::to_string(ref.offset) + ", " +
                              std::to_string(ref.offset + ref.size) +
                              ") outside every buffer live at that step");
  // Outputs are read after the last step, so they must survive it.
  for (size_t o = 0; o < plan.outputs.size(); ++o) {
    const BufferRefDesc &ref = plan.outputs[o];
    if (ref.space != format::Space::Arena || ref.size == 0)
      continue;
    if (numSteps == 0 ||
        !covered(buffers, static_cast<uint32_t>(numSteps - 1), ref))
      return fail(plan, "output " + std::to_string(o) + " (arena bytes [" +
                            std::to_string(ref.offset) + ", " +
                            std::to_string(ref.offset + ref.size) +
                            ")) is not in a buffer live at the last step");
  }
  return Status::success();
}

} // namespace tac::rt
