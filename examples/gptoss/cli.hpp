// The command-line program's shared plumbing: options, the subcommand registry, exit codes.
// Bad arguments throw usage_error (exit 2, with the command's usage); library errors are
// gptoss::error (exit 1, one line on stderr).
#pragma once
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
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

// A command that takes positional words (`gptoss harmony render`) lists this pseudo-name among its
// options; Args then keeps the words that are not options, in order, in words().
inline const std::string positional_words = "<words>";

// Options of one subcommand: `--name value` pairs and bare `--flag`s. Which names take a value is
// declared by the command, so `--json` never swallows the next argument.
class Args {
 public:
  Args(std::vector<std::string> argv, const std::set<std::string>& flags, const std::set<std::string>& options) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (a.rfind("-", 0) != 0 && options.count(positional_words)) {
        words_.push_back(a);
        continue;
      }
      if (a.size() < 3 || a.rfind("--", 0) != 0) throw usage_error("unexpected argument '" + a + "'");
      std::string name = a.substr(2), value;
      bool has_inline = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline = true;
      }
      if (name == positional_words) throw usage_error("unknown option --" + name);
      if (flags.count(name)) {
        if (has_inline) throw usage_error("--" + name + " takes no value");
        flags_.insert(name);
      } else if (options.count(name)) {
        if (!has_inline) {
          if (i + 1 >= argv.size()) throw usage_error("--" + name + " needs a value");
          value = argv[++i];
        }
        if (values_.count(name)) throw usage_error("--" + name + " given twice");
        values_[name] = value;
      } else {
        throw usage_error("unknown option --" + name);
      }
    }
  }

  bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  const std::vector<std::string>& words() const { return words_; }
  bool has(const std::string& name) const { return values_.count(name) != 0; }

  std::string str(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw usage_error("missing required option --" + name);
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

  // A comma-separated list of integers, e.g. `--tokens 1,2,3`.
  std::vector<std::int64_t> int_list(const std::string& name) const {
    std::vector<std::int64_t> out;
    std::string s = str(name);
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
      throw usage_error("--" + name + ": '" + text + "' is not a valid number");
    return v;
  }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> words_;
};

// A subcommand registers itself with a static Command object in its own source file.
struct Command {
  std::string name;
  std::string summary;
  std::string usage;  // the full usage text, printed on a usage error
  std::set<std::string> flags;
  std::set<std::string> options;
  std::function<int(const Args&)> run;
};

inline std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> commands;
  return commands;
}

struct Register {
  explicit Register(Command c) { registry().emplace(c.name, std::move(c)); }
};

}  // namespace gptoss::cli
