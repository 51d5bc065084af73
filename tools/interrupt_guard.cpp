#include "interrupt_guard.h"

#include <csignal>
#include <stdexcept>

#include <unistd.h>

namespace quiver::cli {
namespace {

// A signal handler can reach nothing but statics; this flag and the saved disposition
// are the CLI's only process-wide state, and only an InterruptGuard touches them.
std::atomic<bool> interrupt_flag{false};
static_assert(std::atomic<bool>::is_always_lock_free, "a signal handler needs a lock-free flag");
struct sigaction previous_action {};
std::atomic<bool> guard_active{false};

extern "C" void on_sigint(int) {
  interrupt_flag.store(true, std::memory_order_relaxed);
  // write(2) is async-signal-safe; stdio is not.
  static constexpr char message[] =
      "\ninterrupted: stopping at the next checkpoint (press Ctrl-C again to abort now)\n";
  [[maybe_unused]] const auto ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  if (guard_active.exchange(true)) throw std::logic_error("InterruptGuard is not nestable");
  interrupt_flag.store(false);
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: the handler runs once, so the second Ctrl-C gets the default action.
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  ::sigaction(SIGINT, &action, &previous_action);
  // A process started with SIGINT ignored (nohup, background jobs) keeps ignoring it.
  if (previous_action.sa_handler == SIG_IGN) ::sigaction(SIGINT, &previous_action, nullptr);
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &previous_action, nullptr);
  guard_active.store(false);
}

bool InterruptGuard::requested() const { return interrupt_flag.load(std::memory_order_relaxed); }

const std::atomic<bool>* InterruptGuard::flag() const { return &interrupt_flag; }

}  // namespace quiver::cli
