// SIGTERM and SIGINT turned into an ordinary function call on an ordinary thread, so
// that shutdown may take locks, log and join (none of which a signal handler may do).
#pragma once

#include <csignal>
#include <functional>
#include <thread>

namespace quiver::api {

class ShutdownSignal {
 public:
  // Blocks SIGTERM and SIGINT in the calling thread and so in every thread it starts
  // afterwards: construct it before any other thread exists.
  ShutdownSignal();
  // Stops waiting and restores the previous signal mask.
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  // Starts waiting; the first signal calls `on_signal(signal number)` on the waiting
  // thread. A signal that arrived earlier stays pending and is delivered then.
  void on_signal(std::function<void(int)> callback);

 private:
  sigset_t signals_{};
  sigset_t previous_{};
  std::jthread waiter_;
};

}  // namespace quiver::api
