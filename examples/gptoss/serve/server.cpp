#include "server.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include <httplib.h>

#include "openai.hpp"

namespace gptoss::serve {
namespace {

constexpr std::size_t max_body = 16u << 20;

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_id(const char* prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(prefix) + buf;
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                const std::string& param = "", const std::string& code = "") {
  res.status = status;
  if (status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_json(message, type, param, code).dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

// What the engine's thread hands to the HTTP thread of one request.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<engine::TokenEvent> events;
  bool done = false;
  engine::Result result;
};

class Server {
 public:
  Server(const ServerOptions& opt, const text::Tokenizer& tok, std::function<void(const std::string&)> log)
      : opt_(opt), tok_(tok), log_(std::move(log)) {
    http_.set_payload_max_length(max_body);
    const std::size_t threads = opt_.max_queue + std::size_t(opt_.parallel) + 8;
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413) send_error(res, 413, "the request body is larger than 16 MiB", "invalid_request_error");
      else if (res.status == 404) send_error(res, 404, "no such endpoint", "invalid_request_error", "", "not_found");
      else send_error(res, res.status, "the request failed", "invalid_request_error");
    });
    http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, 500, what, "server_error");
    });
    http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      if (engine::Engine* e = engine_.load())
        res.set_content(json{{"status", "ok"}, {"requests", e->pending()}, {"slots", e->options().parallel}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                        "application/json");
      else send_error(res, 503, "the model is loading", "unavailable_error", "", "loading");
    });
    http_.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      json m = {{"id", opt_.model_name}, {"object", "model"}, {"created", now_seconds()}, {"owned_by", "gptoss"}};
      res.set_content(json{{"object", "list"}, {"data", json::array({m})}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
    });
    http_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, Api::chat); });
    http_.Post("/v1/responses", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, Api::responses); });
  }

  bool bind() {
    if (opt_.port != 0) return http_.bind_to_port(opt_.host, opt_.port);
    opt_.port = http_.bind_to_any_port(opt_.host);
    return opt_.port > 0;
  }
  int port() const { return opt_.port; }
  void listen() { http_.listen_after_bind(); }
  void stop() { http_.stop(); }
  void ready(engine::Engine* e) { engine_.store(e); }

 private:
  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (opt_.api_key.empty()) return true;
    if (req.get_header_value("Authorization") == "Bearer " + opt_.api_key) return true;
    send_error(res, 401, "a valid API key is required (Authorization: Bearer KEY)", "invalid_request_error", "", "invalid_api_key");
    return false;
  }

  void handle(const httplib::Request& req, httplib::Response& res, Api api) {
    if (!authorized(req, res)) return;
    engine::Engine* eng = engine_.load();
    if (!eng) return send_error(res, 503, "the model is loading", "unavailable_error", "", "loading");
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {
      return send_error(res, 400, std::string("the body is not valid JSON: ") + e.what(), "invalid_request_error");
    }
    ServeDefaults d{opt_.reasoning_budget, opt_.ctx_size};
    Prepared p;
    try {
      p = api == Api::chat ? prepare_chat(body, tok_, d) : prepare_responses(body, tok_, d);
    } catch (const bad_request& e) {
      return send_error(res, 400, e.what(), "invalid_request_error", e.param);
    } catch (const error& e) {
      return send_error(res, 400, e.what(), "invalid_request_error");
    }
    auto ch = std::make_shared<Channel>();
    std::shared_ptr<engine::RequestHandle> h;
    engine::Callbacks cb;
    cb.on_token = [ch](const engine::TokenEvent& ev) {
      {
        std::lock_guard lock(ch->mu);
        ch->events.push_back(ev);
      }
      ch->cv.notify_all();
      return true;
    };
    cb.on_done = [ch](const engine::Result& r) {
      {
        std::lock_guard lock(ch->mu);
        ch->done = true;
        ch->result = r;
      }
      ch->cv.notify_all();
    };
    try {
      h = eng->submit(std::move(p.request), std::move(cb));
    } catch (const engine::busy_error& e) {
      return send_error(res, 503, std::string(e.what()) + ": try again later", "unavailable_error", "", "queue_full");
    } catch (const error& e) {
      return send_error(res, 400, e.what(), "invalid_request_error");
    }
    auto state = std::make_shared<Stream>(tok_, api, std::move(p), ch, h);
    const char* type = state->p.stream ? "text/event-stream" : "application/json";
    if (state->p.stream) res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        type,
        [state](std::size_t, httplib::DataSink& sink) {
          try {
            return state->run(sink);
          } catch (...) {
            return state->fail();
          }
        },
        [state](bool) { state->h->cancel(); });
  }

  // One request's reply: reads the engine's events, assembles them, and writes the reply
  // (streamed as it comes, or whole at the end).
  struct Stream {
    Stream(const text::Tokenizer& tok_, Api api_, Prepared p_, std::shared_ptr<Channel> ch_, std::shared_ptr<engine::RequestHandle> h_)
        : tok(tok_), api(api_), p(std::move(p_)), ch(std::move(ch_)), h(std::move(h_)),
          id(random_id(api_ == Api::chat ? "chatcmpl-" : "resp_")), created(now_seconds()),
          a(tok_, api_ == Api::chat ? "call_" : "fc_", p.stop) {}

    const text::Tokenizer& tok;
    Api api;
    Prepared p;
    std::shared_ptr<Channel> ch;
    std::shared_ptr<engine::RequestHandle> h;
    std::string id;
    std::int64_t created;
    ReplyAssembler a;
    std::size_t seq = 0;  // Responses: sequence_number

    json chunk(json delta, json logprobs = nullptr, json finish = nullptr) const {
      return {{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", created},
              {"model", p.model},
              {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)}, {"finish_reason", std::move(finish)}}})}};
    }
    bool sse(httplib::DataSink& sink, const json& j) {
      const std::string s = "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
      return sink.write(s.data(), s.size());
    }
    bool event(httplib::DataSink& sink, const char* type, json j) {
      json head = {{"type", type}, {"sequence_number", seq++}};
      head.update(j);
      j = std::move(head);
      const std::string s = std::string("event: ") + type + "\ndata: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
      return sink.write(s.data(), s.size());
    }

    json chat_delta_json(const Delta& d) const {
      if (d.kind == Delta::Kind::reasoning) return {{"reasoning_content", d.text}};
      if (d.kind == Delta::Kind::content) return {{"content", d.text}};
      json call = {{"index", d.tool_index}};
      if (!d.tool_name.empty()) {
        call["id"] = d.tool_id;
        call["type"] = "function";
        call["function"] = {{"name", d.tool_name}, {"arguments", d.text}};
      } else {
        call["function"] = {{"arguments", d.text}};
      }
      return {{"tool_calls", json::array({call})}};
    }

    json response_json(const engine::Result& r, const char* status) const {
      json output = json::array();
      if (!a.reasoning.empty())
        output.push_back({{"id", id + "_r"}, {"type", "reasoning"}, {"summary", json::array()},
                          {"content", json::array({{{"type", "reasoning_text"}, {"text", a.reasoning}}})}});
      for (const auto& c : a.calls)
        output.push_back({{"id", c.id}, {"type", "function_call"}, {"status", "completed"}, {"call_id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
      if (!a.content.empty() || a.calls.empty())
        output.push_back({{"id", id + "_m"}, {"type", "message"}, {"status", status}, {"role", "assistant"},
                          {"content", json::array({{{"type", "output_text"}, {"text", a.content}, {"annotations", json::array()}}})}});
      json j = {{"id", id}, {"object", "response"}, {"created_at", created}, {"status", status}, {"model", p.model},
                {"output", output}, {"usage", usage_json(r, Api::responses)}};
      j["incomplete_details"] = std::string(status) == "incomplete" ? json{{"reason", "max_output_tokens"}} : json(nullptr);
      j["error"] = nullptr;
      return j;
    }

    // Waits for the next events or the end; false when the client went away. cpp-httplib tells
    // a closed connection only by a failed write, so a wait of more than a quarter second writes
    // something the client ignores: whitespace before a JSON body, an SSE comment in a stream.
    bool next(httplib::DataSink& sink, std::deque<engine::TokenEvent>& got, bool& done) {
      std::unique_lock lock(ch->mu);
      while (ch->events.empty() && !ch->done) {
        if (ch->cv.wait_for(lock, std::chrono::milliseconds(250)) == std::cv_status::timeout && ch->events.empty() && !ch->done) {
          const char* beat = p.stream ? ":\n\n" : " ";
          lock.unlock();
          const bool alive = sink.is_writable() && sink.write(beat, std::strlen(beat));
          lock.lock();
          if (!alive) return false;
        }
      }
      got.swap(ch->events);
      done = ch->done && ch->events.empty();
      return true;
    }

    bool run(httplib::DataSink& sink) {
      if (p.stream) {
        if (api == Api::chat) {
          if (!sse(sink, chunk({{"role", "assistant"}, {"content", ""}}))) return fail();
        } else {
          if (!event(sink, "response.created", {{"response", response_json({}, "in_progress")}})) return fail();
        }
      }
      std::deque<engine::TokenEvent> got;
      bool done = false;
      while (!done) {
        if (!next(sink, got, done)) return fail();
        for (const auto& ev : got) {
          auto deltas = a.push(ev.token);
          if (a.stopped()) h->cancel();
          if (!p.stream) continue;
          if (api == Api::chat) {
            json lp = p.logprobs ? logprobs_json(tok, engine::Result{.events = {ev}}) : json(nullptr);
            if (deltas.empty() && p.logprobs) deltas.push_back({Delta::Kind::content, ""});
            for (std::size_t i = 0; i < deltas.size(); ++i)
              if (!sse(sink, chunk(chat_delta_json(deltas[i]), i == 0 ? lp : json(nullptr)))) return fail();
          } else if (!responses_deltas(sink, deltas)) {
            return fail();
          }
        }
        got.clear();
      }
      auto tail = a.finish();
      const engine::Result& r = ch->result;
      if (r.finish == engine::Finish::error) {
        const json e = error_json(r.error, "server_error");
        if (p.stream) {
          sse(sink, e);
        } else {
          const std::string s = e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
          sink.write(s.data(), s.size());
        }
        sink.done();
        return true;
      }
      const std::string reason = finish_reason(r, a);
      if (api == Api::chat) {
        if (p.stream) {
          for (const auto& d : tail)
            if (!sse(sink, chunk(chat_delta_json(d)))) return fail();
          if (!sse(sink, chunk(json::object(), nullptr, reason))) return fail();
          if (p.include_usage) {
            json u = chunk(json::object());
            u["choices"] = json::array();
            u["usage"] = usage_json(r, Api::chat);
            if (!sse(sink, u)) return fail();
          }
          const std::string end = "data: [DONE]\n\n";
          if (!sink.write(end.data(), end.size())) return fail();
        } else {
          json choice = {{"index", 0}, {"message", chat_message_json(a)},
                         {"logprobs", p.logprobs ? logprobs_json(tok, r) : json(nullptr)}, {"finish_reason", reason}};
          json j = {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", p.model},
                    {"choices", json::array({choice})}, {"usage", usage_json(r, Api::chat)}};
          const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
          if (!sink.write(s.data(), s.size())) return fail();
        }
      } else {
        const char* status = reason == "length" ? "incomplete" : "completed";
        if (p.stream) {
          if (!responses_deltas(sink, tail)) return fail();
          if (!event(sink, reason == "length" ? "response.incomplete" : "response.completed", {{"response", response_json(r, status)}}))
            return fail();
        } else {
          const std::string s = response_json(r, status).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
          if (!sink.write(s.data(), s.size())) return fail();
        }
      }
      sink.done();
      return true;
    }

    bool responses_deltas(httplib::DataSink& sink, const std::vector<Delta>& deltas) {
      for (const auto& d : deltas) {
        bool ok = true;
        if (d.kind == Delta::Kind::content)
          ok = event(sink, "response.output_text.delta", {{"item_id", id + "_m"}, {"output_index", 0}, {"content_index", 0}, {"delta", d.text}});
        else if (d.kind == Delta::Kind::reasoning)
          ok = event(sink, "response.reasoning_text.delta", {{"item_id", id + "_r"}, {"output_index", 0}, {"content_index", 0}, {"delta", d.text}});
        else if (!d.text.empty())
          ok = event(sink, "response.function_call_arguments.delta", {{"item_id", a.calls[std::size_t(d.tool_index)].id}, {"output_index", d.tool_index}, {"delta", d.text}});
        if (!ok) return false;
      }
      return true;
    }

    bool fail() {
      h->cancel();
      return false;
    }
  };

  ServerOptions opt_;
  const text::Tokenizer& tok_;
  std::function<void(const std::string&)> log_;
  httplib::Server http_;
  std::atomic<engine::Engine*> engine_{nullptr};
};

}  // namespace

int run_server(const ServerOptions& opt, const text::Tokenizer& tok, const std::function<std::unique_ptr<AnyModel>()>& load,
               const std::function<void(const std::string&)>& log) {
  Server server(opt, tok, log);
  if (!server.bind()) {
    log("cannot listen on " + opt.host + ":" + std::to_string(opt.port));
    return 1;
  }
  std::thread listener([&] { server.listen(); });
  std::unique_ptr<AnyModel> model;
  std::unique_ptr<engine::Engine> eng;
  try {
    model = load();
    eng = std::make_unique<engine::Engine>(*model, engine::EngineOptions{.parallel = opt.parallel, .ctx_size = opt.ctx_size, .max_queue = opt.max_queue});
  } catch (const std::exception& e) {
    log(std::string("error: ") + e.what());
    server.stop();
    listener.join();
    return 1;
  }
  eng->start();
  server.ready(eng.get());
  log("listening on http://" + opt.host + ":" + std::to_string(server.port()) + " (" + std::to_string(opt.parallel) + " slots of " +
      std::to_string(opt.ctx_size) + " tokens)");
  listener.join();
  return 0;
}

}  // namespace gptoss::serve
