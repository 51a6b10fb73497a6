// gptoss serve scaled out: two servers behind nginx (Debian's package), which keeps each
// conversation on one server by a consistent hash on the X-Conversation-Id header, judged by the
// official openai client: requests spread over both servers, one conversation always on the same
// one, its second turn read from that server's prefix cache (and not from the other's), a streamed
// reply passed through as events, and a killed server's conversations moved to the other one. The nginx config is the one of
// docs/server.md ("Scale-out behind nginx") with the test's ports and paths.
//
//   GPTOSS=build/gptoss GPTOSS_VOCAB_FILE=tests/data/tokenizer/o200k_base.tiktoken node --test tests/serve/scale_out.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import OpenAI from "openai";

const gptoss = process.env.GPTOSS;
const vocab = process.env.GPTOSS_VOCAB_FILE;
if (!gptoss || !vocab) throw new Error("set GPTOSS (the gptoss program) and GPTOSS_VOCAB_FILE");

// nginx is a test dependency like node: missing, the test fails rather than being skipped.
function findNginx() {
  const executable = (p) => { try { accessSync(p, constants.X_OK); return true; } catch { return false; } };
  const candidates = [process.env.NGINX, "/usr/sbin/nginx", ...(process.env.PATH ?? "").split(delimiter).map((d) => join(d, "nginx"))];
  return candidates.find((p) => p && executable(p));
}
const nginx = findNginx();
if (!nginx) throw new Error("nginx not found (set NGINX, or /usr/sbin/nginx, or on PATH): run tools/install-deps.sh --ci");

const dir = mkdtempSync(join(tmpdir(), "gptoss-scale-out-"));
const modelDir = join(dir, "tiny-harmony");
const procs = [];
const killAll = () => { for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL"); };
process.on("exit", killAll); // even when the runner is stopped before after()

const exited = (proc) => new Promise((resolve) => proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once("exit", resolve));

// Starts `gptoss serve` on a free port; resolves once it says where it listens (the model loaded).
function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(gptoss, ["serve", "-m", modelDir, "--vocab", vocab, "--host", "127.0.0.1", "--port", "0", "-t", "1", "--parallel", "2", "-c", "1024"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    procs.push(proc);
    let err = "";
    proc.stderr.on("data", (d) => {
      err += d;
      const m = /listening on http:\/\/([^ ]+)/.exec(err);
      if (m) resolve({ proc, addr: m[1] });
    });
    proc.on("exit", (code) => reject(new Error(`gptoss serve exited with ${code}: ${err}`)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// The config of docs/server.md, plus what an unprivileged nginx in a temporary directory needs:
// no daemon, one process, its pid, logs and temporary files in `dir`.
function nginxConf(upstreams, port) {
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  # A conversation's requests go to one server, where its prefix cache is; requests without
  # the header (an empty key) go round-robin.
  upstream gptoss {
    hash $http_x_conversation_id consistent;
${upstreams.map((a) => `    server ${a};`).join("\n")}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://gptoss;
      proxy_http_version 1.1;
      proxy_buffering off;
      proxy_read_timeout 600s;
      proxy_connect_timeout 5s;
      proxy_next_upstream error timeout;
      client_max_body_size 16m;
      add_header X-Upstream $upstream_addr always;
    }
  }
}
`;
}

let servers; // [{ proc, addr }], addr as "127.0.0.1:PORT", which is what $upstream_addr names
let proxy; // "http://127.0.0.1:PORT"

async function startNginx() {
  const errorLog = () => (existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8") : "");
  for (let attempt = 0; ; attempt++) { // the free port may be taken between freePort() and nginx
    const port = await freePort();
    writeFileSync(join(dir, "nginx.conf"), nginxConf(servers.map((s) => s.addr), port));
    const proc = spawn(nginx, ["-p", dir + "/", "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], { stdio: ["ignore", "ignore", "pipe"] });
    procs.push(proc);
    let err = "";
    proc.stderr.on("data", (d) => (err += d));
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && proc.exitCode === null; i++) {
      try {
        if ((await fetch(url + "/health")).status === 200) return url;
      } catch {}
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill("SIGKILL");
    await exited(proc);
    if (attempt === 2) throw new Error(`nginx did not start: ${err}${errorLog()}`);
  }
}

before(async () => {
  execFileSync(gptoss, ["synth", "--config", "tiny-harmony", "--layers", "1", "-q", "--out", modelDir]);
  servers = await Promise.all([startServer(), startServer()]);
  proxy = await startNginx();
});

after(async () => {
  killAll();
  await Promise.all(procs.map(exited));
  rmSync(dir, { recursive: true, force: true });
});

const client = (headers = {}) => new OpenAI({ apiKey: "unused", baseURL: proxy + "/v1", maxRetries: 0, defaultHeaders: headers });
const upstreams = () => servers.map((s) => s.addr);
// The server that answered: $upstream_addr lists every server tried, the last one answered.
const answeredBy = (response) => {
  const tried = response.headers.get("x-upstream");
  assert.ok(tried, "nginx sends X-Upstream");
  return tried.split(", ").at(-1);
};

// One small greedy chat request of conversation `id` (none: no header); its reply and who answered.
async function ask(id, messages, extra = {}) {
  const { data, response } = await client().chat.completions
    .create({ model: "m", messages, max_tokens: 4, temperature: 0, ...extra }, id === undefined ? {} : { headers: { "X-Conversation-Id": id } })
    .withResponse();
  return { data, by: answeredBy(response) };
}
const question = (i) => [{ role: "user", content: `Question number ${i}: what is ${i} plus ${i}?` }];
const ids = Array.from({ length: 16 }, (_, i) => `conversation-${i}`);

test("16 conversations: all succeed, spread over both servers, each always on the same one", async () => {
  // Three requests per conversation, the conversations concurrently.
  const seen = await Promise.all(ids.map(async (id, i) => {
    const by = [];
    for (let turn = 0; turn < 3; turn++) {
      const { data, by: b } = await ask(id, question(i));
      assert.equal(data.object, "chat.completion");
      assert.ok(data.usage.completion_tokens >= 1);
      by.push(b);
    }
    return by;
  }));
  for (let i = 0; i < ids.length; i++) {
    assert.ok(upstreams().includes(seen[i][0]), `${ids[i]} answered by ${seen[i][0]}, not one of ${upstreams()}`);
    assert.deepEqual(seen[i], [seen[i][0], seen[i][0], seen[i][0]], `${ids[i]} stays on one server`);
  }
  // Each id lands on either server with probability about 1/2: all 16 on one is a 1 in 30000 event.
  assert.deepEqual(new Set(seen.map((s) => s[0])), new Set(upstreams()), "both servers answer");
});

test("requests without the header are spread over both servers", async () => {
  const seen = await Promise.all(Array.from({ length: 16 }, (_, i) => ask(undefined, question(100 + i))));
  assert.deepEqual(new Set(seen.map((s) => s.by)), new Set(upstreams()));
});

test("a conversation's second turn comes from its server's prefix cache, through nginx", async () => {
  // Two conversations that land on different servers.
  const byId = new Map();
  for (let i = 0; byId.size < 2; i++) {
    const id = `turns-${i}`;
    const { by } = await ask(id, [{ role: "user", content: "hi" }], { max_tokens: 1 });
    if (![...byId.values()].includes(by)) byId.set(id, by);
  }
  const [id, otherId] = [...byId.keys()];
  const firstTurn = [{ role: "user", content: "Zebras and quokkas: which one is faster over a kilometre, and why?" }];
  const first = await ask(id, firstTurn, { max_tokens: 8 });
  const messages = [...firstTurn, { role: "assistant", content: first.data.choices[0].message.content || "ok" }, { role: "user", content: "And over ten?" }];
  const second = await ask(id, messages, { max_tokens: 8 });
  assert.equal(second.by, first.by);
  // As in serve.test.mjs: the second prompt starts with the first, all of which but its last token is reused.
  const cached = second.data.usage.prompt_tokens_details.cached_tokens;
  assert.ok(cached >= first.data.usage.prompt_tokens - 1, `cached ${cached} of ${first.data.usage.prompt_tokens}`);
  // The same second turn sent to the other server, which never saw the conversation, reuses at
  // most the shared start (the system message), not the first turn: affinity is what makes the hit.
  const elsewhere = await ask(otherId, messages, { max_tokens: 8 });
  assert.notEqual(elsewhere.by, first.by);
  assert.ok(elsewhere.data.usage.prompt_tokens_details.cached_tokens < first.data.usage.prompt_tokens - 1,
    `the other server cached ${elsewhere.data.usage.prompt_tokens_details.cached_tokens} of ${first.data.usage.prompt_tokens}`);
  assert.equal(elsewhere.data.choices[0].message.content, second.data.choices[0].message.content, "same model, same greedy reply");
});

test("streamed through nginx: several chunks, equal to the non-streamed reply", async () => {
  const headers = { "X-Conversation-Id": "streamed" };
  const req = { model: "m", messages: question(7), max_tokens: 24, temperature: 0, seed: 1 };
  const whole = await client(headers).chat.completions.create(req);
  const { data: stream, response } = await client(headers).chat.completions
    .create({ ...req, stream: true, stream_options: { include_usage: true } }).withResponse();
  assert.match(response.headers.get("content-type"), /^text\/event-stream/);
  let content = "", reasoning = "", chunks = 0, finish = null, usage = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      content += c.delta.content ?? "";
      reasoning += c.delta.reasoning_content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(whole.usage.completion_tokens > 1, "a reply of several tokens");
  assert.ok(chunks > 2, `${chunks} chunks`);
  assert.equal(content, whole.choices[0].message.content ?? "");
  assert.equal(reasoning, whole.choices[0].message.reasoning_content ?? "");
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test("a killed server: its conversations go to the other one, the others stay where they were", async () => {
  const before = new Map();
  for (const [i, id] of ids.entries()) before.set(id, (await ask(id, question(i))).by);
  const [dead, alive] = servers;
  dead.proc.kill("SIGKILL");
  await exited(dead.proc);
  for (const [i, id] of ids.entries()) {
    const { data, by } = await ask(id, question(i));
    assert.ok(data.usage.completion_tokens >= 1);
    assert.equal(by, alive.addr, `${id}, on ${before.get(id)} before`);
  }
  // And they stay there: the same requests again, all on the live server.
  for (const [i, id] of ids.entries()) assert.equal((await ask(id, question(i))).by, alive.addr);
});
