#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one run: the device tests, compute-sanitizer over them, the
# CLI on the tiny checkpoint against the host, and `gptoss bench --device cuda` on a random
# checkpoint of the gpt-oss-20b shape and on gpt-oss-120b's shape made in memory.
# Usage: tools/gpu-check.sh BIN_DIR LOG_DIR [SCRATCH_DIR]
# BIN_DIR holds gptoss, test_cuda_kernels and test_cuda_model (a build's outputs); each step's
# whole output goes to LOG_DIR, a summary to stdout. A failing step is reported and the rest run.
# A device test that skips (no GPU seen) or runs fewer cases than its source holds fails its step.
# GPTOSS_GPU_CHECK_SKIP="name ..." leaves steps out; GPTOSS_GPU_CHECK_BASELINE=DIR also benches DIR/gptoss.
set -uo pipefail
bin=$(realpath "$1"); logs=$(realpath "$2"); scratch=${3:-/tmp/gptoss-gpu-check}
mkdir -p "$logs" "$scratch"
cd "$(dirname "$0")/.."
status=0
step() {  # step NAME TIMEOUT_S COMMAND...: runs it, its output to LOG_DIR/NAME.log
  local name=$1 limit=$2; shift 2
  if [[ " ${GPTOSS_GPU_CHECK_SKIP:-} " == *" $name "* ]]; then echo "$name: skipped (GPTOSS_GPU_CHECK_SKIP)"; return; fi
  local t0=$SECONDS
  timeout "$limit" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  printf '%-22s rc=%-3s %4ds\n' "$name" "$rc" $((SECONDS - t0))
  ((rc == 0)) || { status=1; tail -n 25 "$logs/$name.log"; }
}
# A device test program must run every case of its source file. Without a GPU it exits 77
# (skipped), which `step` already counts as a failure; a run that lists fewer cases fails here.
all_cases() {  # all_cases STEP SOURCE: STEP's log must end with "ran N of N cases", N the CT_CASEs of SOURCE
  local name=$1 want
  [[ " ${GPTOSS_GPU_CHECK_SKIP:-} " == *" $name "* ]] && return
  want=$(grep -c '^CT_CASE(' "$2")
  if ! grep -qx "ran $want of $want cases" "$logs/$name.log"; then
    echo "$name: did not run all $want cases of $2"; status=1
  fi
}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n1)

# The 20B-shape checkpoint takes a while to write: in the background while the tests run.
model20=$scratch/gpt-oss-20b
if [[ ! -f $model20/config.json ]]; then
  (rm -rf "$model20"; "$bin/gptoss" synth --config gpt-oss-20b --out "$model20" >"$logs/synth.log" 2>&1) &
  synth_pid=$!
fi

step kernels 150 "$bin/test_cuda_kernels"; all_cases kernels tests/cuda/test_kernels.cu
step model 200 "$bin/test_cuda_model"; all_cases model tests/cuda/test_model.cu
tiny=tests/data/tiny/original
# Both runs must succeed and print the 16 tokens: two failures would otherwise compare equal.
step cli_generate 60 bash -c 'set -e; gpu=$("$0" generate --device cuda --model "$1" --tokens 485,788,274 --max-tokens 16)
  cpu=$("$0" generate --device cpu --model "$1" --tokens 485,788,274 --max-tokens 16)
  echo "cuda: $gpu"; echo "cpu:  $cpu"; [[ -n $cpu && $gpu == "$cpu" ]]' "$bin/gptoss" "$tiny"
if [[ -n $sanitizer ]]; then
  # launch_errors_become_gptoss_errors makes a launch fail on purpose: API errors are not reported.
  step memcheck_kernels 150 "$sanitizer" --tool memcheck --report-api-errors no --error-exitcode 1 "$bin/test_cuda_kernels"
  all_cases memcheck_kernels tests/cuda/test_kernels.cu
  step racecheck_kernels 400 "$sanitizer" --tool racecheck --error-exitcode 1 "$bin/test_cuda_kernels"
  all_cases racecheck_kernels tests/cuda/test_kernels.cu
  step memcheck_model 120 "$sanitizer" --tool memcheck --error-exitcode 1 "$bin/test_cuda_model"
  all_cases memcheck_model tests/cuda/test_model.cu
else
  echo "compute-sanitizer not found: memcheck and racecheck not run"; status=1
fi
if [[ -n ${synth_pid:-} ]]; then wait "$synth_pid" || { status=1; tail -n 5 "$logs/synth.log"; }; fi
step bench20b_p512 150 "$bin/gptoss" bench --device cuda --model "$model20" --prompt 512 --gen 32 --repeat 3
[[ -f $logs/bench20b_p512.log ]] && cat "$logs/bench20b_p512.log"
# gpt-oss-120b (65 GB: more than the disk holds) on random weights made in memory, at 0 and 8k of
# context, as issue 21 measures both shapes.
step bench120b 420 "$bin/gptoss" bench --device cuda --synthetic gpt-oss-120b -p 512 -n 32 -d 0,8192 -r 3 -o md
[[ -f $logs/bench120b.log ]] && cat "$logs/bench120b.log"
# GPTOSS_GPU_CHECK_BASELINE=DIR: the same bench with another build's gptoss (say, main's) right
# after, so that a change's speedup is a ratio measured on one machine in one run.
if [[ -n ${GPTOSS_GPU_CHECK_BASELINE:-} ]]; then
  step bench20b_p512_baseline 150 "$(realpath "$GPTOSS_GPU_CHECK_BASELINE")/gptoss" bench --device cuda --model "$model20" \
    --prompt 512 --gen 32 --repeat 3
  cat "$logs/bench20b_p512_baseline.log"
fi
# Aggregate decode against the number of sequences decoded together (the engine's and `gptoss
# serve --parallel`'s batching): what one read of the weights per step gains on the GPU.
step bench20b_parallel 150 "$bin/gptoss" bench --device cuda --model "$model20" --prompt 32 --gen 32 \
  --parallel 1,2,4,8,16 --repeat 3
[[ -f $logs/bench20b_parallel.log ]] && cat "$logs/bench20b_parallel.log"
# Transformer<gpt_oss_20b> against Transformer<dynamic_config> on the same weights, alternating.
step preset_vs_dynamic 200 bash -c 'for round in 1 2; do for extra in "" --dynamic-config; do
    out=$("$0" bench --device cuda --model "$1" --prompt 512 --gen 32 --repeat 2 --json $extra) || exit
    echo "${extra:-preset} $out"
  done; done' "$bin/gptoss" "$model20"
[[ -f $logs/preset_vs_dynamic.log ]] && cat "$logs/preset_vs_dynamic.log"
# Decode speed against context length (the cache filled with blank positions, as --context does).
step context_sweep 200 bash -c 'for ctx in 0 2048 8192 32768 65536 131000; do
    "$0" bench --device cuda --model "$1" --prompt 1 --gen 32 --repeat 2 --context $ctx --json || exit
  done' "$bin/gptoss" "$model20"
[[ -f $logs/context_sweep.log ]] && python3 tools/bench_table.py "$logs/context_sweep.log"

# Each kernel's time in a 512-token prefill and in one decode step, by Nsight Compute. The bench
# warms up with an 8-token prefill and two decode steps: 3 forward passes of `per_step` launches
# (12 a layer); the 512-token prefill, grouped by expert, takes 14 a layer.
if command -v ncu >/dev/null; then
  per_step=$((24 * 12 + 3)) per_prefill=$((24 * 14 + 3))
  step ncu 200 ncu --clock-control none --metrics gpu__time_duration.sum --csv --page raw \
    --launch-skip $((3 * per_step)) --launch-count $((per_prefill + per_step)) \
    "$bin/gptoss" bench --device cuda --model "$model20" --prompt 512 --gen 2 --repeat 1
  python3 tools/ncu_summary.py "$logs/ncu.log" "prefill of 512 tokens" 0 "$per_prefill"
  python3 tools/ncu_summary.py "$logs/ncu.log" "one decode step" "$per_prefill" "$per_step"
  # Speed of light, occupancy and warp stalls of the products: one decode step's first layer (after
  # the 8-token warm-up's 24 x 5 + 1 matching launches), then a 512-token prefill's.
  products='regex:expert_mlp|linear_bf16_kernel|tiled_matmul_kernel|attention_partial'
  sections=(--section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats)
  step ncu_decode_detail 120 ncu --clock-control none "${sections[@]}" -k "$products" --launch-skip 145 --launch-count 6 \
    "$bin/gptoss" bench --device cuda --model "$model20" --prompt 1 --gen 2 --repeat 1
  step ncu_prefill_detail 120 ncu --clock-control none "${sections[@]}" -k "$products" --launch-skip 435 --launch-count 6 \
    "$bin/gptoss" bench --device cuda --model "$model20" --prompt 512 --gen 1 --repeat 1
else
  echo "ncu not found: no kernel profile"
fi
exit $status
