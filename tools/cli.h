// cli.h: the command line of every tool, CLI11's App and Option behind a
// thin facade with the same names (add_option(...)->type_name(...)->check(...)).
// Why a facade: Debian's CLI11 is header-only, and each file that includes
// it compiles its whole parser again, about 30 s of CPU per file under the
// sanitizers (scripts/test); with the facade, tools/cli.cpp is the only file
// that includes <CLI/CLI.hpp>.  Parse errors print as "<3>TOOL: message"
// lines, with the syslog priority of an error like every log line
// (base/log.h), so the journal files why a unit failed as an error.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace aoe::tools::cli {

// A check of one value, run on the text before it is converted: the
// sentence for the user, or nothing when the value is fine (tools/validate.h).
struct Check {
  std::function<std::optional<std::string>(std::string_view)> check;
  std::string description;  // shown in --help after the type ("0.1 to 60"), or ""
};

// A value out of a fixed list ("list", "add", "del").
Check one_of(std::vector<std::string> words);

// One option or positional of an App; owned by it.
class Option {
 public:
  explicit Option(CLI::Option* option) noexcept : option_(option) {}

  Option* type_name(std::string name);
  Option* check(Check check);
  Option* required();
  Option* excludes(const std::string& other);  // by name: "--socket"
  Option* excludes(Option* other);
  Option* needs(Option* other);
  Option* capture_default_str();
  Option* allow_extra_args(bool allow);
  // Whether the command line gave it.
  explicit operator bool() const;

 private:
  CLI::Option* option_;
};

class App {
 public:
  explicit App(std::string description = "", std::string name = "");
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Instantiated in tools/cli.cpp for the types the tools use: a new type
  // is a link error there, not a silent conversion.
  template <class T>
  Option* add_option(std::string name, T& into, std::string description = "");
  // bool: set; int: counts repeats (-vv).
  template <class T>
  Option* add_flag(std::string name, T& into, std::string description = "");
  void set_version_flag(std::string flag, std::string version);

  std::string get_name() const;
  // How often the command line gave the option `name` ("--abft-table").
  std::size_t count(const std::string& name) const;
  // The options the command line gave, as arguments that give them again
  // ("--deadline", "0", "-v", "-v"), but for those named in `skip` and
  // the positionals: what aoe-attach --all passes on to each child.
  std::vector<std::string> given_options(const std::vector<std::string>& skip) const;

  // Parses the command line.  An exit code when the tool should stop: 0
  // after --help or --version, 2 (exit_usage) after a bad command line,
  // everything already printed.
  std::optional<int> parse(int argc, char** argv);
  // Parses `args` (no program name) afresh: the message a bad command
  // line gets, or nothing.  For tests.
  std::optional<std::string> parse_error(std::vector<std::string> args);

 private:
  std::unique_ptr<CLI::App> app_;
  std::vector<std::unique_ptr<Option>> options_;
  Option* keep(CLI::Option* option);
};

// -v/--verbose (repeatable) and -q/--quiet, applied to aoe::log::threshold.
struct Verbosity {
  int verbose = 0;
  bool quiet = false;
  void add_to(App& app);
  void apply() const;
};

}  // namespace aoe::tools::cli
