#include "api/shutdown_signal.h"

#include <cerrno>
#include <ctime>
#include <pthread.h>

namespace quiver::api {

ShutdownSignal::ShutdownSignal() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
}

ShutdownSignal::~ShutdownSignal() {
  if (waiter_.joinable()) {
    waiter_.request_stop();
    waiter_.join();
  }
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

void ShutdownSignal::on_signal(std::function<void(int)> callback) {
  waiter_ = std::jthread([this, callback = std::move(callback)](std::stop_token stop) {
    // sigtimedwait with a short timeout rather than sigwait: a stop request must end
    // the wait without a signal of its own.
    const timespec period{0, 100'000'000};
    while (!stop.stop_requested()) {
      const int signal = sigtimedwait(&signals_, nullptr, &period);
      if (signal > 0) {
        callback(signal);
        return;  // later signals stay blocked and pending; shutdown is already under way
      }
    }
  });
}

}  // namespace quiver::api
