// The CLI's subcommands. Each add_*_command registers its options and help on the
// app and returns the action main() runs once parsing has chosen that subcommand;
// actions report failures by throwing quiver::Error subclasses.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace quiver::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // returns the process exit code
};

Command add_build_command(CLI::App& app);
Command add_search_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_demo_command(CLI::App& app);

}  // namespace quiver::cli
