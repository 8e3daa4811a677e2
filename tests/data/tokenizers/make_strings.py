#!/usr/bin/env python3
# Writes strings.json: the test inputs whose Hugging Face ids are stored in golden_*.json.
# Deterministic (fixed seed); rerun only to change the set, then regenerate the goldens with
# make_goldens.py on a machine that has HF tokenizers.
import json
import os
import random

here = os.path.dirname(os.path.abspath(__file__))

fixed = [
    "",
    "a",
    " ",
    "Hello, world!",
    "hello world",
    " Hello",
    "  Hello  ",
    "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.",
    "It's we'll they're I'd you've I'm he's can't",
    "IT'S WE'LL THEY'RE I'D YOU'VE I'M HE'S CAN'T",
    "it'S We'Ll tHEY'rE",
    "don\u2019t smart \u2018quotes\u2019 and \u201cdouble\u201d",
    "'s 't 're 've 'm 'll 'd",
    "'\u017f long s and \u212a kelvin",
    "O'Neill's rock'n'roll",
    # whitespace
    "\n",
    "\n\n\n",
    "\t",
    "\t\t\tindented",
    "tab\tand\r\nCRLF",
    "a\r\rb\r\n\r\nc",
    "  multiple   spaces   ",
    "trailing space ",
    " leading space",
    "     ",
    "\u00a0non\u00a0breaking\u00a0space",
    "next\u0085line",
    "line\u2028separator\u2029paragraph",
    "ideographic\u3000space",
    "\u200b zero width",
    "ogham\u1680space",
    "narrow\u202fno-break and\u205fmath",
    "en\u2002em\u2003thin\u2009hair\u200a",
    "mixed \t \n \r\n  \t\n",
    "\n\n\nHello\n\n\n\nWorld\n",
    "a\n b\n  c\n   d",
    "word   \n   word",
    "x \n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n y",
    "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\tend",
    # digits
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "1234567890",
    "3.14159 2718281828 1000000",
    "1,000,000.00",
    "+1 (555) 867-5309",
    "2024-01-15T10:30:00Z",
    "x=1; y = x**2 // 3",
    "\u0663\u0664\u0665 arabic-indic digits",
    "\uff11\uff12\uff13 fullwidth digits",
    "x\u00b2 + y\u00b3 = z\u00b9",
    "\u216b roman twelve, \u00bd half, \u2460 circled",
    "\u0967\u0968\u0969 devanagari digits",
    "0x1F 0b1010 0o777 1e-9 6.02e23",
    "v1.2.3-rc.4+build.5",
    # code
    "def foo(bar):\n    return bar * 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "#include <iostream>\nint main() { std::cout << \"hi\\n\"; }",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
    "<div class=\"x\"><p>Hello</p></div>",
    "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
    "ls -la | grep '\\.py$' && echo $HOME",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "    if x:\n        pass\n    else:\n        raise ValueError('no')",
    "const f = (a, b) => a ?? b;  // nullish",
    "re.compile(r'(?i:\\bfoo\\b)+\\s*$')",
    "$$\\int_0^\\infty e^{-x^2} dx = \\frac{\\sqrt{\\pi}}{2}$$",
    "# Title\n\n- item 1\n- item 2\n\n```python\nprint('x')\n```",
    "https://example.com/path?query=1&b=two#frag",
    "user.name+tag@example.co.uk",
    "C:\\Users\\name\\file.txt and /usr/local/bin",
    "!!!???...---___***",
    "a.b,c;d:e!f?g",
    "((((nested))))[[[]]]{{{}}}",
    "@@@ ### $$$ %%% ^^^ &&& ***",
    "...\n\n...",
    "====\n----\n____",
    # multilingual
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "\u4e2d\u6587\u5b57\u7b26\u6d4b\u8bd5",
    "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\uff0c\u5929\u5b89\u95e8\u4e0a\u592a\u9633\u5347\u3002",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0393\u03b5\u03b9\u03b1 \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5 \u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "Xin ch\u00e0o th\u1ebf gi\u1edbi",
    "naïve café résumé",
    "Stra\u00dfe und GROSSE",
    "\u0130stanbul \u0131\u015f\u0131k",
    "Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144",
    "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0",
    "\u0532\u0561\u0580\u0587 \u0570\u0561\u0575\u0565\u0580\u0565\u0576",
    "\u1200\u120b\u121d \u12a0\u121b\u122d\u129b",
    "\u0dc3\u0dd2\u0d82\u0dc4\u0dbd",
    "\u0ba4\u0bae\u0bbf\u0bb4\u0bcd \u0bae\u0bca\u0bb4\u0bbf",
    "\u1019\u103c\u1014\u103a\u1019\u102c",
    "\u0f56\u0f7c\u0f51\u0f0b\u0f61\u0f72\u0f42",
    "hello\u4e16\u754c123abc\u4e16\u754c",
    "mixed English \u548c\u4e2d\u6587 and \u0440\u0443\u0441\u0441\u043a\u0438\u0439",
    "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3068\u6f22\u5b57",
    "\uff21\uff22\uff23 fullwidth latin \uff41\uff42\uff43",
    "\uff8a\uff9d\uff76\uff78 halfwidth katakana",
    # normalization
    "e\u0301 decomposed vs \u00e9 composed",
    "\u212b angstrom \u2126 ohm \u00c5 \u03a9",
    "\ufb01 ligature \ufb02 \ufb00",
    "\u1100\u1161\u11a8 hangul jamo",
    "A\u030a\u0323 stacked marks",
    "\u1e9b\u0323 long s dot",
    "\u2460\u2461 \u3392 \u33a1 squared",
    "\u00bc \u2153 vulgar fractions",
    "\u2002\u2003 spaces \u2126 \u00b5 micro",
    # emoji
    "\U0001f642\U0001f643\U0001f916\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f3f3\ufe0f\u200d\U0001f308 rainbow flag",
    "\U0001f1ef\U0001f1f5\U0001f1fa\U0001f1f8\U0001f1e9\U0001f1ea flags",
    "1\ufe0f\u20e3 #\ufe0f\u20e3 keycaps",
    "\u2764\ufe0f \u2764 hearts",
    "\U0001f9d1\U0001f3fe\u200d\U0001f4bb coder",
    "I love it \U0001f602\U0001f602\U0001f602!!!",
    "\U0001faf6\U0001fae8 newer emoji",
    # byte fallback / rare
    "\U00020000\U0002a6d6 cjk ext b",
    "\U00010000\U00010001 linear b",
    "\U0001d400\U0001d401 math bold",
    "\ue000\uf8ff private use",
    "\u0000\u0001\u0002\u001f control \u007f del",
    "\ufffd replacement \ufffe\uffff nonchars",
    "\U0010fffd plane 16",
    "\u0300 leading combining mark",
    # special-token look-alikes
    "<|endoftext|>",
    "<|im_end|> inside text",
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|",
    "< |im_end| >",
    "<<|im_end|>>",
    "<|endoftext|><|endoftext|>",
    "text<|endoftext|>text",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<|reserved_special_token_5|> and <|reserved_special_token_250|>",
    "<|eot_id|",
    "<bos><eos><pad><unk><mask>",
    "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_image> <image_soft_token> <end_of_image>",
    "<s> </s> <unk> <0x41> <0xFF>",
    "<think>\nreasoning\n</think>\n\nanswer",
    "<tool_call>{\"name\": \"f\"}</tool_call>",
    "<h1>Title</h1><table><tr><td>cell</td></tr></table>",
    "<b>bold</b> <i>it</i> <code>x</code>",
    "[multimodal] <unused0> <unused99>",
    "\u2581\u2581hello \u2581world\u2581",
    "\u2581",
    "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
    "<|vision_start|><|image_pad|><|vision_end|>",
    "<|endoftext|",
    "|endoftext|>",
    "<\u200b|endoftext|>",
    # misc prose
    "Mr. Smith's car, which he'd bought in 1999, wasn't cheap: $12,345.67!",
    "Dr. Jekyll & Mr. Hyde (1886) \u2014 a novella by R. L. Stevenson.",
    "\"Quoted,\" she said; 'single' too \u2026 and an ellipsis\u2026",
    "ALL CAPS SENTENCE WITH NUMBERS 123 AND PUNCTUATION!!!",
    "camelCaseIdentifier snake_case_identifier kebab-case-identifier",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab",
    "'quoted' \"double\" `back`",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "The year 2023 had 365 days; 2024 has 366.",
    "Temperature: -40\u00b0C = -40\u00b0F",
    "\u00a9 2024 \u2122 \u00ae \u00a7 \u00b6 \u2020 \u2021",
    "\u2190\u2191\u2192\u2193 \u21d2 \u2200x\u2208\u211d: x\u00b2\u22650",
    "\u00bfQu\u00e9 tal? \u00a1Muy bien!",
    "\u00ab guillemets \u00bb \u201e low quotes \u201c",
]


def random_mix(rng, n):
    pool = [
        "the", " of", " and", "ing", " ", "  ", "\n", "\t", "123", "4567", "!", "?", "...",
        "'s", "'LL", " \u4e16\u754c", "\u65e5\u672c", " \u043c\u0438\u0440", " caf\u00e9", "e\u0301",
        "\U0001f600", "\U0001f468\u200d\U0001f4bb", "<|im_end|>", "<eos>", "<b>", "\u2581",
        "\u00a0", "\r\n", " x", "(", ")", "=", "->", "_", "\\n", "<|endoftext|>", "\u0645\u0631",
        "\u00df", "\u0130", " \u0394\u03a3", "\U00020000", "\u0000", "ff", "\ufb01", "\u3000",
    ]
    return "".join(rng.choice(pool) for _ in range(n))


def long_strings(rng):
    out = [
        "a" * 10000,
        " " * 10000,
        "\n" * 3000 + "x" + "\t" * 3000,
        "abc " * 2500,
        "".join(rng.choice("0123456789") for _ in range(10000)),
        ("Hello, world! " * 800)[:10000],
        "\U0001f600" * 2500,
        "\u4e2d\u6587" * 5000,
    ]
    out.append(random_mix(rng, 4000)[:10000])
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "\u00e9t\u00e9", "\u0434\u0430", "42", "3.5",
             "foo_bar", "x=y", "\u4f60\u597d", "don't", "WE'RE", "\U0001f44d\U0001f3fd"]
    seps = [" ", " ", " ", "\n", ", ", ". ", "  ", "\t"]
    text = []
    size = 0
    while size < 10000:
        w = rng.choice(words) + rng.choice(seps)
        text.append(w)
        size += len(w)
    out.append("".join(text)[:10000])
    return out


def main():
    rng = random.Random(20261127)
    strings = list(fixed)
    strings += [random_mix(rng, rng.randint(1, 40)) for _ in range(120)]
    strings += long_strings(rng)
    seen = set()
    unique = []
    for s in strings:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    with open(os.path.join(here, "strings.json"), "w", encoding="utf-8") as f:
        json.dump(unique, f, ensure_ascii=True, indent=0)
        f.write("\n")
    print(f"{len(unique)} strings")


if __name__ == "__main__":
    main()
