#!/usr/bin/env python3
# Writes the long mixed text used for tokenizer encode throughput (docs/PERF.md): the held-out
# dictionary prose followed by the short test strings (multilingual, code, emoji, whitespace runs),
# repeated to about 1 MiB. Deterministic. Usage: make_bench_text.py OUT_FILE
import gzip
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.normpath(os.path.join(here, ".."))


def bench_text():
    with gzip.open(os.path.join(data, "corpus", "heldout_raw.txt.gz"), "rt", encoding="utf-8") as f:
        prose = f.read()
    with open(os.path.join(here, "strings.json"), encoding="utf-8") as f:
        strings = [s for s in json.load(f) if 0 < len(s) <= 1000]
    mixed = "\n".join(strings) + "\n"
    text = prose
    while len(text.encode("utf-8")) < (1 << 20):
        text += mixed
    return text


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_bench_text.py OUT_FILE")
    with open(sys.argv[1], "w", encoding="utf-8", newline="") as f:
        f.write(bench_text())
