// w8a8: quantize models to FP8 W8A8 checkpoints, inspect safetensors checkpoints, show the platform.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "w8a8/error.h"

namespace w8a8::cli {

std::atomic<bool> g_interrupted{false};
bool g_json = false;

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string shape_str(const Dims& d) { return d.str(); }

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * v);
  return buf;
}

std::string fit(const std::string& s, size_t width) {
  if (s.size() <= width) return s + std::string(width - s.size(), ' ');
  return "..." + s.substr(s.size() - (width - 3));
}

bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

namespace {

void on_signal(int sig) {
  if (g_interrupted.exchange(true)) {
    // Second signal: stop now (the temporary output folder is hidden and never renamed).
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

int fail(int code, const std::string& message) {
  std::cerr << "w8a8: error: " << message << std::endl;
  if (g_json) print_json({{"error", message}, {"exit_code", code}});
  return code;
}

}  // namespace
}  // namespace w8a8::cli

int main(int argc, char** argv) {
  using namespace w8a8::cli;
  CLI::App app{
      "w8a8: FP8 W8A8 checkpoints with vLLM's semantics.\n"
      "  w8a8 quantize MODEL_DIR -o OUT_DIR   write an FP8 checkpoint of a Hugging Face model folder\n"
      "  w8a8 inspect PATH                    tensors, dtypes, shapes, detected scheme and format\n"
      "  w8a8 info                            build, platform, capabilities, chosen backends\n"
      "  w8a8 shard FP8_DIR -o OUT -w N       tensor-parallel per-rank checkpoints\n"
      "Run 'w8a8 COMMAND --help' for the options of a command.",
      "w8a8"};
  app.footer(
      "Exit codes:\n"
      "  0    success\n"
      "  1    failure while running (I/O error, out of disk space, ...)\n"
      "  2    bad input: wrong usage, a missing or malformed model, a refused output path\n"
      "  130  interrupted (Ctrl-C): nothing was written\n"
      "Add --json to any command for machine-readable output on stdout.");
  app.set_version_flag("--version", std::string("w8a8 ") + W8A8_VERSION);
  app.require_subcommand(1);
  Runner run;
  register_quantize(app, run);
  register_inspect(app, run);
  register_info(app, run);
  register_shard(app, run);
  register_tune(app, run);

  bool known = false;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    known = known || (argc >= 2 && sub->get_name() == argv[1]);
  if (argc >= 2 && argv[1][0] != '-' && !known) {
    std::cerr << "w8a8: unknown command '" << argv[1] << "' (expected quantize, inspect, info, shard or tune)\n"
              << "Run with --help for more information." << std::endl;
    return kExitBadInput;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and the hint to run --help
    return kExitBadInput;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return run ? run() : kExitBadInput;
  } catch (const w8a8::Error& e) {
    if (g_interrupted) return fail(kExitInterrupted, "interrupted: nothing was written");
    return fail(e.kind() == w8a8::ErrorKind::kRuntime ? kExitFailure : kExitBadInput, e.what());
  } catch (const std::bad_alloc&) {
    return fail(kExitFailure, "out of memory");
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
}
