// gptoss serve, judged by the official openai client: a small random model with the real
// vocabulary (gptoss synth --config tiny-harmony), every endpoint and the fields the server
// supports, streamed against whole replies, concurrent against sequential, the prefix cache,
// errors, auth, a disconnect mid-stream, the queue limit and a load of 200 requests.
//
//   GPTOSS=build/gptoss GPTOSS_VOCAB_FILE=tests/data/tokenizer/o200k_base.tiktoken node --test tests/serve/serve.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";

const gptoss = process.env.GPTOSS;
const vocab = process.env.GPTOSS_VOCAB_FILE;
if (!gptoss || !vocab) throw new Error("set GPTOSS (the gptoss program) and GPTOSS_VOCAB_FILE");
const KEY = "test-key";

const dir = mkdtempSync(join(tmpdir(), "gptoss-serve-"));
const modelDir = join(dir, "tiny-harmony");
const servers = [];

// Starts `gptoss serve` on a free port; resolves once it says where it listens.
function startServer(extra) {
  return new Promise((resolve, reject) => {
    const proc = spawn(gptoss, ["serve", "-m", modelDir, "--vocab", vocab, "--port", "0", "-t", "2", ...extra], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    servers.push(proc);
    let err = "";
    proc.stderr.on("data", (d) => {
      err += d;
      const m = /listening on (http:\/\/[^ ]+)/.exec(err);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.on("exit", (code) => reject(new Error(`gptoss serve exited with ${code}: ${err}`)));
  });
}

let main; // --parallel 4, with an API key
let small; // --parallel 1 --queue 1, no key
const client = () => new OpenAI({ apiKey: KEY, baseURL: main.url + "/v1", maxRetries: 0 });

before(async () => {
  execFileSync(gptoss, ["synth", "--config", "tiny-harmony", "--layers", "1", "-q", "--out", modelDir]);
  main = await startServer(["--parallel", "4", "-c", "1024", "--api-key", KEY]);
  small = await startServer(["--parallel", "1", "--queue", "1", "-c", "8192"]);
});

after(() => {
  for (const p of servers) p.kill();
  rmSync(dir, { recursive: true, force: true });
});

const question = (i) => [{ role: "user", content: `Question number ${i}: what is ${i} plus ${i}?` }];

// A streamed chat reply put together as the non-streamed one reads.
async function collect(stream) {
  const msg = { content: "", reasoning_content: "", tool_calls: [] };
  let finish = null, usage = null, logprobs = [];
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      const d = c.delta;
      if (d.content) msg.content += d.content;
      if (d.reasoning_content) msg.reasoning_content += d.reasoning_content;
      for (const t of d.tool_calls ?? []) {
        msg.tool_calls[t.index] ??= { id: t.id, type: "function", function: { name: "", arguments: "" } };
        if (t.function?.name) msg.tool_calls[t.index].function.name = t.function.name;
        msg.tool_calls[t.index].function.arguments += t.function?.arguments ?? "";
      }
      if (c.logprobs?.content) logprobs.push(...c.logprobs.content);
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { msg, finish, usage, logprobs };
}

function sameMessage(streamed, whole) {
  assert.equal(streamed.content, whole.content ?? "");
  assert.equal(streamed.reasoning_content, whole.reasoning_content ?? "");
  assert.deepEqual(streamed.tool_calls, whole.tool_calls ?? []);
}

test("health and models", async () => {
  const h = await fetch(main.url + "/health"); // no key needed
  assert.equal(h.status, 200);
  const models = await client().models.list();
  assert.ok(models.data.length >= 1);
  assert.equal(typeof models.data[0].id, "string");
});

test("chat completion: shape, usage, max_tokens", async () => {
  const r = await client().chat.completions.create({ model: "anything", messages: question(1), max_tokens: 12, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  if (r.usage.completion_tokens === 12) assert.equal(r.choices[0].finish_reason, "length");
});

test("streamed equals non-streamed (greedy and seeded sampling, logprobs, usage)", async () => {
  for (const sampling of [{ temperature: 0 }, { temperature: 1, top_p: 0.9, seed: 42 }]) {
    const req = { model: "m", messages: question(2), max_tokens: 24, logprobs: true, top_logprobs: 2, ...sampling };
    const whole = await client().chat.completions.create(req);
    const streamed = await collect(await client().chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } }));
    sameMessage(streamed.msg, whole.choices[0].message);
    assert.equal(streamed.finish, whole.choices[0].finish_reason);
    assert.equal(streamed.usage.completion_tokens, whole.usage.completion_tokens);
    // logprobs: one entry per generated token (reasoning too), each with 2 alternatives.
    const lp = whole.choices[0].logprobs.content;
    assert.equal(lp.length, whole.usage.completion_tokens);
    for (const e of lp) {
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 2);
      assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
      assert.ok(e.logprob <= e.top_logprobs[0].logprob);
    }
    assert.deepEqual(streamed.logprobs.map((e) => e.logprob), lp.map((e) => e.logprob));
  }
});

test("concurrent requests equal sequential ones, bitwise", async () => {
  const reqs = Array.from({ length: 8 }, (_, i) => ({
    model: "m", messages: question(10 + i), max_tokens: 16, logprobs: true,
    ...(i % 2 ? { temperature: 0.8, seed: i } : { temperature: 0 }),
  }));
  const sequential = [];
  for (const r of reqs) sequential.push(await client().chat.completions.create(r));
  const concurrent = await Promise.all(reqs.map((r) => client().chat.completions.create(r)));
  for (let i = 0; i < reqs.length; i++) {
    assert.equal(concurrent[i].choices[0].message.content, sequential[i].choices[0].message.content, `request ${i}`);
    assert.deepEqual(concurrent[i].choices[0].logprobs.content.map((e) => e.logprob),
      sequential[i].choices[0].logprobs.content.map((e) => e.logprob), `request ${i} logprobs`);
  }
});

test("second turn comes from the prefix cache", async () => {
  const first = await client().chat.completions.create({ model: "m", messages: question(3), max_tokens: 8, temperature: 0 });
  const second = await client().chat.completions.create({
    model: "m", max_tokens: 8, temperature: 0,
    messages: [...question(3), { role: "assistant", content: first.choices[0].message.content || "ok" }, { role: "user", content: "And twice that?" }],
  });
  // The second prompt starts with the first (which ends with <|start|>assistant): all of it but its
  // last token is reused.
  assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens);
  assert.ok(second.usage.prompt_tokens_details.cached_tokens >= first.usage.prompt_tokens - 1,
    `cached ${second.usage.prompt_tokens_details.cached_tokens} of ${first.usage.prompt_tokens}`);
});

test("response_format json_schema gives JSON valid for the schema", async () => {
  const schema = { type: "object", properties: { answer: { type: "string", maxLength: 12 }, n: { type: "integer" } }, required: ["answer", "n"], additionalProperties: false };
  const r = await client().chat.completions.create({
    model: "m", messages: question(4), max_tokens: 200, temperature: 1, seed: 3, reasoning_budget: 0,
    response_format: { type: "json_schema", json_schema: { name: "a", schema } },
  });
  assert.equal(r.choices[0].finish_reason, "stop");
  const v = JSON.parse(r.choices[0].message.content);
  assert.deepEqual(Object.keys(v).sort(), ["answer", "n"]);
  assert.equal(typeof v.answer, "string");
  assert.ok([...v.answer].length <= 12);
  assert.ok(Number.isInteger(v.n));
  const o = await client().chat.completions.create({
    model: "m", messages: question(5), max_tokens: 200, temperature: 1, seed: 4, reasoning_budget: 0, response_format: { type: "json_object" },
  });
  // A random model may write an object longer than max_tokens: then only its start is there.
  if (o.choices[0].finish_reason === "stop") assert.equal(typeof JSON.parse(o.choices[0].message.content), "object");
  else assert.match(o.choices[0].message.content, /^\{/);
});

const tools = [{
  type: "function",
  function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string", maxLength: 10 } }, required: ["city"], additionalProperties: false } },
}];

test("tools: a forced call, streamed and not, then the tool's answer", async () => {
  const req = { model: "m", messages: question(6), tools, tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 200, temperature: 1, seed: 9, reasoning_budget: 4 };
  const r = await client().chat.completions.create(req);
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, "tool_calls");
  assert.equal(m.tool_calls.length, 1);
  assert.equal(m.tool_calls[0].function.name, "get_weather");
  const args = JSON.parse(m.tool_calls[0].function.arguments);
  assert.equal(typeof args.city, "string");
  const s = await collect(await client().chat.completions.create({ ...req, stream: true }));
  sameMessage(s.msg, m);
  assert.equal(s.finish, "tool_calls");
  // The conversation goes on with the tool's answer.
  const next = await client().chat.completions.create({
    model: "m", max_tokens: 8, temperature: 0, tools, tool_choice: "none",
    messages: [...question(6), { role: "assistant", content: null, tool_calls: m.tool_calls }, { role: "tool", tool_call_id: m.tool_calls[0].id, content: '{"temp": 20}' }],
  });
  assert.notEqual(next.choices[0].finish_reason, "tool_calls");
  assert.equal(next.choices[0].message.tool_calls, undefined);
});

test("stop strings cut the answer where they first occur", async () => {
  const req = { model: "m", messages: question(7), max_tokens: 40, temperature: 0 };
  const full = (await client().chat.completions.create(req)).choices[0].message.content;
  if ([...full].length < 12) return; // too short a reply to cut (the model is random)
  const cut = [...full].slice(6, 9).join("");
  const r = await client().chat.completions.create({ ...req, stop: [cut] });
  assert.equal(r.choices[0].message.content, full.slice(0, full.indexOf(cut)));
  assert.equal(r.choices[0].finish_reason, "stop");
  const s = await collect(await client().chat.completions.create({ ...req, stop: cut, stream: true }));
  assert.equal(s.msg.content, full.slice(0, full.indexOf(cut)));
});

test("responses API, whole and streamed", async () => {
  const req = { model: "m", input: "What is the capital of France?", instructions: "Be brief.", max_output_tokens: 16, temperature: 0, reasoning: { effort: "low" } };
  const r = await client().responses.create(req);
  assert.equal(r.object, "response");
  assert.ok(["completed", "incomplete"].includes(r.status));
  if (r.status === "incomplete") assert.equal(r.incomplete_details.reason, "max_output_tokens");
  assert.equal(typeof r.output_text, "string");
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens <= 16);
  const events = [];
  for await (const e of await client().responses.create({ ...req, stream: true })) events.push(e);
  assert.equal(events[0].type, "response.created");
  const last = events.at(-1);
  assert.equal(last.type, r.status === "completed" ? "response.completed" : "response.incomplete");
  const text = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  assert.equal(text, r.output_text);
  assert.equal(last.response.output_text ?? text, r.output_text);
  // Items as input, with a function call and its output.
  const items = await client().responses.create({
    model: "m", max_output_tokens: 4, temperature: 0, tools: [{ type: "function", name: "f", parameters: { type: "object" } }],
    input: [{ role: "user", content: "hi" }, { type: "function_call", call_id: "c1", name: "f", arguments: "{}" }, { type: "function_call_output", call_id: "c1", output: "42" }],
  });
  assert.ok(["completed", "incomplete"].includes(items.status));
});

test("responses API: text.format json_schema gives JSON valid for the schema", async () => {
  const schema = { type: "object", properties: { city: { type: "string", maxLength: 8 } }, required: ["city"], additionalProperties: false };
  const r = await client().responses.create({
    model: "m", input: "Name a city.", max_output_tokens: 200, temperature: 1, reasoning_budget: 0,
    text: { format: { type: "json_schema", name: "c", schema } },
  });
  // A random model may write a string longer than max_output_tokens: then only its start is there.
  if (r.status === "completed") {
    const v = JSON.parse(r.output_text);
    assert.deepEqual(Object.keys(v), ["city"]);
    assert.ok([...v.city].length <= 8);
  } else {
    assert.match(r.output_text, /^\{/);
  }
});

async function post(url, body, headers = {}) {
  return fetch(url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, ...headers }, body });
}

async function expectError(res, status) {
  assert.equal(res.status, status);
  const j = await res.json();
  assert.equal(typeof j.error.message, "string");
  assert.equal(typeof j.error.type, "string");
  assert.ok("param" in j.error && "code" in j.error);
  return j.error;
}

test("bad requests are 400 with an error object, through the client too", async () => {
  await expectError(await post(main.url, "{not json"), 400);
  await expectError(await post(main.url, JSON.stringify({ messages: [{ role: "wizard", content: "hi" }] })), 400);
  const long = "word ".repeat(3000); // more than -c 1024 tokens
  await expectError(await post(main.url, JSON.stringify({ messages: [{ role: "user", content: long }] })), 400);
  await assert.rejects(client().chat.completions.create({ model: "m", messages: question(1), max_tokens: -1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "max_tokens");
  // Unknown fields are ignored.
  const ok = await post(main.url, JSON.stringify({ model: "x", messages: question(1), max_tokens: 2, frobnicate: true }));
  assert.equal(ok.status, 200);
  await ok.json();
});

test("auth and body limit", async () => {
  const bad = new OpenAI({ apiKey: "wrong", baseURL: main.url + "/v1", maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: "m", messages: question(1), max_tokens: 2 }), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await expectError(await post(main.url, JSON.stringify({ messages: question(1) }), { authorization: "" }), 401);
  const huge = JSON.stringify({ messages: [{ role: "user", content: "x".repeat(17 << 20) }] });
  const res = await post(main.url, huge).catch(() => null);
  // The server may answer before the client has sent everything, which then sees the socket close.
  if (res) assert.equal(res.status, 413);
});

const healthOf = async (url) => (await (await fetch(url + "/health")).json());

test("a client that disconnects mid-stream frees its slot at once", async () => {
  const c = new OpenAI({ apiKey: "none", baseURL: small.url + "/v1", maxRetries: 0 });
  const ctrl = new AbortController();
  const stream = await c.chat.completions.create({ model: "m", messages: question(8), temperature: 1, seed: 1, stream: true }, { signal: ctrl.signal });
  let n = 0;
  try {
    for await (const _ of stream) if (++n === 3) ctrl.abort();
  } catch (e) {
    // The client may end the iteration quietly or with an abort error.
  }
  assert.ok(n >= 3);
  // The request asked for ~8000 tokens: far more than the seconds waited here.
  const t0 = Date.now();
  while ((await healthOf(small.url)).requests !== 0) {
    assert.ok(Date.now() - t0 < 5000, "the cancelled request still holds its slot");
    await new Promise((r) => setTimeout(r, 50));
  }
  const r = await c.chat.completions.create({ model: "m", messages: question(9), max_tokens: 4, temperature: 0 });
  assert.ok(r.usage.completion_tokens >= 1);
});

test("a full queue answers 503 with Retry-After", async () => {
  // One slot and a queue of one: of four long requests at once, some must be refused.
  const ctrls = [];
  const results = await Promise.all(Array.from({ length: 4 }, (_, i) => {
    const ctrl = new AbortController();
    ctrls.push(ctrl);
    return fetch(small.url + "/v1/chat/completions", {
      method: "POST", signal: ctrl.signal, headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: question(20 + i), max_tokens: 2000, stream: true }),
    });
  }));
  const refused = results.filter((r) => r.status === 503);
  assert.ok(refused.length >= 2, `statuses ${results.map((r) => r.status)}`);
  for (const r of refused) {
    assert.ok(r.headers.get("retry-after"));
    assert.equal((await r.json()).error.code, "queue_full");
  }
  for (const c of ctrls) c.abort();
  const t0 = Date.now();
  while ((await healthOf(small.url)).requests !== 0) {
    assert.ok(Date.now() - t0 < 5000);
    await new Promise((r) => setTimeout(r, 50));
  }
});

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
}

test("load: 200 requests at concurrency 16 on 4 slots, no error, memory flat", async () => {
  const run = async (count) => {
    let next = 0, errors = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        try {
          const r = await client().chat.completions.create({ model: "m", messages: question(100 + (i % 7)), max_tokens: 6, temperature: 0.7, seed: i, stream: i % 2 === 1 });
          if (i % 2 === 1) await collect(r);
        } catch (e) {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    return errors;
  };
  assert.equal(await run(48), 0); // warm up: thread stacks, caches
  const before = rssKiB(main.proc.pid);
  assert.equal(await run(200), 0);
  const grown = rssKiB(main.proc.pid) - before;
  assert.ok(grown < 32 * 1024, `resident memory grew by ${grown} KiB`);
});
