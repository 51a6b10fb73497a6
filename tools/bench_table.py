#!/usr/bin/env python3
"""A table of `gptoss bench --json` results, one line each, from the JSON lines of a log.

Usage: bench_table.py LOG
"""
import json
import sys

for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    print(f"context {r['context']:6d}  prompt {r['prompt']:5d}: prefill {r['prefill_tokens_per_s']:8.1f} tok/s, "
          f"decode {r['decode_tokens_per_s']:7.1f} tok/s, {r['decode_bytes_per_token'] / 1e9:.2f} GB/token, "
          f"{100 * r['decode_bandwidth_fraction']:.0f}% of {r['measured_read_GBps']:.0f} GB/s")
