#!/usr/bin/env bash
# Side by side with llama.cpp: the same random weights, written once as an original-layout checkpoint
# for gptoss and once as a GGUF file for llama.cpp (`gptoss synth --gguf`: MXFP4 experts as GGUF
# MXFP4, bf16 matrices, f32 vectors), then `llama-bench` and `gptoss bench` run back to back,
# alternating, for several rounds: decode (tg32) and prefill (pp512) tokens/s of each, median and
# min – max, and the ratios gptoss / llama.cpp.
#
# llama.cpp is not part of this repository: it is taken from the npm package node-llama-cpp, which
# carries llama.cpp's sources as a git bundle, and built with cmake in --llama-dir (default
# ~/.cache/gptoss-llama), once; later runs reuse the build.
#
# --verify first checks that both programs compute the same model, on the same shape cut to 2 layers
# (the same tensors, kernels and GGUF packing, in a few seconds): the logits of a 14-token prompt
# at every position, from llama.cpp (tools/llama-logits.cpp, built against its library) and from
# `gptoss logits`. It stops unless the first position agrees within 0.2 of the logits' rms. Random
# routers have near ties between the 4th and 5th expert, which the two programs' roundings can
# resolve differently; from the first such token on (through attention, for all later positions)
# the logits part, so the check counts the positions that agree before that, and does not use all
# 24 layers, where a tie is met almost at once.
#
# usage: tools/compare-llama.sh [--config gpt-oss-20b] [--layers N] [--threads 1] [--rounds 3]
#                               [-p 512] [-n 32] [--precision exact|bf16] [--llama-dir DIR] [--work DIR]
#                               [--gptoss BIN] [--verify] [--keep]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
config=gpt-oss-20b
layers=
threads=1
rounds=3
prompt=512
gen=32
precision=exact
llama_dir=${GPTOSS_LLAMA_DIR:-$HOME/.cache/gptoss-llama}
work=
gptoss=$here/build/gptoss
verify=0
keep=0

die() { echo "compare-llama: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    -t|--threads) threads=$2; shift 2 ;;
    -r|--rounds) rounds=$2; shift 2 ;;
    -p) prompt=$2; shift 2 ;;
    -n) gen=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --llama-dir) llama_dir=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --gptoss) gptoss=$2; shift 2 ;;
    --verify) verify=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for v in threads rounds prompt gen; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--$v must be a positive whole number, not '${!v}'"
done
[[ -z $layers || $layers =~ ^[1-9][0-9]*$ ]] || die "--layers must be a positive whole number, not '$layers'"
[[ $precision == exact || $precision == bf16 ]] || die "--precision must be exact or bf16, not '$precision'"
[[ -x $gptoss ]] || die "$gptoss: no gptoss program (build it, or give --gptoss BIN)"
for tool in git cmake npm python3; do command -v $tool >/dev/null || die "needs $tool"; done

# llama.cpp: sources from node-llama-cpp's bundle, built once.
bench_bin=$llama_dir/src/build/bin/llama-bench
if [[ ! -x $bench_bin ]]; then
  mkdir -p "$llama_dir"
  if [[ ! -d $llama_dir/src/.git ]]; then
    echo "fetching llama.cpp (npm package node-llama-cpp) into $llama_dir" >&2
    rm -rf "$llama_dir/npm" && mkdir -p "$llama_dir/npm"
    (cd "$llama_dir/npm" && npm pack --silent node-llama-cpp >/dev/null && tar xzf node-llama-cpp-*.tgz)
    bundle=$(find "$llama_dir/npm/package/llama" -maxdepth 1 -name '*.bundle' | head -1)
    [[ -n $bundle ]] || die "node-llama-cpp holds no llama.cpp git bundle under package/llama"
    git clone -q "$bundle" "$llama_dir/src"
  fi
  echo "building llama.cpp in $llama_dir/src/build (about 10-15 minutes on 2 cores)" >&2
  cmake -S "$llama_dir/src" -B "$llama_dir/src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF >/dev/null
  cmake --build "$llama_dir/src/build" -j"$(nproc)" --target llama-bench >/dev/null
fi
llama_commit=$(git -C "$llama_dir/src" rev-parse --short HEAD)
llama_from=$(cat "$llama_dir/npm/package/package.json" 2>/dev/null | python3 -c 'import json,sys; print("node-llama-cpp " + json.load(sys.stdin)["version"])' 2>/dev/null || echo "node-llama-cpp")

# The weights, in both formats, from the same seed.
if [[ -z $work ]]; then work=$(mktemp -d "${TMPDIR:-/tmp}/gptoss-compare.XXXXXX"); fi
mkdir -p "$work"
[[ $keep = 1 ]] || trap 'rm -rf "$work/checkpoint" "$work/model.gguf"' EXIT
export GPTOSS_VOCAB=${GPTOSS_VOCAB:-$here/tests/data/tokenizer/o200k_base.tiktoken}
if [[ ! -f $work/model.gguf || ! -f $work/checkpoint/model.safetensors ]]; then
  rm -rf "$work/checkpoint" "$work/model.gguf"
  "$gptoss" synth -q --config "$config" ${layers:+--layers "$layers"} --out "$work/checkpoint" --gguf "$work/model.gguf" >&2
fi

if [[ $verify = 1 ]]; then
  # Both programs' logits at every position of a short prompt, on 2 layers of the compared shape.
  logits_bin=$llama_dir/llama-logits
  if [[ ! -x $logits_bin || $here/tools/llama-logits.cpp -nt $logits_bin ]]; then
    ${CXX:-c++} -O2 -std=c++17 "$here/tools/llama-logits.cpp" -I"$llama_dir/src/include" -I"$llama_dir/src/ggml/include" \
      -L"$llama_dir/src/build/bin" -lllama -Wl,-rpath,"$llama_dir/src/build/bin" -o "$logits_bin"
  fi
  verify_dir=$work/verify
  rm -rf "$verify_dir"
  "$gptoss" synth -q --config "$config" --layers 2 --out "$verify_dir/checkpoint" --gguf "$verify_dir/model.gguf" >/dev/null
  ids=$(printf %s "The quick brown fox jumps over the lazy dog. Once upon a time" | "$gptoss" tokenize | tr -d ' []\n')
  "$gptoss" logits -q -m "$verify_dir/checkpoint" -t "$threads" --tokens "$ids" --out "$verify_dir/gptoss-logits.npy"
  "$logits_bin" "$verify_dir/model.gguf" "$verify_dir/llama-logits.bin" ${ids//,/ } 2>/dev/null
  python3 - "$verify_dir/gptoss-logits.npy" "$verify_dir/llama-logits.bin" <<'EOF_PY'
import array, ast, math, struct, sys
raw = open(sys.argv[1], "rb").read()
header_len = struct.unpack_from("<H", raw, 8)[0]
rows, vocab = ast.literal_eval(raw[10:10 + header_len].decode())["shape"]
ours = array.array("f"); ours.frombytes(raw[10 + header_len:])
theirs = array.array("f"); theirs.frombytes(open(sys.argv[2], "rb").read())
if len(theirs) != len(ours): sys.exit(f"verify: llama.cpp gave {len(theirs)} logits, gptoss {len(ours)}")
differences = []
for p in range(rows):
    a, b = ours[p * vocab:(p + 1) * vocab], theirs[p * vocab:(p + 1) * vocab]
    rms = math.sqrt(sum(x * x for x in a) / vocab)
    differences.append(max(abs(x - y) for x, y in zip(a, b)) / rms)
leading = next((p for p, d in enumerate(differences) if d > 0.2), rows)
print("verify (2 layers): largest logit difference / logits' rms by position: " +
      " ".join(f"{d:.2f}" for d in differences), file=sys.stderr)
print(f"verify: {sum(d <= 0.2 for d in differences)} of {rows} positions agree within 0.2, the first {leading} in a row",
      file=sys.stderr)
# Mislaid weights (a swapped nibble, a transposed matrix) part the logits from the first position on.
if leading == 0: sys.exit("verify: the two programs do not compute the same model")
EOF_PY
  rm -rf "$verify_dir"
fi

# Weights that do not fit in the free memory would be read from disk on every step.
need=$(stat -c %s "$work/model.gguf")
free_bytes=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) * 1024 ))
if (( free_bytes < need )); then
  echo "compare-llama: warning: $((free_bytes >> 20)) MiB of memory available for $((need >> 20)) MiB of weights;" \
    "the runs will read from disk" >&2
fi

# Rounds: llama.cpp then gptoss, one run of each test per round, so that a busy spell of the machine
# falls on both.
results=$work/results.jsonl
: >"$results"
for ((r = 1; r <= rounds; ++r)); do
  echo "round $r of $rounds: llama-bench" >&2
  "$bench_bin" -m "$work/model.gguf" -t "$threads" -p "$prompt" -n "$gen" -r 1 -o jsonl 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    j = json.loads(line)
    kind = "decode" if j["n_gen"] > 0 else "prefill"
    print(json.dumps({"program": "llama.cpp", "kind": kind, "ts": j["avg_ts"]}))' >>"$results"
  echo "round $r of $rounds: gptoss bench" >&2
  "$gptoss" bench -q -m "$work/checkpoint" -t "$threads" -p "$prompt" -n "$gen" -r 1 --precision "$precision" --json |
    python3 -c 'import json,sys
j = json.load(sys.stdin)
for kind in ("prefill", "decode"):
    print(json.dumps({"program": "gptoss", "kind": kind, "ts": j[kind + "_tokens_per_s"]}))' >>"$results"
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 - "$results" "$prompt" "$gen" "$threads" "$rounds" "$config${layers:+ ($layers layers)}" "$cpu" "$precision" \
  "$llama_commit" "$llama_from" "$(git -C "$here" rev-parse --short HEAD)" <<'EOF'
import json, statistics, sys
path, prompt, gen, threads, rounds, config, cpu, precision, llama_commit, llama_from, ours_commit = sys.argv[1:]
runs = [json.loads(l) for l in open(path)]
def samples(program, kind): return [r["ts"] for r in runs if r["program"] == program and r["kind"] == kind]
def cell(v): return f"{statistics.median(v):.2f} ({min(v):.2f} – {max(v):.2f})"
print(f"{config}, random weights, {threads} thread(s), {rounds} alternating round(s); CPU: {cpu}")
print(f"llama.cpp {llama_commit} ({llama_from}); gptoss {ours_commit}, precision {precision}\n")
print("| test | llama.cpp t/s, median (min – max) | gptoss t/s, median (min – max) | gptoss / llama.cpp |")
print("| --- | ---: | ---: | ---: |")
for kind, test in (("decode", f"tg{gen}"), ("prefill", f"pp{prompt}")):
    a, b = samples("llama.cpp", kind), samples("gptoss", kind)
    print(f"| {test} | {cell(a)} | {cell(b)} | {statistics.median(b) / statistics.median(a):.2f} |")
EOF
