// Shared pieces of the w8a8 command-line tool: exit codes, output helpers, the subcommands.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "w8a8/tensor.h"

namespace w8a8::cli {

// Exit codes (documented in --help).
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;      // a failure while running (I/O, system)
constexpr int kExitBadInput = 2;     // bad usage, a missing or malformed model, a refused output path
constexpr int kExitInterrupted = 130;

// Set by SIGINT / SIGTERM: long commands stop and clean up.
extern std::atomic<bool> g_interrupted;
// --json of the chosen subcommand: errors are then also printed as JSON on stdout.
extern bool g_json;

// Every subcommand registers itself on the app and sets `run` when it is the one chosen.
using Runner = std::function<int()>;
void register_quantize(CLI::App& app, Runner& run);
void register_inspect(CLI::App& app, Runner& run);
void register_info(CLI::App& app, Runner& run);
void register_shard(CLI::App& app, Runner& run);
void register_tune(CLI::App& app, Runner& run);

// When `cmd` is the subcommand parsed: its --json flag (args->json) becomes g_json, and `run` calls fn(*args).
template <class Args, class Fn>
void run_when_chosen(CLI::App* cmd, Runner& run, std::shared_ptr<Args> args, Fn fn) {
  cmd->callback([&run, args, fn]() {
    g_json = args->json;
    run = [args, fn]() { return fn(*args); };
  });
}

// ---- formatting ---------------------------------------------------------------------------------
std::string human_bytes(uint64_t bytes);  // "90.9 MB"
std::string shape_str(const Dims& d);     // "[384, 1536]"
std::string sci(double v);                // "1.23e-03"
std::string percent(double v);            // "2.41%"
// Pads or cuts to a width (cuts from the left, keeping the informative end of long names).
std::string fit(const std::string& s, size_t width);
bool stderr_is_tty();
double peak_rss_mb();
// Prints a JSON document on stdout.
void print_json(const nlohmann::json& j);

}  // namespace w8a8::cli
