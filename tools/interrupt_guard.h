// Turns the first Ctrl-C (SIGINT) into a cancellation request for long operations
// (build, ground truth, search sweeps) instead of killing the process, so the library
// can stop cleanly and leave no half-written index behind. A second Ctrl-C kills the
// process as usual.
#pragma once

#include <atomic>

namespace quiver::cli {

// While alive, SIGINT sets the flag instead of terminating. Not nestable: one guard
// at a time (the CLI runs one long operation at a time).
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  bool requested() const;
  // For SearchParams::cancel.
  const std::atomic<bool>* flag() const;
};

}  // namespace quiver::cli
