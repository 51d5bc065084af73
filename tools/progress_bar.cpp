#include "progress_bar.h"

#include <algorithm>

#include <sys/ioctl.h>
#include <unistd.h>

#include "text_format.h"

namespace quiver::cli {
namespace {

constexpr auto redraw_interval = std::chrono::milliseconds(100);

std::size_t terminal_width(std::FILE* out) {
  winsize size{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col >= 40) return size.ws_col;
  return 80;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, std::string unit, std::FILE* out)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      out_(out),
      tty_(::isatty(::fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  // Leave the cursor on a fresh line if the operation ended early (error, Ctrl-C).
  if (tty_ && drawn_ && !finished_) std::fputc('\n', out_);
  std::fflush(out_);
}

ProgressCallback ProgressBar::callback() {
  return [this](const Progress& progress) { return update(progress); };
}

bool ProgressBar::update(const Progress& progress) {
  last_ = progress;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (!drawn_ || now - last_draw_ >= redraw_interval) {
      last_draw_ = now;
      draw(false);
    }
  } else if (progress.total > 0) {
    const int decile = static_cast<int>(std::min<std::size_t>(progress.done * 10 / progress.total, 10));
    // Deciles 1..9 only; finish() prints the 100 % line.
    if (decile > last_logged_decile_ && decile > 0 && decile < 10) {
      last_logged_decile_ = decile;
      draw(false);
    }
  }
  return !interrupt_.requested();
}

void ProgressBar::finish() {
  if (finished_) return;
  if (last_.total > 0) last_.done = last_.total;
  draw(true);
  finished_ = true;
}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string ProgressBar::status_text(bool final) const {
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? static_cast<double>(last_.done) / elapsed : 0.0;
  std::string text;
  if (last_.total > 0) {
    char percent[16];
    std::snprintf(percent, sizeof percent, "%5.1f%%",
                  100.0 * static_cast<double>(last_.done) / static_cast<double>(last_.total));
    text += percent;
    text += "  " + format_count(last_.done) + "/" + format_count(last_.total) + " " + unit_;
  } else {
    text += format_count(last_.done) + " " + unit_;
  }
  if (last_.done > 0) text += "  " + format_rate(rate) + "/s";
  if (final) {
    text += "  in " + format_duration(elapsed);
  } else if (last_.total > 0 && last_.done < last_.total && rate > 0) {
    const double remaining = static_cast<double>(last_.total - std::min(last_.done, last_.total)) / rate;
    text += "  ETA " + format_duration(remaining);
  }
  return text;
}

void ProgressBar::draw(bool final) {
  const std::string status = status_text(final);
  if (!tty_) {
    std::fprintf(out_, "%s: %s\n", label_.c_str(), status.c_str());
    std::fflush(out_);
    return;
  }
  const std::size_t width = terminal_width(out_);
  // label, two brackets, spaces, status; the bar takes what is left (at least 10).
  const std::size_t fixed = label_.size() + status.size() + 5;
  const std::size_t bar_width = width > fixed + 10 ? std::min<std::size_t>(width - fixed, 40) : 10;
  const double fraction =
      last_.total > 0 ? std::min(1.0, static_cast<double>(last_.done) / static_cast<double>(last_.total)) : 0.0;
  const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(bar_width));
  std::string bar(filled, '#');
  bar.resize(bar_width, '.');
  // \033[K clears what a longer previous line left behind.
  std::fprintf(out_, "\r%s [%s] %s\033[K%s", label_.c_str(), bar.c_str(), status.c_str(), final ? "\n" : "");
  std::fflush(out_);
  drawn_ = true;
}

}  // namespace quiver::cli
