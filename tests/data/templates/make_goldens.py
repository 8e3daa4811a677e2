#!/usr/bin/env python3
"""Renders the chat-template goldens in this folder with Jinja2 (3.1) configured the way Hugging Face
transformers' apply_chat_template configures it: an ImmutableSandboxedEnvironment with trim_blocks
and lstrip_blocks, the loopcontrols extension and a pass-through {% generation %} tag, HF's tojson
(json.dumps with ensure_ascii=False), raise_exception and strftime_now as globals, and the variables
messages, tools, documents, add_generation_prompt, bos_token/eos_token (only when the tokenizer has
them) and any extra keyword.

Usage: python3 make_goldens.py   (run tests/data/tokenizers/fetch.sh first for the model templates)
Writes dictlm.json, qwen3.json, llama3.json, gemma3.json, features.json and errors.json here.
"""
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CACHE = os.path.join(ROOT, "tests", "data", "cache", "tokenizers")
FIXED_NOW = datetime.datetime(2024, 7, 26, 14, 5, 9)

sys.path.insert(0, HERE)
from golden_cases import (DICTLM_CASES, ERROR_CASES, FEATURE_CASES, GEMMA3_CASES,  # noqa: E402
                          LLAMA3_CASES, QWEN3_CASES)


class GenerationTag(jinja2.ext.Extension):
    """HF's {% generation %}...{% endgeneration %} block; renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def make_environment(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                       extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_case(template, case):
    now = datetime.datetime.fromisoformat(case["now"]) if "now" in case else FIXED_NOW
    env = make_environment(now)
    kwargs = {}
    for key in ("bos_token", "eos_token"):
        if case.get(key):
            kwargs[key] = case[key]
    kwargs.update(case.get("extra", {}))
    try:
        compiled = env.from_string(template)
    except jinja2.exceptions.TemplateSyntaxError as e:  # includes TemplateAssertionError
        return {"error": {"fault": "syntax", "type": type(e).__name__, "message": e.message, "line": e.lineno}}
    except SyntaxError as e:  # Jinja2 compiled invalid Python, e.g. {% break %} outside a loop
        return {"error": {"fault": "syntax", "type": type(e).__name__, "message": e.msg}}
    try:
        return {"expected": compiled.render(messages=case.get("messages", []), tools=case.get("tools"),
                                            documents=case.get("documents"),
                                            add_generation_prompt=case.get("add_generation_prompt", False),
                                            **kwargs)}
    except Exception as e:  # the template failed while rendering
        fault = "raised" if type(e) is jinja2.exceptions.TemplateError else "runtime"
        return {"error": {"fault": fault, "type": type(e).__name__, "message": str(e)}}


def build(cases, template=None):
    out = []
    for case in cases:
        case = dict(case)
        source = case.get("template", template)
        case.update(render_case(source, case))
        out.append(case)
    return out


def model_template(name):
    path = os.path.join(CACHE, name, "models", "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    with open(os.path.join(CACHE, name, "package.json"), encoding="utf-8") as f:
        package = json.load(f)

    def token(key):
        value = config.get(key)
        return value.get("content") if isinstance(value, dict) else value

    source = "npm %s@%s, models/tokenizer_config.json chat_template" % (package["name"], package["version"])
    return config["chat_template"], token("bos_token"), token("eos_token"), source


def write(name, payload):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False, indent=1)
        f.write("\n")


def with_tokens(cases, bos, eos):
    out = []
    for case in cases:
        case = dict(case)
        case.setdefault("bos_token", bos or "")
        case.setdefault("eos_token", eos or "")
        out.append(case)
    return out


def main():
    header = {"generator": "tests/data/templates/make_goldens.py", "jinja2": jinja2.__version__}
    with open(os.path.join(ROOT, "resources", "models", "dictlm-16m", "chat_template.jinja"), encoding="utf-8") as f:
        dictlm = f.read()
    write("dictlm.json", dict(header, source="resources/models/dictlm-16m/chat_template.jinja", template=dictlm,
                              cases=build(with_tokens(DICTLM_CASES, "<|endoftext|>", "<|im_end|>"), dictlm)))
    for family, cases in (("qwen3", QWEN3_CASES), ("llama3", LLAMA3_CASES), ("gemma3", GEMMA3_CASES)):
        template, bos, eos, source = model_template(family)
        write(family + ".json", dict(header, source=source, template=template,
                                     cases=build(with_tokens(cases, bos, eos), template)))
    write("features.json", dict(header, source="hand-written templates", cases=build(FEATURE_CASES)))
    write("errors.json", dict(header, source="hand-written templates that fail", cases=build(ERROR_CASES)))


if __name__ == "__main__":
    main()
