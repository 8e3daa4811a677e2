"""Conversations and hand-written templates rendered by make_goldens.py. Each case is a dict with the
inputs of apply_chat_template (messages, tools, documents, add_generation_prompt, bos_token,
eos_token, extra keywords, an optional fixed "now") and, for hand-written ones, its "template"."""

# ---------------------------------------------------------------------------------------------
# Shared conversations

HELLO = [{"role": "user", "content": "Hello!"}]
MULTI = [
    {"role": "user", "content": "What is a lexicon?"},
    {"role": "assistant", "content": "A dictionary of words."},
    {"role": "user", "content": "And a glossary?"},
]
SYSTEM = [
    {"role": "system", "content": "You are a terse dictionary."},
    {"role": "user", "content": "Define 'nibble'."},
]
SYSTEM_MULTI = SYSTEM + [
    {"role": "assistant", "content": "A small bite."},
    {"role": "user", "content": "  Padded question with spaces \n"},
]
UNICODE = [
    {"role": "user", "content": "Grüße aus Köln — 你好 🌍 \"quoted\" \\ back\tslash"},
    {"role": "assistant", "content": "¡Hola! ñ ü ß 👍🏽"},
    {"role": "user", "content": "{{ not a template }} {% neither %}"},
]

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. \"Köln\""},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7.5}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "lookup_word",
        "description": "Look a word up in the dictionary",
        "parameters": {"type": "object", "properties": {
            "word": {"type": "string"},
            "senses": {"type": "array", "items": {"type": "string"}},
            "strict": {"type": "boolean", "default": False},
            "extra": {"type": ["string", "null"], "default": None}},
            "required": ["word"]}}},
]

TOOL_CONVERSATION = [
    {"role": "system", "content": "Use tools when they help."},
    {"role": "user", "content": "Weather in Köln and the meaning of 'drizzle'?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather",
                                          "arguments": {"city": "Köln", "unit": "celsius", "days": 2}}},
        {"type": "function", "function": {"name": "lookup_word", "arguments": "{\"word\": \"drizzle\"}"}}]},
    {"role": "tool", "content": "{\"temp\": 11.5, \"sky\": \"drizzle\"}"},
    {"role": "tool", "content": "light rain in fine drops"},
    {"role": "assistant", "content": "It is 11.5 °C with drizzle: light rain in fine drops."},
    {"role": "user", "content": "Thanks! Tomorrow?"},
]

MULTI_STEP_TOOLS = [
    {"role": "user", "content": "Define 'petrichor', then check the weather in Oslo."},
    {"role": "assistant", "content": "<think>\nFirst the word.\n</think>\n\nLooking it up.",
     "tool_calls": [{"function": {"name": "lookup_word", "arguments": {"word": "petrichor", "senses": ["noun"]}}}]},
    {"role": "tool", "content": "the smell of rain on dry earth"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "strict": True, "ratio": 0.1}}]},
    {"role": "tool", "content": "<tool_response>sunny</tool_response>"},
]

REASONING_HISTORY = [
    {"role": "user", "content": "Is 'flammable' the same as 'inflammable'?"},
    {"role": "assistant", "reasoning_content": "Both mean easily set on fire.",
     "content": "Yes, they mean the same."},
    {"role": "user", "content": "Why the two words?"},
    {"role": "assistant", "reasoning_content": "\nHistory of the prefix in-.\n",
     "content": "\n\nThe in- is intensive, not negative."},
]

THINK_IN_CONTENT = [
    {"role": "user", "content": "Spell 'receive'."},
    {"role": "assistant", "content": "<think>\ni before e except after c\n</think>\n\nR-E-C-E-I-V-E."},
    {"role": "user", "content": "And 'weird'?"},
    {"role": "assistant", "content": "<think>an exception</think>W-E-I-R-D."},
]

# ---------------------------------------------------------------------------------------------
# Model templates (the template comes from the model's tokenizer_config.json)

DICTLM_CASES = [
    {"name": "hello", "messages": HELLO, "add_generation_prompt": True},
    {"name": "multi_turn", "messages": MULTI},
    {"name": "system_multi_turn_prompt", "messages": SYSTEM_MULTI, "add_generation_prompt": True},
    {"name": "unicode", "messages": UNICODE, "add_generation_prompt": True},
    {"name": "empty_conversation", "messages": [], "add_generation_prompt": True},
]

QWEN3_CASES = [
    {"name": "hello", "messages": HELLO, "add_generation_prompt": True},
    {"name": "hello_no_prompt", "messages": HELLO},
    {"name": "multi_turn", "messages": MULTI, "add_generation_prompt": True},
    {"name": "system", "messages": SYSTEM, "add_generation_prompt": True},
    {"name": "system_multi_turn", "messages": SYSTEM_MULTI, "add_generation_prompt": True},
    {"name": "thinking_off", "messages": MULTI, "add_generation_prompt": True, "extra": {"enable_thinking": False}},
    {"name": "thinking_on", "messages": MULTI, "add_generation_prompt": True, "extra": {"enable_thinking": True}},
    {"name": "thinking_off_no_prompt", "messages": MULTI, "extra": {"enable_thinking": False}},
    {"name": "reasoning_content_history", "messages": REASONING_HISTORY},
    {"name": "reasoning_content_then_prompt", "messages": REASONING_HISTORY[:3], "add_generation_prompt": True},
    {"name": "think_in_content", "messages": THINK_IN_CONTENT, "add_generation_prompt": True},
    {"name": "tools", "messages": TOOL_CONVERSATION, "tools": TOOLS, "add_generation_prompt": True},
    {"name": "tools_no_system", "messages": TOOL_CONVERSATION[1:], "tools": TOOLS, "add_generation_prompt": True,
     "extra": {"enable_thinking": False}},
    {"name": "tools_multi_step", "messages": MULTI_STEP_TOOLS, "tools": TOOLS[:1], "add_generation_prompt": True},
    {"name": "tool_calls_without_tools", "messages": MULTI_STEP_TOOLS},
    {"name": "unicode", "messages": UNICODE, "add_generation_prompt": True},
    {"name": "system_later_in_conversation", "messages": MULTI + [{"role": "system", "content": "Be brief."}],
     "add_generation_prompt": True},
]

LLAMA3_CASES = [
    {"name": "hello", "messages": HELLO, "add_generation_prompt": True},
    {"name": "hello_no_prompt", "messages": HELLO},
    {"name": "multi_turn", "messages": MULTI, "add_generation_prompt": True},
    {"name": "system", "messages": SYSTEM, "add_generation_prompt": True},
    {"name": "system_multi_turn_trimmed", "messages": SYSTEM_MULTI, "add_generation_prompt": True},
    {"name": "unicode", "messages": UNICODE},
    {"name": "tools_ignored", "messages": TOOL_CONVERSATION[:2], "tools": TOOLS, "add_generation_prompt": True},
]

GEMMA_IMAGE = [
    {"role": "system", "content": [{"type": "text", "text": "Describe images briefly."}]},
    {"role": "user", "content": [{"type": "image", "url": "cat.png"},
                                 {"type": "text", "text": "  What is this?  "},
                                 {"type": "image"}, {"type": "text", "text": "And this?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "A cat, then a dog."}]},
    {"role": "user", "content": [{"type": "text", "text": "Thanks."}]},
]

GEMMA3_CASES = [
    {"name": "hello", "messages": HELLO, "add_generation_prompt": True},
    {"name": "multi_turn", "messages": MULTI, "add_generation_prompt": True},
    {"name": "system_folded", "messages": SYSTEM, "add_generation_prompt": True},
    {"name": "system_multi_turn", "messages": SYSTEM_MULTI},
    {"name": "content_lists", "messages": GEMMA_IMAGE, "add_generation_prompt": True},
    {"name": "unicode", "messages": UNICODE, "add_generation_prompt": True},
    {"name": "roles_must_alternate", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
    {"name": "invalid_content", "messages": [{"role": "user", "content": 5}]},
]

# ---------------------------------------------------------------------------------------------
# Hand-written templates covering the Jinja features chat templates use


def T(name, template, **kw):
    case = {"name": name, "template": template}
    case.update(kw)
    return case


PEOPLE = [{"name": "Ada", "age": 36, "tags": ["math", "code"]},
          {"name": "bob", "age": 7, "tags": []},
          {"name": "Cy", "age": 36, "tags": ["art"], "nick": None}]
TREE = [{"name": "a", "children": [{"name": "a1", "children": []},
                                   {"name": "a2", "children": [{"name": "a2x", "children": []}]}]},
        {"name": "b", "children": []}]

FEATURE_CASES = [
    # loops
    T("loop_variables", "{% for m in messages %}{{ loop.index }}/{{ loop.length }} {{ loop.index0 }} {{ loop.revindex }} "
      "{{ loop.revindex0 }} {{ loop.first }} {{ loop.last }} {{ loop.cycle('odd', 'even') }} {{ loop.depth }}\n{% endfor %}",
      messages=MULTI),
    T("loop_prev_next_changed", "{% for x in [1, 1, 2, 3, 3] %}[{{ loop.previtem }}|{{ loop.nextitem }}|"
      "{{ loop.changed(x) }}]{% endfor %}"),
    T("loop_filter_and_else", "{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ m.content }} of "
      "{{ loop.length }};{% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}|"
      "{% for x in [1, 2] if x > 5 %}{{ x }}{% else %}filtered{% endfor %}", messages=MULTI),
    T("loop_break_continue", "{% for i in range(10) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 6 %}"
      "{% break %}{% endif %}{{ i }},{% endfor %}"),
    T("loop_nested_outer", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ b }}"
      "{{ loop.index }} {% endfor %}{% endfor %}"),
    T("loop_recursive", "{% for node in tree recursive %}<{{ node.name }}@{{ loop.depth }}{% if node.children %}"
      "[{{ loop(node.children) }}]{% endif %}>{% endfor %}", extra={"tree": TREE}),
    T("loop_unpacking", "{% for k, v in {'b': 1, 'a': [2], 'c': none}.items() %}{{ k }}={{ v }};{% endfor %}"
      "{% for a, b in [[1, 2], (3, 4), 'xy'] %}{{ a }}{{ b }}{% endfor %}"),
    T("loop_over_strings_and_dicts", "{% for c in 'héllo' %}{{ c }}.{% endfor %}|{% for k in {'z': 1, 'a': 2} %}"
      "{{ k }}{% endfor %}|{% for x in none_var %}x{% endfor %}"),
    T("loop_scoping", "{% set x = 'outer' %}{% for i in [1, 2] %}{{ x }}{% set x = 'inner' ~ i %}{{ x }} {% endfor %}"
      "{{ x }}|{% if true %}{% set y = 'from-if' %}{% endif %}{{ y }}"),
    T("namespace_counter", "{% set ns = namespace(count=0, last=none, items=[]) %}{% for m in messages %}"
      "{% set ns.count = ns.count + 1 %}{% set ns.last = m.role %}{% set ns.items = ns.items + [loop.index] %}"
      "{% endfor %}{{ ns.count }} {{ ns.last }} {{ ns.items }} {{ ns }}", messages=MULTI),
    T("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}{{ ns.c }}"),
    # assignment forms
    T("set_forms", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 3, 4 %}{{ t }}{% set (c, d) = ['x', 'y'] %}{{ c }}{{ d }}"
      "{% set s %}block {{ a }}{% endset %}[{{ s }}]{% set u | upper | trim %}  shout {{ b }}  {% endset %}[{{ u }}]"),
    T("with_block", "{% set x = 1 %}{% with x = 2, y = x %}{{ x }}{{ y }}{% endwith %}{{ x }}"),
    # macros and call blocks
    T("macro_defaults_kwargs", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}"
      "{% endmacro %}{{ greet('Ada') }} {{ greet('Bob', 'Hi') }} {{ greet(punct='?', name='Cy') }}"),
    T("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4, y='z') }}"),
    T("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}"
      "{{ fact(10) }}"),
    T("macro_closure_late_binding", "{% set x = 'early' %}{% macro show() %}{{ x }}{% endmacro %}{% set x = 'late' %}"
      "{{ show() }}{% macro shadow() %}{{ x }}{% set x = 'local' %}{{ x }}{% endmacro %}{{ shadow() }}{{ x }}"),
    T("macro_missing_args", "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}{{ m() }}"),
    T("call_block", "{% macro box(title) %}<{{ title }}>{{ caller() }}</{{ title }}>{% endmacro %}"
      "{% call box('b') %}inside {{ 1 + 1 }}{% endcall %}"
      "{% macro each(items) %}{% for i in items %}{{ caller(i, loop.index) }}{% endfor %}{% endmacro %}"
      "{% call(item, n) each(['x', 'y']) %}{{ n }}={{ item }};{% endcall %}"),
    T("filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}|{% filter trim|replace('a', 'o') %}  banana  "
      "{% endfilter %}"),
    T("generation_block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
      "{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}", messages=MULTI),
    # whitespace control
    T("whitespace_trim_lstrip", "<ul>\n  {% for i in [1, 2] %}\n    <li>{{ i }}</li>\n  {% endfor %}\n</ul>\n"),
    T("whitespace_dash", "a  \n  {%- if true -%}  \n  b  {{- ' c ' -}}  \n d  {# note #}  e\n  {#- trimmed -#}\n  f\n"
      "  {%- endif %}  \n  g  {%- if false %}x{%- else -%}  y  {% endif -%}\n\n  h"),
    T("whitespace_plus", "x\n    {%+ if true %}y{% endif +%}\nz\n  {% if true %}w{% endif %}  \ntail\n"),
    T("whitespace_trailing_newlines", "{% if true %}\nA\n{% endif %}\n\n"),
    T("whitespace_variables_not_lstripped", "  {{ 'v' }}\n  {% if true %}kept{% endif %}\n{{ 'x' }}   {% if true %}y"
      "{% endif %}\n"),
    T("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}|  {% raw -%}  {{ x }}  {%- endraw %}  |\n"
      "{% raw %}\nkeep\n{% endraw %}\nafter"),
    T("comments", "a{# one #}b\n{# two\nlines #}\nc  {#- left #}  d{# right -#}   e"),
    # literals and printing
    T("literals", "{{ 'single' }} {{ \"double\" }} {{ 'it\\'s' }} {{ 'a' 'b' \"c\" }} {{ 'tab\\there' }} "
      "{{ '\\u00e9\\x41\\101\\q\\\n' }} {{ 42 }} {{ -7 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 2.5 }} "
      "{{ 1e3 }} {{ 1.5E-3 }} {{ true }} {{ False }} {{ none }} {{ None }}"),
    T("printing_containers", "{{ [1, 'a', true, none, 1.5, [2], {'k': 'v'}] }} {{ (1,) }} {{ () }} {{ (1, 'b') }} "
      "{{ {'a': 1, 2: 'b', none: true} }} {{ {} }} {{ [] }} {{ ['it\\'s', 'say \"hi\"', 'both \\' \"', 'new\\nline', "
      "'\\x01', 'é', 'tab\\t', 'back\\\\slash'] }}"),
    T("printing_floats", "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 2 / 2 }} {{ 1e-5 }} {{ 0.0001 }} {{ 1e16 }} "
      "{{ 1e15 }} {{ 123456789.0 * 10 }} {{ -0.0 }} {{ 1.5e300 * 1e10 }} {{ 2 ** 0.5 }} {{ 10 ** -2 }} {{ 3.0 * 2 }}"),
    T("printing_special_values", "[{{ undefined_name }}][{{ none }}][{{ '' }}][{{ messages }}]", messages=HELLO),
    # expressions
    T("arithmetic", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} "
      "{{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + 2 * 3 - 4 / 2 }} "
      "{{ (1 + 2) * 3 }} {{ true + 1 }} {{ 10 - 2.5 }} {{ 'ab' * 3 }} {{ [1, 2] * 2 }} {{ 3 * 'x' }} {{ 'a' + 'b' }} "
      "{{ [1] + [2, 3] }} {{ -(-3) }} {{ +4 }} {{ 9223372036854775807 }} {{ -9223372036854775807 - 1 }}"),
    T("comparisons", "{{ 1 == 1.0 }} {{ true == 1 }} {{ false == 0 }} {{ 'a' == 'a' }} {{ 'a' != 'b' }} {{ 1 < 2 < 3 }} "
      "{{ 3 > 2 > 2 }} {{ 'abc' < 'abd' }} {{ 'B' < 'a' }} {{ [1, 2] < [1, 3] }} {{ [1, 2] < [1, 2, 0] }} "
      "{{ (1, 2) == [1, 2] }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ none == none }} {{ none == false }} "
      "{{ 1 <= 1.0 }} {{ 2.5 >= 3 }} {{ undefined_x == undefined_y }} {{ '' == none }} {{ [] == [] }}"),
    T("membership", "{{ 'a' in 'cat' }} {{ 'dog' not in 'cat' }} {{ 1 in [1.0, 2] }} {{ 'k' in {'k': 1} }} "
      "{{ 2 in {'k': 2} }} {{ not 'x' in ['y'] }} {{ [1] in [[1], 2] }} {{ '' in 'abc' }} {{ 'x' in undefined_z }} "
      "{{ 'user' in messages|map(attribute='role') }}", messages=MULTI),
    T("logic_and_ternary", "{{ none or 'fallback' }} {{ 'first' or 'second' }} {{ '' and 'never' }} {{ 1 and 2 }} "
      "{{ not none }} {{ not 0 }} {{ 'yes' if 1 else 'no' }} {{ 'yes' if [] else 'no' }} [{{ 'only' if false }}] "
      "{{ 'a' if false else 'b' if false else 'c' }} {{ (1 if true else 2) + 10 }} {{ true and not false or false }}"),
    T("concatenation", "{{ 'a' ~ 1 ~ none ~ true ~ [1, 'x'] ~ 2.0 ~ undefined_v ~ {'k': 1} }}"),
    T("truthiness", "{% for v in [0, 1, 0.0, '', 'x', [], [0], {}, {'a': 1}, none, true, false] %}"
      "{{ 'T' if v else 'F' }}{% endfor %}{{ 'T' if undefined_w else 'F' }}{{ 'T' if [1]|select('odd') else 'F' }}"
      "{{ 'T' if []|select else 'F' }}"),
    # attribute and item access
    T("nested_access", "{{ messages[0].content }} {{ messages[0]['role'] }} {{ messages.0.content }} "
      "{{ messages[-1].content }} {{ data.calls[0].function.arguments.city }} {{ data['calls'][0]['function']['name'] }} "
      "{{ data.calls.0.function.arguments['days'] }} [{{ data.missing }}] [{{ messages[9] }}] [{{ none.x }}] "
      "{{ data.items is callable }} {{ data['items'] }} {{ data.get('missing', 'dflt') }} {{ data.get('items') }}",
      messages=MULTI, extra={"data": {"calls": TOOL_CONVERSATION[2]["tool_calls"], "items": "key named items"}}),
    T("slicing", "{{ 'abcdef'[::-1] }} {{ 'abcdef'[1:4] }} {{ 'abcdef'[::2] }} {{ 'abcdef'[-2:] }} {{ 'abcdef'[:-2] }} "
      "{{ 'abcdef'[4:1:-1] }} {{ 'abcdef'[-1::-2] }} {{ [1, 2, 3, 4, 5][::-2] }} {{ [1, 2, 3][5:] }} "
      "{{ [1, 2, 3][-10:2] }} {{ (1, 2, 3)[1:] }} {{ 'héllo wörld'[1:8] }} {{ messages[1:]|length }} "
      "{{ messages[::-1][0].content }} {{ [1, 2, 3][none:2] }}", messages=MULTI),
    T("dict_order", "{% set d = {'zeta': 1, 'alpha': 2, 'mid': 3} %}{{ d }} {{ d|list }} {{ d.keys()|list }} "
      "{{ d.values()|list }} {{ d.items()|list }} {{ d|dictsort }} {{ d|dictsort(by='value', reverse=true) }} "
      "{{ d.keys() }} {{ d.values() }} {{ d.items() }} {% for k, v in d|items %}{{ k }}{{ v }}{% endfor %} "
      "{{ tools[0].function.parameters.properties|list }}", tools=TOOLS),
    # tests
    T("tests", "{% for v in [none, true, 0, 1.5, 'S', 'abc', [1], (1,), {'a': 1}, undefined_t] %}"
      "{{ v is defined }}{{ v is undefined }}{{ v is none }}{{ v is boolean }}{{ v is true }}{{ v is false }}"
      "{{ v is integer }}{{ v is float }}{{ v is number }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}"
      "{{ v is sequence }}{{ v is callable }}\n{% endfor %}"),
    T("tests_with_args", "{{ 6 is divisibleby 3 }} {{ 7 is divisibleby(3) }} {{ 3 is odd }} {{ 4 is even }} "
      "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'Abc' is lower }} {{ 2 is in [1, 2] }} {{ 2 is eq 2 }} "
      "{{ 2 is ne 3 }} {{ 2 is lt 3 }} {{ 2 is ge 3 }} {{ 'a' is equalto 'a' }} {{ 3 is greaterthan 2 }} "
      "{{ none is sameas none }} {{ true is sameas true }} {{ 'upper' is filter }} {{ 'odd' is test }} "
      "{{ 'nope' is filter }} {{ x is not defined }} {{ 1 is not string }} {{ raise_exception is callable }}"),
    # filters
    T("filters_text", "[{{ '  pad  '|trim }}][{{ 'xxhixx'|trim('x') }}][{{ 'MiXeD'|lower }}][{{ 'grüße'|upper }}]"
      "[{{ 'hello wORLD-foo (bar)'|title }}][{{ 'hello World'|capitalize }}][{{ 'a-b-c'|replace('-', '+') }}]"
      "[{{ 'aaaa'|replace('a', 'b', 2) }}][{{ 'x'|center(7) }}][{{ 42|string }}][{{ [1, 'a']|string }}]"
      "[{{ 'one two  three\nfour'|wordcount }}][{{ 'héllo'|length }}][{{ 'héllo'|count }}][{{ 'abc'|reverse }}]"
      "[{{ 'Hello %s, %d!'|format('Ada', 3) }}][{{ '%(a)s-%(b)s'|format(a=1, b=2) }}][{{ '<a href=\"x\">&'|e }}]"
      "[{{ 'safe'|safe }}][{{ 'a long sentence to cut'|truncate(12) }}][{{ 'a long sentence'|truncate(9, true) }}]"),
    T("filters_indent", "[{{ 'a\nb\n\nc'|indent }}][{{ 'a\nb'|indent(2, true) }}][{{ 'a\n\nb\n'|indent(2, blank=true) }}]"
      "[{{ 'x\ny'|indent('> ') }}][{{ ''|indent(3, true) }}]"),
    T("filters_numbers", "{{ '42'|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(-1) }} {{ ' 7 '|int }} {{ '1_000'|int }} "
      "{{ '0x1A'|int(0, 16) }} {{ '1e3'|int }} {{ 3.99|int }} {{ -3.99|int }} {{ true|int }} {{ none|int }} "
      "{{ '2.5'|float }} {{ 'nan'|float }} {{ 'x'|float }} {{ 3|float }} {{ -5|abs }} {{ -2.5|abs }} "
      "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(method='ceil') }} "
      "{{ 2.9|round(method='floor') }} {{ 7|round }} {{ 1234.5678|round(-2) }} {{ [1, 2.5, 3]|sum }} "
      "{{ [{'n': 2}, {'n': 5}]|sum(attribute='n') }} {{ [1, 2]|sum(start=10) }}"),
    T("filters_sequences", "{{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} {{ 'abc'|first }} {{ {'a': 1, 'b': 2}|last }} "
      "[{{ []|first }}] {{ [3, 1, 2]|length }} {{ {'a': 1}|length }} {{ undefined_l|length }} {{ [1, 2]|join }} "
      "{{ [1, 'a', none]|join(', ') }} {{ people|join('/', attribute='name') }} {{ 'abc'|list }} "
      "{{ {'x': 1}|list }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ ['b', 'A', 'c']|min }} "
      "{{ ['b', 'A', 'c']|max(case_sensitive=true) }} {{ people|max(attribute='age')|attr('name') }} "
      "{{ [1, 2, 3]|reverse|list }} {{ {'a': 1, 'b': 2}|reverse|list }}", extra={"people": PEOPLE}),
    T("filters_map_select", "{{ people|map(attribute='name')|list }} {{ [1, 2, 3]|map('string')|join('+') }} "
      "{{ ['a', 'b']|map('upper')|list }} {{ ['ab', 'cd']|map('replace', 'b', 'x')|list }} "
      "{{ people|map(attribute='nick', default='?')|list }} {{ people|map(attribute='tags.0')|list }} "
      "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', 'x', none]|select|list }} "
      "{{ [1, 5, 9]|select('>', 4)|list }} {{ [1, 5, 9]|select('divisibleby', 3)|list }} "
      "{{ people|selectattr('tags')|map(attribute='name')|list }} {{ people|rejectattr('tags')|map(attribute='name')|list }} "
      "{{ people|selectattr('age', 'equalto', 36)|map(attribute='name')|join(',') }} "
      "{{ messages|selectattr('role', 'eq', 'user')|list|length }} {{ people|selectattr('nick', 'none')|list|length }}",
      messages=MULTI, extra={"people": PEOPLE}),
    T("filters_sort_unique", "{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'a', 'B']|sort }} "
      "{{ ['b', 'A', 'a', 'B']|sort(case_sensitive=true) }} {{ people|sort(attribute='age')|map(attribute='name')|list }} "
      "{{ people|sort(attribute='age,name')|map(attribute='name')|list }} "
      "{{ people|sort(attribute='name', reverse=true)|map(attribute='name')|list }} {{ ['b', 'A', 'a', 'B']|unique|list }} "
      "{{ ['b', 'A', 'a', 'B']|unique(case_sensitive=true)|list }} {{ people|unique(attribute='age')|map(attribute='name')|list }} "
      "{{ [1, 1.0, true, 2]|unique|list }}", extra={"people": PEOPLE}),
    T("filters_items_batch_slice", "{% for k, v in {'b': 1, 'a': 2}|items %}{{ k }}{{ v }}{% endfor %} "
      "{{ {'b': 1}|items|list }} {{ undefined_i|items|list }} {{ [1, 2, 3, 4, 5]|batch(2)|list }} "
      "{{ [1, 2, 3]|batch(2, 'x')|list }} {{ [1, 2, 3, 4, 5]|slice(2)|list }} {{ [1, 2, 3, 4]|slice(3, 0)|list }}"),
    T("filters_default", "{{ undefined_d|default('dflt') }} {{ undefined_d|d('short') }} {{ ''|default('x') }} "
      "{{ ''|default('x', true) }} {{ none|default('x') }} {{ none|default('x', boolean=true) }} "
      "{{ 0|default(5, true) }} {{ 'set'|default('x') }} {{ data.missing|default('nested') }}", extra={"data": {}}),
    T("filters_generators_consumed", "{% set g = [1, 0, 2]|select %}{{ g|list }}{{ g|list }}|{% set m = ['a']|map('upper') %}"
      "{{ m|first }}{{ m|first }}|{{ [1, 2]|select|first }}"),
    T("tojson", "{{ tools|tojson }}\n{{ tools[0]|tojson(indent=2) }}\n{{ {'b': 1, 'a': [1.0, 2.5e-7, 'é\\n\"q\"', true, none]}"
      "|tojson(sort_keys=true) }}\n{{ {'é': 'ü', 1: 2, 2.5: 3, true: 4, none: 5}|tojson }}\n"
      "{{ {'a': [1, {'b': []}], 'c': {}}|tojson(indent=4) }}\n{{ 'snow ☃ 𝄞'|tojson(ensure_ascii=true) }}\n"
      "{{ [1, 2]|tojson(separators=(',', ':')) }} {{ {'a': 1}|tojson(indent='\\t') }} {{ 'ctl\\x01\\x7f'|tojson }}",
      tools=TOOLS),
    # string methods
    T("string_methods", "[{{ '  x  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\nx\\n'.lstrip('\\n') }}]"
      "[{{ 'x  '.rstrip() }}][{{ '  a  b '.split() }}][{{ 'a,b,,c'.split(',') }}][{{ 'a b c'.split(' ', 1) }}]"
      "[{{ 'a b c'.rsplit(' ', 1) }}][{{ 'x</think>y</think>z'.split('</think>')[-1] }}][{{ 'l1\\nl2\\r\\nl3'.splitlines() }}]"
      "[{{ 'hello'.startswith('he') }}][{{ 'hello'.startswith(('x', 'hel')) }}][{{ 'hello'.endswith('lo') }}]"
      "[{{ 'hello'.startswith('l', 2) }}][{{ 'a-b-c'.replace('-', '') }}][{{ 'aaa'.replace('a', 'b', 1) }}]"
      "[{{ 'abc'.replace('', '.') }}][{{ 'MiX'.lower() }}][{{ 'MiX'.upper() }}][{{ 'hello big-world'.title() }}]"
      "[{{ 'hELLO'.capitalize() }}][{{ 'MiX'.swapcase() }}][{{ 'banana'.find('an') }}][{{ 'banana'.rfind('an') }}]"
      "[{{ 'banana'.find('x') }}][{{ 'banana'.index('n') }}][{{ 'banana'.count('a') }}][{{ ', '.join(['a', 'b']) }}]"
      "[{{ 'x'.center(5, '*') }}][{{ 'x'.ljust(3) }}|][{{ 'x'.rjust(3, '.') }}][{{ '42'.zfill(5) }}][{{ '-4'.zfill(4) }}]"
      "[{{ 'k=v=w'.partition('=') }}][{{ 'k=v=w'.rpartition('=') }}][{{ 'prefix-x'.removeprefix('prefix-') }}]"
      "[{{ 'x.txt'.removesuffix('.txt') }}][{{ '123'.isdigit() }}{{ 'abc'.isalpha() }}{{ 'a1'.isalnum() }}"
      "{{ ' \\t'.isspace() }}{{ 'abc'.islower() }}{{ 'ABC'.isupper() }}{{ ''.isdigit() }}{{ 'Title Case'.istitle() }}]"),
    T("string_format", "{{ '%s and %s' % ('a', 'b') }} {{ '%d%%' % 50 }} {{ '%5.2f|%-5d|%05d|%x|%X|%o|%+d' % "
      "(3.14159, 42, 42, 255, 255, 8, 5) }} {{ '%r %s' % ('q', none) }} {{ '%(name)s is %(age)d' % {'name': 'Ada', 'age': 36} }} "
      "{{ '%s' % [1, 2] }} {{ '%.3s|%10s|%-10s|' % ('abcdef', 'right', 'left') }} {{ '%e|%g|%G' % (12345.678, 0.00001234, 1e20) }}"
      " {{ '{} {}'.format('a', 'b') }} {{ '{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='Ada') }} "
      "{{ '{:>6}|{:<6}|{:^6}|{:*^7}'.format('r', 'l', 'c', 'x') }} {{ '{:.2f} {:,} {:08.3f} {:+d} {:x} {:#b}'.format("
      "3.14159, 1234567, -3.14159, 5, 255, 5) }} {{ '{!r} {!s}'.format('x', 1) }} {{ '{0[0]} {0[1]}'.format(['p', 'q']) }} "
      "{{ '{m.role}'.format(m=messages[0]) }} {{ '{{literal}} {}'.format(1) }} {{ '{:.1%}'.format(0.256) }} "
      "{{ '{:e}'.format(1234.5) }} {{ '{}'.format(1.0) }} {{ '{:5}|{:<5}|'.format(42, 42) }}", messages=MULTI),
    T("unicode_strings", "{{ 'Grüße'|length }} {{ '你好🌍'|length }} {{ '你好🌍'[2] }} {{ '你好🌍'|reverse }} "
      "{{ 'ÄÖÜ'|lower }} {{ 'éa'|upper }} {{ 'straße'|upper }} {{ ['é', '☃', '\\u00a0', '\\u200b'] }} "
      "{{ '  ünï  '|trim }} {{ '\\u3000wide\\u3000'|trim }} {{ 'ωμέγα'|title }} {{ 'x🌍y'.split('🌍') }}"),
    T("unicode_case_mapping", "{{ 'ﬁ'|upper }} {{ 'ﬁ'.title() }} {{ 'ǆ'.title() }} {{ 'İ'|lower }} {{ 'ŉ'|upper }} {{ 'ΐ'|upper }} "
      "{{ 'ΣΑΣ'|lower }} {{ 'ΟΔΟΣ. ΟΔΟΣ\\'Σ'|lower }} {{ 'ΑΣ'.title() }} {{ 'ǳ'|capitalize }} {{ 'ﬃx'.capitalize() }} "
      "{{ 'Straße'.swapcase() }} {{ 'ß'.casefold() }} {{ 'ΣΑΣ'.casefold() }} {{ 'ﬁ'|title }} {{ 'ᾳ'|upper }}{{ 'ᾳ'.title() }} "
      "{{ 'ⅷ'.isnumeric() }}{{ '²'.isdigit() }}{{ '٣'.isdigit() }}{{ '½'.isnumeric() }}{{ '²'.isdecimal() }}{{ '三'.isalnum() }} "
      "{{ '²³ x½'|wordcount }}"),
    T("globals", "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }} "
      "{{ dict(a=1, b='x') }} {{ dict([('k', 1)]) }} {% set j = joiner(' | ') %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %}"
      " {% set c = cycler('r', 'g') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}"),
    T("strftime_and_dates", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|"
      "{{ strftime_now('%A, %B %-d, %y %I%p %j %a') }}|{% if not date_string is defined %}{% set date_string = "
      "strftime_now('%d %B %Y') %}{% endif %}{{ date_string }}", now="2024-03-05T09:07:03"),
    T("date_string_given", "{% if not date_string is defined %}{% set date_string = '26 Jul 2024' %}{% endif %}"
      "Today Date: {{ date_string }}", extra={"date_string": "01 Jan 2025"}),
    T("special_variables", "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools }}|{{ documents }}|"
      "{{ tools is none }}|{{ documents is defined }}|{{ custom_flag }}|{{ pad_token is defined }}",
      bos_token="<s>", eos_token="</s>", add_generation_prompt=True, extra={"custom_flag": [1, {"x": True}]}),
    T("documents", "{% for d in documents %}[{{ loop.index }}] {{ d.title }}: {{ d.text }}\n{% endfor %}",
      documents=[{"title": "Lexicon", "text": "A vocabulary."}, {"title": "Glossary", "text": "A list of terms."}]),
    T("tool_calls_rendering", "{% for m in messages if m.tool_calls %}{% for c in m.tool_calls %}"
      "{% set f = c.function if c.function is defined else c %}{{ f.name }}({% if f.arguments is string %}"
      "{{ f.arguments }}{% else %}{% for k, v in f.arguments.items() %}{{ k }}={{ v|tojson }}{% if not loop.last %}, "
      "{% endif %}{% endfor %}{% endif %})\n{% endfor %}{% endfor %}", messages=TOOL_CONVERSATION + MULTI_STEP_TOOLS),
    T("undefined_handling", "[{{ nothing }}][{{ nothing|default('d') }}][{{ nothing is defined }}][{{ data.none_field }}]"
      "[{{ data.missing is defined }}][{{ nothing is defined and nothing.x }}][{{ data.missing or 'alt' }}]"
      "[{% for x in nothing %}{{ x }}{% endfor %}][{{ nothing|list }}][{{ nothing ~ 'cat' }}][{{ nothing|string }}]"
      "[{{ nothing|upper }}][{{ nothing|length }}][{{ data.missing|join(',') }}]", extra={"data": {"none_field": None}}),
    T("chatml_with_system_default", "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are helpful.<|im_end|>\\n' }}"
      "{% endif %}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + "
      "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
      messages=SYSTEM_MULTI[1:], add_generation_prompt=True),
    T("mistral_style", "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
      "(loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate') }}{% endif %}{% if message['role'] == 'user' %}"
      "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + "
      "eos_token }}{% endif %}{% endfor %}", messages=MULTI, bos_token="<s>", eos_token="</s>"),
    T("scoping_more", "{% for i in [1, 2] %}{% set inner = i %}{% else %}{% set inner = 'else' %}{% endfor %}[{{ inner }}]"
      "{% for i in [] %}{% else %}{% set e = 'in-else' %}[{{ e }}]{% endfor %}[{{ e }}]{% macro m() %}{{ caller is defined }}"
      "{% endmacro %}{{ m() }}{% macro n() %}{{ caller() if caller is defined else 'no caller' }}{% endmacro %}{{ n() }}"
      "{% call n() %}called{% endcall %}{% set outer = 1 %}{% macro read() %}{{ outer }}{% endmacro %}"
      "{% for outer in [5] %}{{ read() }}{{ outer }}{% endfor %}"),
    T("scoping_frames_hide_template_variables",
      "{% for i in [1] %}[{{ x }}]{% endfor %}{% set x = 5 %}[{{ x }}]|"
      "{% for i in [1, 2] %}{% for j in [0] %}[{{ y }}]{% endfor %}{% set y = i %}{% endfor %}|"
      "{% for i in [1, 2] %}{% for j in [0] %}[{{ z }}]{% endfor %}{% if i == 1 %}{% set z = 1 %}{% else %}"
      "{% set z = 2 %}{% endif %}{% endfor %}|{% for i in [1] %}{{ w is defined }}{% for j in [0] %}[{{ w }}]{% endfor %}"
      "{% set w = 2 %}{% endfor %}|{% macro m() %}{% for j in [0] %}[{{ v }}]{% endfor %}{% set v = 1 %}{% endmacro %}{{ m() }}|"
      "{% set blk %}{% set inner = 1 %}{% endset %}[{{ inner }}]|{% filter upper %}{% set inner2 = 1 %}{% endfilter %}[{{ inner2 }}]|"
      "{% for i in [1, 2] %}{% with %}[{{ u }}]{% endwith %}{% set u = i %}{% endfor %}",
      extra={"x": "X", "y": "Y", "z": "Z", "w": "W", "v": "V", "inner": "I", "inner2": "J", "u": "U"}),
    T("crlf_and_cr_newlines", "{% for m in messages %}\r\n  {{ m.role }}:\r{{ m.content }}\r\n{% endfor %}\r\n"
      "{{ 'literal\r\nkept' }}\r\n", messages=MULTI),
    T("multiline_tags", "{%\n  if messages\n     | length > 1\n%}\nmany\n{%\n  endif\n%}\n{{\n  messages[0]\n  .content\n}}\n{{- '|' -}}\n"
      "{#-\n  comment\n-#}\n  end", messages=MULTI),
    T("dict_keys_numbers", "{% set d = {1: 'int', 2.5: 'float', true: 'bool', none: 'none'} %}{{ d[1] }} {{ d[1.0] }} {{ d[true] }}"
      " {{ d[2.5] }} {{ d[none] }} {{ 1.0 in d }} {{ d|length }} {{ {1: 'a', 1.0: 'b'} }} {{ d.get(2) }}"),
    T("selectattr_tests", "{{ data|selectattr('x', 'defined')|list|length }} {{ data|selectattr('x', 'undefined')|list|length }} "
      "{{ data|selectattr('x', 'none')|list|length }} {{ data|selectattr('x', 'string')|map(attribute='x')|list }} "
      "{{ data|rejectattr('x', 'in', ['a', 'b'])|list|length }} {{ data|map(attribute='x', default='-')|list }} "
      "{{ ['a', 'bb', 'ccc']|map('length')|list }} {{ [[1, 2], [3]]|map('join', '+')|list }} "
      "{{ ['x', 'y']|map('center', 3)|list }}",
      extra={"data": [{"x": "a"}, {"x": None}, {"y": 1}, {"x": "c"}]}),
    T("hermes_style_tools", "{%- if tools %}\n{{- '<|im_start|>system\\n' }}\n{%- if messages[0]['role'] == 'system' %}\n"
      "{{- messages[0]['content'] }}\n{%- else %}\n{{- 'You are a function calling AI model.' }}\n{%- endif %}\n"
      "{{- ' You are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}\n"
      "{%- for tool in tools %}\n{{- '\\n' }}\n{{- tool | tojson(indent=4) }}\n{%- endfor %}\n"
      "{{- '\\n</tools>' }}\n{{- '<|im_end|>\\n' }}\n{%- endif %}\n{%- for message in messages %}\n"
      "{%- if message.role == 'system' and loop.first and tools %}{% continue %}{% endif %}\n"
      "{%- if message.role == 'assistant' and message.tool_calls is defined %}\n{{- '<|im_start|>assistant' }}\n"
      "{%- for tool_call in message.tool_calls %}\n{%- set fn = tool_call.function if tool_call.function is defined else tool_call %}\n"
      "{{- '\\n<tool_call>\\n' }}{{- {'name': fn.name, 'arguments': (fn.arguments if fn.arguments is mapping else "
      "fn.arguments)}|tojson }}{{- '\\n</tool_call>' }}\n{%- endfor %}\n{{- '<|im_end|>\\n' }}\n"
      "{%- elif message.role == 'tool' %}\n{%- if loop.previtem and loop.previtem.role != 'tool' %}{{- '<|im_start|>tool' }}"
      "{%- endif %}\n{{- '\\n<tool_response>\\n' ~ message.content ~ '\\n</tool_response>' }}\n"
      "{%- if loop.last or loop.nextitem.role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}\n{%- else %}\n"
      "{{- '<|im_start|>' + message.role + '\\n' + (message.content or '')|trim + '<|im_end|>\\n' }}\n{%- endif %}\n"
      "{%- endfor %}\n{%- if add_generation_prompt %}\n{{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n",
      messages=TOOL_CONVERSATION + MULTI_STEP_TOOLS[1:], tools=TOOLS, add_generation_prompt=True),
    T("llama31_like_tools_and_date", "{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n"
      "{%- endif %}\n{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n"
      "{%- if not date_string is defined %}\n    {%- set date_string = strftime_now('%d %b %Y') %}\n{%- endif %}\n"
      "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n"
      "    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = '' %}\n{%- endif %}\n"
      "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}\n{%- if tools is not none %}\n"
      "    {{- 'Environment: ipython\\n' }}\n{%- endif %}\n{{- 'Cutting Knowledge Date: December 2023\\n' }}\n"
      "{{- 'Today Date: ' + date_string + '\\n\\n' }}\n{{- system_message }}\n{{- '<|eot_id|>' }}\n"
      "{%- if tools_in_user_message and not tools is none %}\n    {%- if messages | length != 0 %}\n"
      "        {%- set first_user_message = messages[0]['content']|trim %}\n        {%- set messages = messages[1:] %}\n"
      "    {%- else %}\n        {{- raise_exception('Cannot put tools in the first user message when there is none.') }}\n"
      "    {%- endif %}\n    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
      "    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- '\\n\\n' }}\n    {%- endfor %}\n"
      "    {{- first_user_message + '<|eot_id|>'}}\n{%- endif %}\n{%- for message in messages %}\n"
      "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
      "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
      "    {%- elif 'tool_calls' in message %}\n        {%- set tool_call = message.tool_calls[0].function %}\n"
      "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
      "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n        {{- '\"parameters\": ' }}\n"
      "        {{- tool_call.arguments | tojson }}\n        {{- '}' }}\n        {{- '<|eot_id|>' }}\n"
      "    {%- elif message.role == 'tool' or message.role == 'ipython' %}\n"
      "        {{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' }}\n        {%- if message.content is mapping or "
      "message.content is iterable and message.content is not string %}\n            {{- message.content | tojson }}\n"
      "        {%- else %}\n            {{- message.content }}\n        {%- endif %}\n        {{- '<|eot_id|>' }}\n"
      "    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n"
      "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n",
      messages=TOOL_CONVERSATION[:4] + [{"role": "tool", "content": {"temp": 11.5, "ok": True}}], tools=TOOLS,
      add_generation_prompt=True, bos_token="<|begin_of_text|>", now="2025-02-28T23:59:59"),
    T("deepseek_like", "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
      "{% set ns = namespace(is_first=false, is_tool=false, system_prompt='', is_first_sp=true) %}"
      "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
      "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}"
      "{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}"
      "{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
      "{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' "
      "and message['content'] %}{% set content = message['content'] %}{% if '</think>' in content %}"
      "{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}"
      "{%- endif %}{%- endfor -%}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}",
      messages=[{"role": "system", "content": "S1"}, {"role": "system", "content": "S2"}] + THINK_IN_CONTENT,
      add_generation_prompt=True, bos_token="<｜begin▁of▁sentence｜>"),
    T("jinja_quirks", "{{ 1 if true }}{{ [1, 2, 3]|length > 2 and 'long' }} {{ -1|abs }} {{ - 1|abs }} {{ 'abc'|upper ~ 'd' }} "
      "{{ messages|length - 1 }} {{ (messages|length) - 1 }} {{ messages[-1]['content'] if messages else '' }} "
      "{{ 10 - 2 - 3 }} {{ 2 * 3 ** 2 }} {{ 'x' ~ (1 + 2) }} {{ not 1 == 2 }} {{ 'a' ~ 'b' == 'ab' }}", messages=MULTI),
]

# ---------------------------------------------------------------------------------------------
# Templates that fail: syntax errors (line from Jinja2) and errors while rendering

ERROR_CASES = [
    T("unclosed_if", "line one\n{% if x %}\nbody\n"),
    T("unclosed_for_in_if", "{% if true %}\n{% for m in messages %}\n{{ m }}\n{% endif %}"),
    T("unknown_tag", "ok\n\n{% frobnicate %}"),
    T("stray_endfor", "a\n{% endfor %}"),
    T("missing_expression", "{{ }}"),
    T("dangling_operator", "\n{{ 1 + }}"),
    T("unknown_filter", "{{ 'x' }}\n{{ 'x'|nosuchfilter }}"),
    T("unknown_test", "{% if x is nosuchtest %}{% endif %}"),
    T("unterminated_string", "{{ 'abc }}"),
    T("unexpected_char", "{{ a ! b }}"),
    T("mismatched_brackets", "{{ (1] }}"),
    T("unclosed_comment", "a {# never closed"),
    T("unclosed_raw", "{% raw %}forever"),
    T("break_outside_loop", "{% break %}"),
    T("chained_is", "{{ x is defined is defined }}"),
    T("default_before_plain_param", "{% macro m(a=1, b) %}{% endmacro %}"),
    T("call_without_call", "{% call foo %}{% endcall %}"),
    T("endmacro_missing", "{% macro m() %}\nbody"),
    T("ternary_after_test_is_syntax_error", "{{ x is defined if true else 2 }}"),
    T("raise_exception", "{% if messages|length == 0 %}{{ raise_exception('Conversation is empty!') }}{% endif %}"),
    T("raise_exception_in_macro", "{% macro check(m) %}{% if m.role not in ['user', 'assistant'] %}"
      "{{ raise_exception('Unknown role: ' ~ m.role) }}{% endif %}{% endmacro %}{% for m in messages %}{{ check(m) }}"
      "{% endfor %}", messages=[{"role": "user", "content": "a"}, {"role": "wizard", "content": "b"}]),
    T("undefined_attribute_chain", "{{ nothing.attr }}"),
    T("undefined_nested_attribute", "{{ messages[0].missing.deeper }}", messages=HELLO),
    T("string_plus_int", "{{ 'count: ' + 1 }}"),
    T("none_plus_string", "{{ messages[0].content + 'x' }}", messages=[{"role": "user", "content": None}]),
    T("division_by_zero", "{{ 1 / 0 }}"),
    T("int_not_iterable", "{% for x in 5 %}{% endfor %}"),
    T("in_none", "{{ 'a' in none }}"),
    T("too_many_macro_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
    T("unknown_macro_kwarg", "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}"),
    T("list_append_is_unsafe", "{% set x = [] %}{{ x.append(1) }}"),
    T("dict_update_is_unsafe", "{% set d = {} %}{{ d.update({'a': 1}) }}"),
    T("set_attribute_on_dict", "{% set d = {} %}{% set d.x = 1 %}"),
    T("tojson_undefined", "{{ nothing|tojson }}"),
    T("compare_str_int", "{{ 'a' < 1 }}"),
    T("unpack_mismatch", "{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
    T("range_too_big", "{{ range(200000)|length }}"),
    T("length_of_generator", "{{ [1, 2]|select|length }}"),
    T("calling_a_string", "{{ 'abc'() }}"),
    T("items_of_list", "{{ [1, 2]|items|list }}"),
    T("concat_binds_tighter_than_plus", "{{ 'x' ~ 1 + 2 }}"),
    T("malformed_named_escape", "{{ 'a\\N' }}"),
    T("unknown_filter_in_if_is_deferred", "{% if false %}{{ x|nosuchfilter }}{% endif %}ok{% if true %}"
      "{{ 'y'|nosuchfilter }}{% endif %}"),
    T("unknown_filter_in_loop_inside_if", "{% if false %}{% for x in [] %}{{ x|nosuchfilter }}{% endfor %}{% endif %}"),
    T("undefined_loop_call", "{% for x in [1] %}{{ loop([2]) }}{% endfor %}"),
]
