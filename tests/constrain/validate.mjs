// Judges the replies constrain_replies wrote (JSONL) with ajv, an independent JSON Schema
// validator: every finished reply's JSON must validate against its schema, every reply must have
// parsed as Harmony, every unfinished one must be a live prefix. Fails loudly when ajv is missing.
//   node tests/constrain/validate.mjs replies.jsonl
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let Ajv;
try {
  Ajv = require("ajv");
} catch (e) {
  console.error("validate.mjs: ajv is not installed: run `npm ci --prefix tests/constrain` (" + e.message + ")");
  process.exit(2);
}
const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs replies.jsonl");
  process.exit(2);
}
const ajv = new Ajv({ strict: true, allErrors: true });
const lines = readFileSync(file, "utf8").split("\n").filter((l) => l.trim());
let failed = 0, finished = 0;
for (const [i, l] of lines.entries()) {
  const r = JSON.parse(l);
  const where = `line ${i + 1} (${r.what})`;
  if (!r.parsed) {
    console.error(`${where}: the reply did not parse as Harmony`);
    failed++;
  }
  if (!r.finished) {
    if (!r.prefix_ok) {
      console.error(`${where}: unfinished reply is not a valid prefix: ${r.json}`);
      failed++;
    }
    continue;
  }
  finished++;
  let value;
  try {
    value = JSON.parse(r.json);
  } catch (e) {
    console.error(`${where}: not JSON: ${r.json}`);
    failed++;
    continue;
  }
  const validate = ajv.compile(r.schema);
  if (!validate(value)) {
    console.error(`${where}: ${r.json} fails ${JSON.stringify(r.schema)}: ${ajv.errorsText(validate.errors)}`);
    failed++;
  }
}
console.log(`${lines.length} replies, ${finished} finished and validated by ajv, ${failed} failures`);
if (lines.length === 0 || finished === 0) {
  console.error("validate.mjs: nothing to validate");
  process.exit(1);
}
process.exit(failed ? 1 : 0);
