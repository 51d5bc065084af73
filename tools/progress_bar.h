// A terminal progress bar for the library's long operations: an adapter from
// quiver::ProgressCallback to stderr. On a TTY it redraws one line with `\r` (bar,
// percentage, rate, ETA); otherwise (logs, CI) it prints a plain line every ~10 %.
// While it lives, the first Ctrl-C makes the callback return false, which the library
// turns into quiver::Cancelled.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

#include "interrupt_guard.h"
#include "quiver/build_options.h"

namespace quiver::cli {

class ProgressBar {
 public:
  // `label` names the operation ("building", "ground truth"); `unit` the items counted.
  explicit ProgressBar(std::string label, std::string unit = "vectors", std::FILE* out = stderr);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // The callback to hand to BuildOptions::progress; valid while this object lives.
  ProgressCallback callback();

  // Records progress; returns false once the user pressed Ctrl-C.
  bool update(const Progress& progress);

  // Draws the final state (100 %, elapsed time) and ends the line.
  void finish();

  double elapsed_seconds() const;
  const InterruptGuard& interrupt() const { return interrupt_; }

 private:
  void draw(bool final);
  std::string status_text(bool final) const;

  std::string label_;
  std::string unit_;
  std::FILE* out_;
  bool tty_;
  bool finished_ = false;
  bool drawn_ = false;
  Progress last_{};
  int last_logged_decile_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  InterruptGuard interrupt_;
};

}  // namespace quiver::cli
