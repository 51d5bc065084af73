// `quiver`: the command-line front end of libquiver. Parses the command line, runs
// one subcommand, and turns every failure into `error: <message>` and an exit code:
// 0 success, 1 a quiver::Error (bad input, missing file, corrupt index), 2 a usage
// error, 130 cancelled with Ctrl-C.
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.h"
#include "quiver/error.h"

namespace quiver::cli {
// The relevance-filter commands (command_train_filter.cpp, command_eval_filter.cpp).
Command add_train_filter_command(CLI::App& app);
Command add_eval_filter_command(CLI::App& app);
// Talking to a running quiver-server (command_client.cpp).
Command add_client_command(CLI::App& app);
}  // namespace quiver::cli

namespace {

constexpr int exit_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_cancelled = 130;  // the shell's convention for "ended by SIGINT"

std::string usage_failure(const CLI::App* app, const CLI::Error& error) {
  std::string help_command = "quiver --help";
  const auto chosen = app->get_subcommands();
  if (!chosen.empty()) help_command = "quiver " + chosen.front()->get_name() + " --help";
  return "error: " + std::string(error.what()) + "\nRun '" + help_command + "' for usage.\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quiver: build, search and inspect approximate nearest-neighbour indexes.", "quiver"};
  app.set_version_flag("--version", std::string("quiver ") + QUIVER_VERSION);
  app.require_subcommand(1, 1);
  app.failure_message(usage_failure);
  app.footer(
      "Start with `quiver demo`: it builds an index on Fashion-MNIST and shows the\n"
      "recall/speed trade-off. Run `quiver <command> --help` for a command's options.");

  const std::vector<quiver::cli::Command> commands = {
      quiver::cli::add_build_command(app),
      quiver::cli::add_search_command(app),
      quiver::cli::add_info_command(app),
      quiver::cli::add_demo_command(app),
      quiver::cli::add_train_filter_command(app),
      quiver::cli::add_eval_filter_command(app),
      quiver::cli::add_client_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : exit_usage;
  }

  try {
    for (const auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return exit_usage;  // unreachable: require_subcommand(1, 1)
  } catch (const quiver::Cancelled& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return exit_cancelled;
  } catch (const quiver::Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return exit_error;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory (try --max-rows to use fewer vectors)\n");
    return exit_error;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: internal error: %s\n", error.what());
    return exit_error;
  }
}
