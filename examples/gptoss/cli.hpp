// The command-line program's shared plumbing: options, the subcommand registry, exit codes.
// Options are parsed by CLI11 (main.cpp); bad arguments, CLI11's parse errors included, exit 2
// with the command's usage; library errors are gptoss::error (exit 1, one line on stderr).
#pragma once
#include <charconv>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gptoss::cli {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Error messages quote what a file or request holds (tensor names, roles, JSON), which may
// contain line breaks; control characters are printed as \xNN so an error stays one line.
inline std::string one_line(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += {'\\', 'x', hex[u >> 4], hex[u & 15]};
    else out += c;
  }
  return out;
}

// One option of a command, for CLI11: names as CLI11 spells them ("-m,--model"; the long name is
// the key the command reads it by), the help text, and the value's placeholder (empty: a flag).
struct Opt {
  std::string names;
  std::string help;
  std::string value_name;
};

// The long name of an option declared as "-m,--model" (or "--context" for a name without "-x"):
// "model".
inline std::string long_name(const std::string& names) {
  std::string best;
  std::size_t start = 0;
  while (start <= names.size()) {
    std::size_t end = names.find(',', start);
    if (end == std::string::npos) end = names.size();
    const std::string n = names.substr(start, end - start);
    if (n.rfind("--", 0) == 0 && best.empty()) best = n.substr(2);
    start = end + 1;
  }
  return best;
}

// How messages name an option: "-n/--max-tokens" for the key "max-tokens" (filled by main.cpp
// from the chosen command's declarations); "--key" for any other.
inline std::map<std::string, std::string>& option_labels() {
  static std::map<std::string, std::string> labels;
  return labels;
}
inline std::string label(const std::string& key) {
  auto it = option_labels().find(key);
  return it == option_labels().end() ? "--" + key : it->second;
}

// The options a command was given, after CLI11 parsed them: values by long name, flags, and the
// positional words of a command that takes them.
class Args {
 public:
  Args() = default;
  Args(std::map<std::string, std::string> values, std::set<std::string> flags, std::vector<std::string> words)
      : values_(std::move(values)), flags_(std::move(flags)), words_(std::move(words)) {}

  bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  const std::vector<std::string>& words() const { return words_; }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  // Given at all, as a flag or with a value.
  bool given(const std::string& name) const { return has(name) || flag(name); }

  std::string str(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw usage_error("missing required option " + label(name));
    return it->second;
  }
  std::string str(const std::string& name, std::string fallback) const { return has(name) ? str(name) : fallback; }

  template <class T>
  T number(const std::string& name, T fallback) const {
    return has(name) ? parse_number<T>(name, str(name)) : fallback;
  }
  template <class T>
  T number(const std::string& name) const {
    return parse_number<T>(name, str(name));
  }
  // A number that must lie in [lo, hi]: the message names the option and the range.
  template <class T>
  T number_in(const std::string& name, T fallback, T lo, T hi) const {
    const T v = number<T>(name, fallback);
    if (!(v >= lo && v <= hi))
      throw usage_error(fmt_range(name, lo, hi) + ", not " + (has(name) ? str(name) : std::to_string(v)));
    return v;
  }

  // A comma-separated list of integers, e.g. `--tokens 1,2,3`.
  std::vector<std::int64_t> int_list(const std::string& name) const { return int_list(name, str(name)); }
  static std::vector<std::int64_t> int_list(const std::string& name, const std::string& s) {
    std::vector<std::int64_t> out;
    std::size_t start = 0;
    while (start <= s.size()) {
      std::size_t end = s.find(',', start);
      if (end == std::string::npos) end = s.size();
      out.push_back(parse_number<std::int64_t>(name, s.substr(start, end - start)));
      start = end + 1;
    }
    return out;
  }

  template <class T>
  static T parse_number(const std::string& name, const std::string& text) {
    T v{};
    const char* first = text.data();
    const char* last = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (text.empty() || ec != std::errc() || ptr != last)
      throw usage_error(label(name) + ": '" + text + "' is not a valid number");
    return v;
  }

  // Refuses options that the chosen mode of a command does not use: "--stop applies only to
  // --tokens", rather than ignoring them.
  void refuse(std::initializer_list<const char*> names, const std::string& why) const {
    for (const char* n : names)
      if (given(n)) throw usage_error(label(n) + " " + why);
  }

 private:
  template <class T>
  static std::string fmt_range(const std::string& name, T lo, T hi) {
    auto text = [](T x) {
      std::string t = std::to_string(x);
      if constexpr (std::is_floating_point_v<T>) {
        t.erase(t.find_last_not_of('0') + 1);
        if (!t.empty() && t.back() == '.') t.pop_back();
      }
      return t;
    };
    return label(name) + " must be between " + text(lo) + " and " + text(hi);
  }

  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> words_;
};

// A subcommand registers itself with a static Command object in its own source file; main.cpp
// turns each into a CLI11 subcommand, whose help CLI11 generates from `options`.
struct Command {
  std::string name;
  std::string summary;
  std::string usage;  // the synopsis: "gptoss generate -m DIR (-p TEXT | ...) [OPTIONS]"
  std::vector<Opt> options;
  std::function<int(const Args&)> run;
  std::string details = {};         // printed after the options in --help
  std::string words_name = {};      // non-empty: takes positional words (e.g. "render|parse")
};

inline std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> commands;
  return commands;
}

struct Register {
  explicit Register(Command c) { registry().emplace(c.name, std::move(c)); }
};

// Options every command takes.
inline const Opt verbose_opt{"-v,--verbose", "print more on stderr: the backend, load times", ""};
inline const Opt quiet_opt{"-q,--quiet", "print nothing on stderr but errors (no timings, notes or progress)", ""};

}  // namespace gptoss::cli
