#!/usr/bin/env python3
# HF tokenizers' single-thread encode throughput and load time on the bench text
# (make_bench_text.py), written to OUT/hf_bench.json; the same protocol as bench_tokenizer.
#
#   python3 bench_hf.py --cache tests/data/cache/tokenizers --dictlm tests/data/models/dictlm-16m-exl2-4.0 --out DIR
import argparse
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import make_goldens  # noqa: E402  (sets RAYON_NUM_THREADS=1 before importing tokenizers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--dictlm", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    make_goldens.bench(make_goldens.load_all(args.cache, args.dictlm), args.out)


if __name__ == "__main__":
    main()
