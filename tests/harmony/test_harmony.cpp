// The Harmony chat format: the golden cases (render, parse, stream), special-token safety of
// rendered text, hostile parser input, the builder API and the `gptoss harmony` command.
#define BOOST_TEST_MODULE harmony
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gptoss/harmony/harmony.hpp"
#include "gptoss/text/tokenizer.hpp"

using namespace gptoss;
using namespace gptoss::harmony;
namespace fs = std::filesystem;

namespace {

const std::string vocab_path = GPTOSS_TEST_DATA "/tokenizer/o200k_base.tiktoken";
const std::string harmony_data = GPTOSS_TEST_DATA "/harmony";

const text::Tokenizer& tok() {
  static const text::Tokenizer t = text::Tokenizer::from_file(vocab_path);
  return t;
}

std::vector<ordered_json> cases(const std::string& kind) {
  std::ifstream f(harmony_data + "/cases.jsonl");
  BOOST_REQUIRE(f);
  std::vector<ordered_json> out;
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) {
      auto c = ordered_json::parse(line);
      if (c["kind"] == kind) out.push_back(std::move(c));
    }
  return out;
}

// Key order does not matter when comparing messages.
nlohmann::json unordered(const ordered_json& j) { return nlohmann::json::parse(j.dump()); }

std::string error_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const harmony_error& e) {
    return std::string(to_string(e.kind));
  }
  return "(no error)";
}

std::string json_or_null(const std::optional<std::string>& s) { return s ? ordered_json(*s).dump() : "null"; }

}  // namespace

BOOST_AUTO_TEST_CASE(render_cases) {
  auto all = cases("render");
  BOOST_TEST(all.size() == 54u);
  for (const auto& c : all) {
    BOOST_TEST_CONTEXT(c["id"].get<std::string>()) {
      const auto& expected = c["expected"];
      if (expected.contains("error")) {
        BOOST_TEST(error_kind([&] { render_request(tok(), c); }) == expected["error"].get<std::string>());
        continue;
      }
      ordered_json out = render_request(tok(), c);
      BOOST_TEST(out["tokens"] == expected["tokens"]);
      BOOST_TEST(out["text"] == expected["text"]);
    }
  }
}

// The fixture cases reproduce upstream's files (compared, as upstream does, after rstrip): rendered
// text for render cases, the input tokens for parse cases.
BOOST_AUTO_TEST_CASE(cases_match_upstream_fixtures) {
  int checked = 0;
  for (const char* kind : {"render", "parse"})
    for (const auto& c : cases(kind)) {
      if (!c.contains("fixture")) continue;
      BOOST_TEST_CONTEXT(c["id"].get<std::string>()) {
        fs::path file =
            fs::path(harmony_data) / "upstream-test-data" / fs::path(c["fixture"].get<std::string>()).filename();
        std::ifstream f(file, std::ios::binary);
        BOOST_REQUIRE(f);
        std::string want((std::istreambuf_iterator<char>(f)), {});
        while (!want.empty() && std::isspace(static_cast<unsigned char>(want.back()))) want.pop_back();
        if (kind == std::string("render")) {
          BOOST_TEST(render_request(tok(), c)["text"].get<std::string>() == want);
        } else if (want.find_first_not_of("0123456789 \n") == std::string::npos) {
          std::istringstream ids(want);  // some fixtures are token id lists
          ordered_json tokens = ordered_json::array();
          for (token_id t; ids >> t;) tokens.push_back(t);
          BOOST_TEST(tokens == c["input"]["tokens"]);
        } else {
          BOOST_TEST(ordered_json(tok().encode_with_all_specials(want)) == c["input"]["tokens"]);
        }
        ++checked;
      }
    }
  BOOST_TEST(checked == 23);
}

BOOST_AUTO_TEST_CASE(parse_cases) {
  auto all = cases("parse");
  BOOST_TEST(all.size() == 39u);
  for (const auto& c : all) {
    BOOST_TEST_CONTEXT(c["id"].get<std::string>()) {
      const auto& expected = c["expected"];
      if (expected.contains("error")) {
        BOOST_TEST(error_kind([&] { parse_request(tok(), c); }) == expected["error"].get<std::string>());
        continue;
      }
      BOOST_TEST(unordered(parse_request(tok(), c)["messages"]) == unordered(expected["messages"]));
    }
  }
}

BOOST_AUTO_TEST_CASE(stream_cases) {
  auto all = cases("stream");
  BOOST_TEST(all.size() == 5u);
  for (const auto& c : all) {
    BOOST_TEST_CONTEXT(c["id"].get<std::string>()) {
      ParseInput in = parse_input_from_json(c["input"]);
      const auto& expected = c["expected"];
      const auto& steps = expected["steps"];
      StreamParser p(tok(), in.role, in.strict);
      std::string error = "(no error)";
      std::size_t n_steps = 0;
      try {
        for (token_id t : in.tokens) {
          p.push(t);
          BOOST_REQUIRE(n_steps < steps.size());
          const auto& s = steps[n_steps++];
          BOOST_TEST_CONTEXT("step " << n_steps - 1 << " token " << t) {
            BOOST_TEST(s["token"].get<token_id>() == t);
            auto role = p.current_role();
            BOOST_TEST(json_or_null(role ? std::optional<std::string>(to_string(*role)) : std::nullopt) ==
                       s["current_role"].dump());
            BOOST_TEST(json_or_null(p.current_channel()) == s["current_channel"].dump());
            BOOST_TEST(json_or_null(p.current_recipient()) == s["current_recipient"].dump());
            BOOST_TEST(json_or_null(p.current_content_type()) == s["current_content_type"].dump());
            BOOST_TEST(json_or_null(p.last_content_delta()) == s["last_content_delta"].dump());
            BOOST_TEST(p.current_content() == s["current_content"].get<std::string>());
            BOOST_TEST(p.messages().size() == s["n_messages"].get<std::size_t>());
          }
        }
        if (c["input"]["eos_at_end"].get<bool>()) p.finish();
      } catch (const harmony_error& e) {
        error = std::string(to_string(e.kind));
      }
      BOOST_TEST(n_steps == steps.size());
      BOOST_TEST(error == (expected.contains("error") ? expected["error"].get<std::string>() : "(no error)"));
      BOOST_TEST(unordered(to_json(p.messages())) == unordered(expected["messages"]));
    }
  }
}

// Text can never become a control token: put every special token's text into every kind of
// caller-supplied content and check that only the renderer's own structural tokens are special.
BOOST_AUTO_TEST_CASE(special_token_text_stays_text) {
  const std::set<token_id> structural{tokens::start, tokens::message, tokens::end, tokens::channel, tokens::constrain,
                                      tokens::call};
  auto conversation = [](const std::string& s) {
    return Conversation()
        .system(SystemContent{.model_identity = "Identity " + s})
        .developer(DeveloperContent{
            .instructions = "Say " + s,
            .tools = {{.name = "functions",
                       .description = "ns " + s,
                       .tools = {{.name = "f", .description = "does " + s, .parameters = std::nullopt}}}}})
        .user("before " + s + " after")
        .add(Message{.role = Role::assistant,
                     .recipient = "functions.f",
                     .channel = "commentary",
                     .content_type = "<|constrain|>json",
                     .content = {"{\"x\": \"" + s + "\"}"}})
        .tool_result("functions.f", s);
  };
  auto count_structural = [&](const std::vector<token_id>& ids) {
    std::size_t n = 0;
    for (token_id t : ids) {
      if (tok().is_special(t) && !structural.count(t)) return std::size_t(-1);
      n += structural.count(t);
    }
    return n;
  };
  const std::size_t want = count_structural(render_conversation(tok(), conversation("plain")));
  std::vector<std::string> texts{"<|endofprompt|>", "<|reserved_200018|>", "<|reserved_201088|>"};
  for (token_id id = 199998; id <= 201087; ++id) texts.emplace_back(tok().token_bytes(id));
  for (const auto& s : texts) {
    BOOST_TEST_CONTEXT(s) {
      auto ids = render_conversation(tok(), conversation(s));
      BOOST_TEST(count_structural(ids) == want);
      BOOST_TEST(tok().decode(ids).find("before " + s + " after") != std::string::npos);
    }
  }
}

// Whatever the tokens, parsing either succeeds or throws harmony_error; it never crashes. What
// parses is valid UTF-8, and it is a fixed point of rendering: the messages rendered back (keeping
// every message) and parsed again are the same messages. Not where a header field's text holds
// "<|constrain|>" or "<|channel|>": rendered as text, the parser looks for those markers in the
// header's text (as the reference does), so such a field cannot come back as it was.
BOOST_AUTO_TEST_CASE(parser_survives_hostile_input) {
  std::mt19937 rng(1234);
  const std::vector<token_id> interesting{tokens::start,  tokens::message,  tokens::end, tokens::call,
                                          tokens::return_, tokens::channel, tokens::constrain,
                                          9552,           31446,            244,         173781,
                                          201087,         201088,           4294967295u, 0};
  int parsed = 0, with_messages = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<token_id> ids(rng() % 24);
    for (auto& t : ids)
      t = rng() % 3 ? interesting[rng() % interesting.size()] : static_cast<token_id>(rng() % 201100);
    for (bool strict : {true, false})
      for (auto role : {std::optional<Role>(), std::optional<Role>(Role::assistant)}) {
        std::vector<Message> messages;
        try {
          messages = parse_completion(tok(), ids, role, strict);
        } catch (const harmony_error&) {
          continue;
        }
        ++parsed;
        if (messages.empty()) continue;
        auto has_marker = [](const std::optional<std::string>& f) {
          return f && (f->find("<|constrain|>") != std::string::npos || f->find("<|channel|>") != std::string::npos);
        };
        bool ambiguous = false;
        for (const auto& m : messages)
          ambiguous = ambiguous || has_marker(m.recipient) || has_marker(m.channel) || has_marker(m.content_type) ||
                      has_marker(m.name);
        if (ambiguous) continue;
        ++with_messages;
        BOOST_TEST_CONTEXT("round " << round << " strict " << strict << " role " << bool(role)) {
          const std::string json = to_json(messages).dump();  // throws on invalid UTF-8
          const auto again = parse_completion(tok(), render_conversation(tok(), messages, {.auto_drop_analysis = false}));
          BOOST_TEST(to_json(again).dump() == json);
        }
      }
  }
  // The property was exercised, not vacuously true.
  BOOST_TEST_MESSAGE(parsed << " parses, " << with_messages << " with messages");
  BOOST_TEST(with_messages > 150);
}

// A character whose UTF-8 bytes arrive in separate byte tokens is shown once, whole, when its last
// byte comes; an unfinished one at the end of the message, or one broken by another byte, becomes
// U+FFFD.
BOOST_AUTO_TEST_CASE(stream_parser_joins_a_character_split_across_tokens) {
  auto byte_token = [](unsigned char b) {
    for (token_id id = 0; id < 199998; ++id)
      if (tok().token_bytes(id) == std::string(1, char(b))) return id;
    BOOST_FAIL("no single-byte token for " << int(b));
    return token_id(0);
  };
  const std::vector<token_id> euro{byte_token(0xE2), byte_token(0x82), byte_token(0xAC)};  // U+20AC
  const auto header = tok().encode_with_all_specials("<|channel|>final<|message|>");
  auto start = [&](StreamParser& p) {
    for (token_id t : header) p.push(t);
    for (token_id t : tok().encode_ordinary("Price: ")) p.push(t);
    BOOST_REQUIRE(p.current_content() == "Price: ");
  };
  {
    StreamParser p(tok(), Role::assistant);
    start(p);
    p.push(euro[0]);
    BOOST_TEST(!p.last_content_delta());
    BOOST_TEST(p.current_content() == "Price: ");
    p.push(euro[1]);
    BOOST_TEST(!p.last_content_delta());
    BOOST_TEST(p.current_content() == "Price: ");
    p.push(euro[2]);
    BOOST_REQUIRE(p.last_content_delta());
    BOOST_TEST(*p.last_content_delta() == "\xE2\x82\xAC");
    BOOST_TEST(p.current_content() == "Price: \xE2\x82\xAC");
    p.push(byte_token('5'));
    BOOST_TEST(*p.last_content_delta() == "5");
    p.push(tokens::end);
    BOOST_REQUIRE_EQUAL(p.messages().size(), 1u);
    BOOST_TEST(p.messages()[0].text() == "Price: \xE2\x82\xAC" "5");
  }
  {  // The message ends after two of the three bytes.
    StreamParser p(tok(), Role::assistant);
    start(p);
    p.push(euro[0]);
    p.push(euro[1]);
    p.push(tokens::end);
    BOOST_REQUIRE_EQUAL(p.messages().size(), 1u);
    BOOST_TEST(p.messages()[0].text() == "Price: \xEF\xBF\xBD");
  }
  {  // An ASCII byte where the second byte should be: U+FFFD, then the byte (which, as in the
     // reference, waits: one token resolves at most one invalid sequence).
    StreamParser p(tok(), Role::assistant);
    start(p);
    p.push(euro[0]);
    p.push(byte_token('7'));
    BOOST_REQUIRE(p.last_content_delta());
    BOOST_TEST(*p.last_content_delta() == "\xEF\xBF\xBD");
    p.finish();
    BOOST_REQUIRE_EQUAL(p.messages().size(), 1u);
    BOOST_TEST(p.messages()[0].text() == "Price: \xEF\xBF\xBD" "7");
  }
}

BOOST_AUTO_TEST_CASE(builder_renders_for_completion) {
  auto c = Conversation()
               .system(SystemContent{.reasoning_effort = ReasoningEffort::high})
               .developer("Always respond in riddles")
               .user("What is the weather like in SF?");
  auto ids = render_for_completion(tok(), c);
  BOOST_TEST(tok().decode(ids) ==
             "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
             "Knowledge cutoff: 2024-06\n\nReasoning: high\n\n"
             "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
             "<|start|>developer<|message|># Instructions\n\nAlways respond in riddles<|end|>"
             "<|start|>user<|message|>What is the weather like in SF?<|end|><|start|>assistant");

  // A sampled reply fed back through the streaming parser, then stored for the next turn.
  std::vector<token_id> reply = tok().encode_with_all_specials(
      "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Hi!<|return|>");
  StreamParser p(tok(), Role::assistant);
  std::string shown;
  for (token_id t : reply) {
    p.push(t);
    if (p.last_content_delta() && p.current_channel() == "final") shown += *p.last_content_delta();
  }
  p.finish();
  BOOST_TEST(shown == "Hi!");
  BOOST_REQUIRE(p.messages().size() == 2u);
  for (const auto& m : p.messages()) c.add(m);
  c.user("Again?");
  // The analysis before the final answer is dropped; the final answer ends with <|end|>.
  std::string next = tok().decode(render_for_completion(tok(), c));
  BOOST_TEST(next.find("Think.") == std::string::npos);
  BOOST_TEST(next.find("<|start|>assistant<|channel|>final<|message|>Hi!<|end|><|start|>user") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(builtin_tools_match_the_fixture) {
  for (const auto& c : cases("render")) {
    if (c.value("fixture", "") != "test-data/test_browser_and_python_tool.txt") continue;
    std::vector<Message> messages = messages_from_json(c["messages"]);
    auto& sys = std::get<SystemContent>(messages[0].content[0]);
    sys.tools = {python_tool(), browser_tools()};
    BOOST_TEST(tok().decode(render_for_completion(tok(), messages)) == c["expected"]["text"].get<std::string>());
    return;
  }
  BOOST_FAIL("fixture case not found");
}

BOOST_AUTO_TEST_CASE(json_round_trip) {
  for (const auto& c : cases("render")) {
    if (c["expected"].contains("error")) continue;
    BOOST_TEST_CONTEXT(c["id"].get<std::string>()) {
      auto messages = messages_from_json(c["messages"]);
      auto again = messages_from_json(to_json(messages));
      BOOST_TEST(render_conversation(tok(), again) == render_conversation(tok(), messages));
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_json_is_input_error) {
  for (const char* bad : {R"([])", R"({"messages": [{"role": "robot", "content": "x"}]})",
                          R"({"messages": [{"role": "user", "content": 5}]})",
                          R"({"render": {"mode": "bogus"}, "messages": []})",
                          R"({"messages": [{"role": "user", "content": [{"type": "image"}]}]})"}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_CHECK_THROW(render_request(tok(), ordered_json::parse(bad)), input_error);
    }
  }
  for (const char* bad : {R"({})", R"({"input": {"tokens": [-1]}})", R"({"input": {"tokens": [4294967296]}})",
                          R"({"input": {"tokens": [1.5]}})", R"({"input": {"role": 3, "tokens": []}})"}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_CHECK_THROW(parse_request(tok(), ordered_json::parse(bad)), input_error);
    }
  }
}

// ---- the command-line program ----------------------------------------------------------------

namespace {

struct Run {
  int status;
  std::string out;
};

Run run_cli(const std::string& verb, const std::string& stdin_text) {
  fs::path dir = fs::temp_directory_path() / ("gptoss_harmony_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in.json", std::ios::binary) << stdin_text;
  std::string cmd = "'" + std::string(GPTOSS_CLI) + "' harmony " + verb + " --vocab '" + vocab_path + "' < '" +
                    (dir / "in.json").string() + "' > '" + (dir / "out.json").string() + "' 2>/dev/null";
  int status = std::system(cmd.c_str());
  std::ifstream f(dir / "out.json", std::ios::binary);
  std::string out((std::istreambuf_iterator<char>(f)), {});
  fs::remove_all(dir);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

BOOST_AUTO_TEST_CASE(cli_render_and_parse) {
  int i = 0;
  for (const char* kind : {"render", "parse"})
    for (const auto& c : cases(kind)) {
      if (i++ % 6) continue;  // a subset: every sixth case
      BOOST_TEST_CONTEXT(c["id"].get<std::string>()) {
        ordered_json request = kind == std::string("render")
                                   ? ordered_json{{"render", c["render"]}, {"messages", c["messages"]}}
                                   : ordered_json{{"input", c["input"]}};
        Run r = run_cli(kind, request.dump());
        ordered_json out = ordered_json::parse(r.out);
        const auto& expected = c["expected"];
        if (expected.contains("error")) {
          BOOST_TEST(r.status == 1);
          BOOST_TEST(out == ordered_json({{"error", expected["error"]}}));
        } else if (kind == std::string("render")) {
          BOOST_TEST(r.status == 0);
          BOOST_TEST(out["tokens"] == expected["tokens"]);
          BOOST_TEST(out["text"] == expected["text"]);
        } else {
          BOOST_TEST(r.status == 0);
          BOOST_TEST(unordered(out["messages"]) == unordered(expected["messages"]));
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(cli_errors) {
  Run r = run_cli("render", R"({"render": {"mode": "message"}, "messages": [{"role": "tool", "content": "x"}]})");
  BOOST_TEST(r.status == 1);
  BOOST_TEST(ordered_json::parse(r.out) == ordered_json({{"error", "tool_without_name"}}));

  r = run_cli("parse", R"({"input": {"role": null, "tokens": [4294967295]}})");
  BOOST_TEST(r.status == 1);
  BOOST_TEST(ordered_json::parse(r.out) == ordered_json({{"error", "expected_start_token"}}));

  r = run_cli("parse", "{\"input\": ");
  BOOST_TEST(r.status == 1);
  BOOST_TEST(ordered_json::parse(r.out) == ordered_json({{"error", "invalid_json"}}));

  r = run_cli("render", R"({"messages": "nope"})");
  BOOST_TEST(r.status == 1);
  BOOST_TEST(ordered_json::parse(r.out) == ordered_json({{"error", "invalid_input"}}));

  // Nesting deep enough to exhaust the stack of a recursive renderer is refused.
  std::string deep = R"({"messages": [{"role": "user", "content": "x"}], "junk": )";
  deep += std::string(100000, '[') + std::string(100000, ']') + "}";
  r = run_cli("render", deep);
  BOOST_TEST(r.status == 1);
  BOOST_TEST(ordered_json::parse(r.out) == ordered_json({{"error", "invalid_json"}}));

  r = run_cli("bogus", "{}");
  BOOST_TEST(r.status == 2);  // usage error
}
