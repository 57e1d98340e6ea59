#include "tools/cli.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "daemon/exit_codes.h"
#include "base/log.h"

namespace aoe::tools::cli {
namespace {

CLI::Validator to_validator(Check c) {
  // CLI11 runs a check on the text before converting it; an empty message means "fine".
  return CLI::Validator(
      [check = std::move(c.check)](std::string& value) { return check(value).value_or(std::string()); },
      std::move(c.description));
}

// Every line of CLI11's message as "<3>TOOL: ..." (see cli.h).
void report_usage_errors(CLI::App& app) {
  app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
    std::string text = fmt::format("{}: {}\nRun with --help for more information.", failed->get_name(), e.what());
    std::string out;
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t end = std::min(text.find('\n', start), text.size());
      out += "<3>" + text.substr(start, end - start) + "\n";
      start = end + 1;
    }
    return out;
  });
}

}  // namespace

Check one_of(std::vector<std::string> words) {
  CLI::Validator member = CLI::IsMember(std::move(words));
  std::string description = member.get_description();
  return {[member](std::string_view value) mutable -> std::optional<std::string> {
            std::string text(value);
            std::string why = member(text);
            if (why.empty()) return std::nullopt;
            return why;
          },
          std::move(description)};
}

Option* Option::type_name(std::string name) {
  option_->type_name(std::move(name));
  return this;
}
Option* Option::check(Check c) {
  option_->check(to_validator(std::move(c)));
  return this;
}
Option* Option::required() {
  option_->required();
  return this;
}
Option* Option::excludes(const std::string& other) {
  option_->excludes(other);
  return this;
}
Option* Option::excludes(Option* other) {
  option_->excludes(other->option_);
  return this;
}
Option* Option::needs(Option* other) {
  option_->needs(other->option_);
  return this;
}
Option* Option::capture_default_str() {
  option_->capture_default_str();
  return this;
}
Option* Option::allow_extra_args(bool allow) {
  option_->allow_extra_args(allow);
  return this;
}
Option::operator bool() const { return option_->count() > 0; }

App::App(std::string description, std::string name)
    : app_(std::make_unique<CLI::App>(std::move(description), std::move(name))) {
  report_usage_errors(*app_);
}

App::~App() = default;

Option* App::keep(CLI::Option* option) {
  options_.push_back(std::make_unique<Option>(option));
  return options_.back().get();
}

template <class T>
Option* App::add_option(std::string name, T& into, std::string description) {
  return keep(app_->add_option(std::move(name), into, std::move(description)));
}

template <class T>
Option* App::add_flag(std::string name, T& into, std::string description) {
  return keep(app_->add_flag(std::move(name), into, std::move(description)));
}

template Option* App::add_option(std::string, std::string&, std::string);
template Option* App::add_option(std::string, std::vector<std::string>&, std::string);
template Option* App::add_option(std::string, double&, std::string);
template Option* App::add_option(std::string, unsigned&, std::string);
template Option* App::add_option(std::string, unsigned long&, std::string);
template Option* App::add_flag(std::string, bool&, std::string);
template Option* App::add_flag(std::string, int&, std::string);

void App::set_version_flag(std::string flag, std::string version) {
  app_->set_version_flag(std::move(flag), std::move(version));
}

std::string App::get_name() const { return app_->get_name(); }

std::size_t App::count(const std::string& name) const { return app_->count(name); }

std::vector<std::string> App::given_options(const std::vector<std::string>& skip) const {
  std::vector<std::string> args;
  for (const CLI::Option* opt : app_->get_options()) {
    if (opt->count() == 0 || !opt->nonpositional()) continue;
    const auto& longs = opt->get_lnames();
    const std::string name = longs.empty() ? "-" + opt->get_snames().front() : "--" + longs.front();
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    if (opt->get_expected_max() == 0) {  // a flag, given count() times
      for (std::size_t i = 0; i < opt->count(); ++i) args.push_back(name);
      continue;
    }
    for (const std::string& value : opt->results()) {
      args.push_back(name);
      args.push_back(value);
    }
  }
  return args;
}

std::optional<int> App::parse(int argc, char** argv) {
  try {
    app_->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app_->exit(e) == 0 ? exit_ok : exit_usage;
  }
  return std::nullopt;
}

std::optional<std::string> App::parse_error(std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  app_->clear();
  try {
    app_->parse(args);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return std::nullopt;
}

void Verbosity::add_to(App& app) {
  app.add_flag("-v,--verbose", verbose, "Log more (repeat for debug output)");
  app.add_flag("-q,--quiet", quiet, "Log errors only");
}

void Verbosity::apply() const {
  if (quiet)
    log::threshold = log::Level::error;
  else if (verbose > 0)
    log::threshold = verbose > 1 ? log::Level::debug : log::Level::info;
}

}  // namespace aoe::tools::cli
