#!/usr/bin/env python3
"""Assembles resources/calibration/default.jsonl.gz, the quantizer's bundled calibration set.

Every document comes from a source whose license allows redistribution; each JSONL line records
its source and license ({"text", "source", "license"}), and PROVENANCE.md sums them up. The set is
deterministic: the same inputs give the same bytes (fixed order, gzip mtime 0).

Sources (paths are the Debian 12 defaults; override with the options):
  dictionary  English definitions and prose from GCIDE (GPL-2.0-or-later) and the Jargon File
              (public domain): the calibration slice in tests/data/corpus/calib.txt.gz
  code        Python 3 standard library modules (PSF-2.0), /usr/lib/python3.11
  languages   GNU coreutils, grep and sed message translations (GPL-3.0-or-later), decoded
              from the installed gettext catalogs in /usr/share/locale
  prose       the GNU GPL version 3 text (verbatim copies are permitted), /usr/share/common-licenses

Usage: tools/calibration/build_default_set.py [--out resources/calibration/default.jsonl.gz]
"""
import argparse
import gettext
import gzip
import io
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PY_MODULES = ["textwrap.py", "heapq.py", "bisect.py", "fractions.py", "shlex.py", "json/decoder.py",
              "json/encoder.py", "csv.py", "string.py", "colorsys.py"]
LANGUAGES = ["de", "fr", "es", "it", "pt_BR", "pl", "ru", "ja", "zh_CN", "nl", "sv", "tr", "uk", "cs", "ko"]
CATALOGS = ["coreutils", "grep", "sed"]


def dictionary_docs(path, max_chars):
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    docs, cur, size = [], [], 0
    for p in paragraphs:
        cur.append(p)
        size += len(p)
        if sum(len(c) for c in cur) > 4000:
            docs.append("\n\n".join(cur))
            cur = []
        if size > max_chars:
            break
    if cur:
        docs.append("\n\n".join(cur))
    return [(d, "GCIDE dictionary / Jargon File (tests/data/corpus/calib.txt.gz)",
             "GPL-2.0-or-later / public domain") for d in docs]


def code_docs(pydir):
    out = []
    for m in PY_MODULES:
        p = os.path.join(pydir, m)
        if not os.path.isfile(p):
            continue
        with open(p, encoding="utf-8") as f:
            out.append((f.read(), "Python standard library: " + m, "PSF-2.0"))
    return out


def language_docs(localedir, max_chars):
    out = []
    for lang in LANGUAGES:
        lines = []
        for cat in CATALOGS:
            mo = os.path.join(localedir, lang, "LC_MESSAGES", cat + ".mo")
            if not os.path.isfile(mo):
                continue
            with open(mo, "rb") as f:
                t = gettext.GNUTranslations(f)
            # The catalog's own strings, in a fixed order (by message id), header entry skipped.
            for key in sorted(k for k in t._catalog if k and isinstance(k, str)):
                v = t._catalog[key]
                if isinstance(v, str) and len(v) > 20:
                    lines.append(v.strip())
        if lines:
            text = "\n".join(lines)[:max_chars]
            out.append((text, "GNU coreutils/grep/sed translations, " + lang, "GPL-3.0-or-later"))
    return out


def prose_docs(licdir):
    p = os.path.join(licdir, "GPL-3")
    if not os.path.isfile(p):
        return []
    with open(p, encoding="utf-8") as f:
        return [(f.read(), "GNU General Public License v3 text", "verbatim copying permitted")]


def interleave(groups):
    # Each group's documents spread evenly over the whole stream (document j of n at (j + 0.5) / n),
    # so that evenly spaced calibration rows see every kind of text in proportion.
    keyed = [((j + 0.5) / len(g), gi, j, d) for gi, g in enumerate(groups) for j, d in enumerate(g)]
    return [d for _, _, _, d in sorted(keyed, key=lambda k: k[:3])]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "resources/calibration/default.jsonl.gz"))
    ap.add_argument("--dictionary", default=os.path.join(REPO, "tests/data/corpus/calib.txt.gz"))
    ap.add_argument("--dictionary-chars", type=int, default=900000)
    ap.add_argument("--language-chars", type=int, default=12000, help="characters per language")
    ap.add_argument("--python", default="/usr/lib/python3.11")
    ap.add_argument("--locale", default="/usr/share/locale")
    ap.add_argument("--licenses", default="/usr/share/common-licenses")
    a = ap.parse_args()

    groups = [dictionary_docs(a.dictionary, a.dictionary_chars), code_docs(a.python),
              language_docs(a.locale, a.language_chars), prose_docs(a.licenses)]
    counts = [(g[0][1].split(":")[0].split(",")[0] if g else "?", len(g), sum(len(d[0]) for d in g)) for g in groups]
    docs = interleave([list(g) for g in groups])
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        for text, source, lic in docs:
            gz.write((json.dumps({"text": text, "source": source, "license": lic}, ensure_ascii=False) + "\n").encode())
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "wb") as f:
        f.write(buf.getvalue())
    for name, n, chars in counts:
        print(f"{name}: {n} documents, {chars} characters", file=sys.stderr)
    print(f"wrote {a.out} ({len(buf.getvalue())} bytes, {len(docs)} documents)", file=sys.stderr)


if __name__ == "__main__":
    main()
