// Chat templates: real model formats rendered to exact strings (derived by hand from
// Jinja semantics as transformers configures them: trim_blocks and lstrip_blocks on),
// whitespace control, scoping, and hostile input that must end in a clean error.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kaa/chat.hpp"
#include "kaa/error.hpp"
#include "support/shared.hpp"

using kaa::ChatMessage;
using kaa::ChatTemplate;
using kaa::ChatTemplateOptions;

namespace {

const std::string kChatML =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

ChatTemplateOptions opts(bool gen, std::string bos = "<s>", std::string eos = "</s>") {
    ChatTemplateOptions o;
    o.add_generation_prompt = gen;
    o.bos_token = std::move(bos);
    o.eos_token = std::move(eos);
    return o;
}

// Renders a template that does not look at messages.
std::string run(const std::string& src, const std::vector<ChatMessage>& msgs = {}) {
    return ChatTemplate::parse(src).render(msgs, opts(true));
}

// The error message of parsing + rendering `src`, "" when it succeeds.
std::string error_of(const std::string& src, const std::vector<ChatMessage>& msgs = {},
                     ChatTemplateOptions o = opts(true)) {
    try {
        ChatTemplate::parse(src).render(msgs, o);
    } catch (const kaa::Error& e) {
        CHECK(e.code() == kaa::ErrorCode::template_error);
        return e.what();
    }
    return "";
}

// Reads tokenizer.chat_template straight from a GGUF's bytes: the key (u64 length +
// text) is followed by the value type (u32, 8 = string), a u64 length and the text.
// Independent of lib/gguf on purpose, so this test checks the template, not the reader.
// Metadata comes before the tensors, so the first 8 MiB are enough.
std::string gguf_chat_template(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::string data(std::size_t(8) << 20, '\0');
    f.read(&data[0], std::streamsize(data.size()));
    data.resize(std::size_t(f.gcount()));
    const std::string key = "tokenizer.chat_template";
    const std::size_t at = data.find(key);
    if (at == std::string::npos || at + key.size() + 12 > data.size()) return "";
    std::uint32_t type = 0;
    std::uint64_t len = 0;
    std::memcpy(&type, data.data() + at + key.size(), 4);
    std::memcpy(&len, data.data() + at + key.size() + 4, 8);
    const std::size_t start = at + key.size() + 12;
    if (type != 8 || len > data.size() - start) return "";
    return data.substr(start, std::size_t(len));
}

const std::vector<ChatMessage> kSysConversation = {
    {"system", "Be brief."}, {"user", "Hi there"}, {"assistant", " Hello! "}, {"user", "Bye"}};

}  // namespace

// ---- ChatML, as shipped in the test models -------------------------------------------------

TEST_CASE("chatml: the template in the Falcon-Mamba GGUF renders with and without a generation prompt", "[chat]") {
    KAA_REQUIRE_SHARED();
    const std::string src = gguf_chat_template(kaa::test::shared_path("models/tiny-falcon-mamba-f32.gguf"));
    REQUIRE(src == kChatML);
    const ChatTemplate t = ChatTemplate::parse(src);
    const std::vector<ChatMessage> msgs = {{"system", "You are helpful."}, {"user", "Hi"}};
    CHECK(t.render(msgs, opts(true)) ==
          "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
          "<|im_start|>assistant\n");
    CHECK(t.render(msgs, opts(false)) ==
          "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

TEST_CASE("chatml: the built-in default is the same template", "[chat]") {
    const ChatTemplate t = ChatTemplate::chatml();
    CHECK(t.source() == kChatML);
    const std::vector<ChatMessage> msgs = {{"user", "2+2?"}, {"assistant", "4"}, {"user", "ü€😀\n"}};
    CHECK(t.render(msgs) ==
          "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
          "<|im_start|>user\nü€😀\n<|im_end|>\n<|im_start|>assistant\n");
    CHECK(t.render({}, opts(false)).empty());
    const ChatTemplate copy = t;   // copies share the parsed form
    CHECK(copy.render(msgs) == t.render(msgs));
}

// ---- well-known formats ------------------------------------------------------------------

TEST_CASE("llama-2: [INST] with the system prompt folded into the first turn", "[chat]") {
    const std::string src =
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
        "{% endif %}{% endfor %}";
    const ChatTemplate t = ChatTemplate::parse(src);
    CHECK(t.render(kSysConversation, opts(true)) ==
          "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] Bye [/INST]");
    CHECK(t.render({{"user", "Hi"}}, opts(true)) == "<s>[INST] Hi [/INST]");
    try {
        t.render({{"user", "a"}, {"user", "b"}}, opts(true));
        FAIL("alternation was not enforced");
    } catch (const kaa::Error& e) {
        CHECK(e.code() == kaa::ErrorCode::template_error);
        CHECK(std::string(e.what()) == "Conversation roles must alternate user/assistant/user/assistant/...");
    }
}

TEST_CASE("zephyr: multi-line template relies on trim_blocks and lstrip_blocks", "[chat]") {
    const std::string src =
        "{% for message in messages %}\n"
        "{% if message['role'] == 'user' %}\n"
        "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'system' %}\n"
        "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'assistant' %}\n"
        "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
        "{% endif %}\n"
        "{% if loop.last and add_generation_prompt %}\n"
        "{{ '<|assistant|>' }}\n"
        "{% endif %}\n"
        "{% endfor %}";
    const ChatTemplate t = ChatTemplate::parse(src);
    const std::vector<ChatMessage> msgs = {{"system", "S"}, {"user", "U"}};
    CHECK(t.render(msgs, opts(true)) == "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n");
    CHECK(t.render(msgs, opts(false)) == "<|system|>\nS</s>\n<|user|>\nU</s>\n");
}

TEST_CASE("gemma: <start_of_turn> with assistant mapped to model and content trimmed", "[chat]") {
    const std::string src =
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
        "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";
    const ChatTemplate t = ChatTemplate::parse(src);
    const std::vector<ChatMessage> msgs = {{"user", "Hi"}, {"assistant", "Hello"}, {"user", " How are you? "}};
    CHECK(t.render(msgs, opts(true, "<bos>")) ==
          "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
          "<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n");
    CHECK(error_of(src, {{"system", "x"}}) == "System role not supported");
}

TEST_CASE("alpaca and vicuna: plain-text instruction formats", "[chat]") {
    const std::string alpaca =
        "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}"
        "{{ message['content'] + '\n\n' }}{% elif message['role'] == 'user' %}"
        "{{ '### Instruction:\n' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}"
        "{{ '### Response:\n' + message['content'] + eos_token + '\n\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '### Response:\n' }}{% endif %}";
    CHECK(ChatTemplate::parse(alpaca).render(
              {{"system", "Sys"}, {"user", "Do X"}, {"assistant", "Done"}, {"user", "Do Y"}}, opts(true)) ==
          "<s>Sys\n\n### Instruction:\nDo X\n\n### Response:\nDone</s>\n\n### Instruction:\nDo Y\n\n"
          "### Response:\n");

    const std::string vicuna =
        "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + ' ' }}"
        "{% set loop_messages = messages[1:] %}{% else %}"
        "{{ 'A chat between a curious user and an artificial intelligence assistant. ' }}"
        "{% set loop_messages = messages %}{% endif %}{% for message in loop_messages %}"
        "{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}"
        "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' + message['content'] + eos_token + ' ' }}"
        "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";
    const ChatTemplate v = ChatTemplate::parse(vicuna);
    CHECK(v.render({{"user", "Hi"}, {"assistant", "Hello"}}, opts(true)) ==
          "A chat between a curious user and an artificial intelligence assistant. USER: Hi "
          "ASSISTANT: Hello</s> ASSISTANT:");
    CHECK(v.render({{"system", "Sys."}, {"user", "Hi"}}, opts(false)) == "Sys. USER: Hi ");
}

TEST_CASE("llama-3: header format with bos_token on the first turn and | trim", "[chat]") {
    const std::string src =
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ "
        "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
        "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
    const ChatTemplate t = ChatTemplate::parse(src);
    CHECK(t.render({{"system", " S "}, {"user", "U"}}, opts(true, "<|begin_of_text|>")) ==
          "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST_CASE("mistral: indented template with {%- -%} and is defined", "[chat]") {
    const std::string src =
        "{%- if messages[0]['role'] == 'system' %}\n"
        "    {%- set system_message = messages[0]['content'] %}\n"
        "    {%- set loop_messages = messages[1:] %}\n"
        "{%- else %}\n"
        "    {%- set loop_messages = messages %}\n"
        "{%- endif %}\n\n"
        "{{- bos_token }}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if message['role'] == 'user' %}\n"
        "        {%- if loop.first and system_message is defined %}\n"
        "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
        "        {%- else %}\n"
        "            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
        "        {%- endif %}\n"
        "    {%- elif message['role'] == 'assistant' %}\n"
        "        {{- ' ' + message['content'] + eos_token}}\n"
        "    {%- endif %}\n"
        "{%- endfor %}\n";
    CHECK(ChatTemplate::parse(src).render({{"system", "S"}, {"user", "U"}, {"assistant", "A"}, {"user", "V"}},
                                          opts(true)) == "<s> [INST] S\n\nU [/INST] A</s> [INST] V [/INST]");
}

TEST_CASE("a function kaa lacks is fine in a branch that is not taken", "[chat]") {
    // Llama-3.1 guards strftime_now with `is defined`.
    const std::string src =
        "{%- if strftime_now is defined %}{%- set d = strftime_now('%d %b %Y') %}"
        "{%- else %}{%- set d = '26 Jul 2024' %}{%- endif %}{{ d }}";
    CHECK(run(src) == "26 Jul 2024");
    CHECK_THAT(error_of("{{ strftime_now('%Y') }}"), Catch::Contains("strftime_now"));
}

// ---- whitespace ----------------------------------------------------------------------------

TEST_CASE("whitespace control: - strips on its side, trim/lstrip_blocks as transformers sets them", "[chat]") {
    CHECK(run("a  {%- if true -%}  b  {%- endif -%}  c") == "abc");
    CHECK(run("a \n {{- 'x' -}} \n b") == "axb");
    CHECK(run("a {#- note -#} b") == "ab");
    CHECK(run("a {{ 'x' }} b") == "a x b");
    // trim_blocks: the newline after %} goes; lstrip_blocks: indentation before {% goes.
    CHECK(run("  {% if true %}\n  x\n  {% endif %}\n  y") == "  x\n  y");
    CHECK(run("{% for i in [1, 2] %}\n{{ i }}\n{% endfor %}\n") == "1\n2\n");
    // Not for {{ }}: its newline and indentation stay.
    CHECK(run("  {{ 'a' }}\n  {{ 'b' }}") == "  a\n  b");
    // Indentation before a tag that is not first on its line stays.
    CHECK(run("x  {% if true %}y{% endif %}") == "x  y");
    // {%+ and +%} opt a tag out.
    CHECK(run("  {%+ if true %}x{% endif +%}\ny") == "  x\ny");
    // Comments behave like blocks; CRLF becomes LF; one trailing newline is dropped.
    CHECK(run("{# c #}\n  {# d #}\nz\r\nw\r\n\n") == "z\nw\n");
    CHECK(run("x\n") == "x");
}

TEST_CASE("whitespace: plain Jinja defaults on request", "[chat]") {
    kaa::ChatTemplateSyntax plain;
    plain.trim_blocks = false;
    plain.lstrip_blocks = false;
    const auto render = [&](const std::string& src) { return ChatTemplate::parse(src, plain).render({}); };
    CHECK(render("  {% if true %}\n  x\n  {% endif %}\n  y") == "  \n  x\n  \n  y");
    CHECK(render("{% for i in [1, 2] %}\n{{ i }}\n{% endfor %}\n") == "\n1\n\n2\n");
    CHECK(render("a  {%- if true -%}  b  {%- endif -%}  c") == "abc");
}

// ---- scoping --------------------------------------------------------------------------------

TEST_CASE("scoping: set inside a for stays inside, if does not scope, namespace escapes", "[chat]") {
    // Each iteration starts again from the outer x.
    CHECK(run("{% set x = 1 %}{% for i in [1,2,3] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}") == "234|1");
    CHECK(run("{% for i in [1,2] %}{{ y }}{% set y = i %}{{ y }}{% endfor %}[{{ y }}]") == "12[]");
    CHECK(run("{% for i in [1,2,3] %}{% if i == 2 %}{% set y = 'two' %}{% endif %}{{ y }}{% endfor %}|{{ y }}") ==
          "two|");
    CHECK(run("{% if true %}{% set z = 5 %}{% endif %}{{ z }}") == "5");
    CHECK(run("{% set ns = namespace(total=0, seen=false) %}{% for i in [1,2,3] %}"
              "{% set ns.total = ns.total + i %}{% set ns.seen = true %}{% endfor %}{{ ns.total }} {{ ns.seen }}") ==
          "6 True");
    // The loop variable and `loop` do not outlive the loop.
    CHECK(run("{% for m in messages %}{% endfor %}{{ m is defined }} {{ loop is defined }}", kSysConversation) ==
          "False False");
    // Nested loops: loop is the innermost one.
    CHECK(run("{% for a in 'xy' %}{% for b in [1,2] %}{{ a }}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}") ==
          "x1x21;y1y22;");
    // {% set %}...{% endset %} captures.
    CHECK(run("{% set s %}inner {{ 1 + 1 }}{% endset %}[{{ s }}]") == "[inner 2]");
}

// ---- expressions, filters, tests, methods ----------------------------------------------------

TEST_CASE("expressions follow Python/Jinja semantics", "[chat]") {
    CHECK(run("{{ 1 + 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 1 / 2 }}|{{ 4 / 2 }}|"
              "{{ 0.1 + 0.2 }}|{{ 1e20 }}|{{ 1.5e-7 }}") ==
          "3|3|-4|2|1024|0.5|2.0|0.30000000000000004|1e+20|1.5e-07");
    CHECK(run("{{ 'a' ~ 1 ~ none ~ true }}|{{ [1, 'a', none, true, 1.5] }}|{{ {'a': 1, 'b': [2]} }}") ==
          "a1NoneTrue|[1, 'a', None, True, 1.5]|{'a': 1, 'b': [2]}");
    CHECK(run("{{ 'hello'[1:] }}|{{ 'hello'[::-1] }}|{{ 'hello'[-2] }}|{{ [1,2,3,4,5][1:4:2] }}|"
              "{{ [1,2,3][5] }}|{{ 'héllo'[1] }}|{{ [1,2,3,4,5][4:0:-2] }}") ==
          "ello|olleh|l|[2, 4]||é|[5, 3]");
    CHECK(run("{{ 1 < 2 < 3 }}|{{ 'a' in 'cat' }}|{{ 2 not in [1,2] }}|{{ 'k' in {'k': 1} }}|{{ 1 == 1.0 }}|"
              "{{ none == none }}|{{ [1,2] == [1,2] }}") == "True|True|False|True|True|True|True");
    CHECK(run("{{ 'yes' if 1 else 'no' }}|{{ 'yes' if 0 else 'no' }}|{{ 'yes' if 0 }}|{{ 1 and 'b' }}|"
              "{{ 0 or 'c' }}|{{ not 0 }}|{{ (1 + 2) * 3 }}|{{ -2 ** 2 }}") == "yes|no||b|c|True|9|4");
    CHECK(run("{{ '\\u00e9\\x41\\n'|length }}|{{ 'a' 'b' }}|{{ True }}|{{ None }}") == "3|ab|True|None");
}

TEST_CASE("undefined values render empty and are falsy", "[chat]") {
    CHECK(run("[{{ x }}]{{ x is defined }}|{{ x is not defined }}|{{ 'y' if x else 'n' }}|{{ x | default('d') }}|"
              "{{ x | length }}|{{ x ~ 'a' }}") == "[]False|True|n|d|0|a");
    CHECK(run("{% for c in nothing %}x{% else %}empty{% endfor %}") == "empty");
    // kaa lets undefined.attr be undefined (Jinja would raise), so an empty conversation
    // renders instead of failing on messages[0]['role'].
    CHECK(run("{{ messages[0]['role'] == 'system' }}") == "False");
}

TEST_CASE("filters", "[chat]") {
    CHECK(run("{{ '  hi  ' | trim }}|{{ 'abc' | length }}|{{ [1,2] | count }}|{{ 'aBc' | upper }}|"
              "{{ 'aBc' | lower }}|{{ [1,2,3] | first }}|{{ [1,2,3] | last }}|{{ ['a','b'] | join(', ') }}|"
              "{{ 'hello world' | capitalize }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ '' | default('d', true) }}") ==
          "hi|3|2|ABC|abc|1|3|a, b|Hello world|bba|d");
    CHECK(run("{{ {'a': [1, 2.5, none, true, 'x\"y\\n'], 'b': {}} | tojson }}") ==
          "{\"a\": [1, 2.5, null, true, \"x\\\"y\\n\"], \"b\": {}}");
    CHECK(run("{{ [1, {'k': 'ü'}] | tojson(indent=2) }}") == "[\n  1,\n  {\n    \"k\": \"ü\"\n  }\n]");
    CHECK(run("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('+') }}",
              kSysConversation) == "Hi there+Bye");
    CHECK(run("{{ '42' | int + 1 }}|{{ [3,1,3] | unique | list }}|{{ 'abc' | reverse }}|{{ 1 | string }}x") ==
          "43|[3, 1]|cba|1x");
}

TEST_CASE("tests and string/dict methods", "[chat]") {
    CHECK(run("{{ none is none }}|{{ 'a' is string }}|{{ 1 is number }}|{{ 3 is odd }}|{{ 6 is divisibleby 3 }}|"
              "{{ 1 is in [1] }}|{{ {} is mapping }}") == "True|True|True|True|True|True|True");
    CHECK(run("{{ '  a b  '.strip() }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith('bc') }}|{{ 'aB'.upper() }}|"
              "{{ 'aB'.lower() }}|{{ ' a  b c '.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'xxhixx'.strip('x') }}") ==
          "a b|True|True|AB|ab|['a', 'b', 'c']|['a', 'b', '', 'c']|hi");
    CHECK(run("{% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }}{% if not loop.last %},{% endif %}{% endfor %}") ==
          "x=1,y=2");
    CHECK(run("{% for c in 'héy' %}[{{ loop.index }}{{ c }}{{ loop.revindex }}{{ loop.first }}]{% endfor %}") ==
          "[1h3True][2é2False][3y1False]");
    CHECK(run("{% for i in range(10) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 6 %}{% break %}{% endif %}"
              "{{ i }}{% endfor %}") == "0246");
    CHECK(run("{% for i in [1,2,3,4] if i is even %}{{ loop.index }}:{{ i }}/{{ loop.length }} {% endfor %}") ==
          "1:2/2 2:4/2 ");
    CHECK(run("{% for c in 'abc' %}{{ loop.previtem | default('-') }}{{ loop.nextitem | default('-') }}"
              "{{ loop.revindex0 }}{{ loop['last'] }} {% endfor %}") == "-b2False ac1False b-0True ");
}

TEST_CASE("Jinja quirks that real output depends on", "[chat]") {
    // for-else runs unless some iteration reached the end of the body: a break or
    // continue before that counts as "no iteration" (unlike Python's for-else).
    CHECK(run("{% for i in [1,2] %}{% break %}{% else %}E{% endfor %}|"
              "{% for i in [1,2] %}{% if i == 2 %}{% break %}{% endif %}{% else %}E{% endfor %}|"
              "{% for i in [1,2] %}{% continue %}{% else %}E{% endfor %}") == "E||E");
    // ~ binds tighter than +, ** is left-associative, filters bind tighter than unary minus.
    CHECK(run("{{ 1 ~ 2 + '3' }}|{{ 2 ** 3 ** 2 }}|{{ -3 | abs }}") == "123|64|3");
    // Python float floor division and modulo.
    CHECK(run("{{ 1 // 0.1 }}|{{ 1 % -0.5 }}|{{ -7.5 % 2 }}|{{ 2.0 is even }}|{{ 2.5 is odd }}") ==
          "9.0|-0.0|0.5|True|False");
    // Python float text.
    CHECK(run("{{ 1e16 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 123456789.0 * 1000000000 }}|{{ 3 * 1.0 }}") ==
          "1e+16|0.0001|1e-05|1.23456789e+17|3.0");
    // Python str() quoting inside lists.
    CHECK(run("{{ [\"it's\", 'say \"x\"', 'a\\nb'] }}") == "[\"it's\", 'say \"x\"', 'a\\nb']");
}

TEST_CASE("long conversations render within the limits", "[chat]") {
    std::vector<ChatMessage> msgs;
    std::string expected;
    for (int i = 0; i < 20000; ++i) {
        msgs.push_back({i % 2 ? "assistant" : "user", "message number " + std::to_string(i)});
        expected += "<|im_start|>" + msgs.back().role + "\n" + msgs.back().content + "<|im_end|>\n";
    }
    CHECK(ChatTemplate::chatml().render(msgs, opts(false)) == expected);
    // One 8 MiB message.
    const std::string big(std::size_t(8) << 20, 'x');
    CHECK(ChatTemplate::chatml().render({{"user", big}}).size() == big.size() + 50);   // 17 + 11 + 22 bytes of markup
}

// ---- errors ---------------------------------------------------------------------------------

TEST_CASE("errors: parse errors name the construct and its position", "[chat]") {
    CHECK_THAT(error_of("ab\n  {{ 'a' "), Catch::Contains("line 2, column 3") && Catch::Contains("unterminated '{{'"));
    CHECK_THAT(error_of("{% if x %}abc"), Catch::Contains("'{% if %}' is never closed") && Catch::Contains("line 1, column 1"));
    CHECK_THAT(error_of("{# open"), Catch::Contains("unterminated comment"));
    CHECK_THAT(error_of("{{ 'abc }}"), Catch::Contains("unterminated string"));
    CHECK_THAT(error_of("{{ x | frobnicate }}"), Catch::Contains("unknown filter 'frobnicate'") && Catch::Contains("line 1, column 8"));
    CHECK_THAT(error_of("{{ x is frob }}"), Catch::Contains("unknown test 'frob'"));
    CHECK_THAT(error_of("x\n{% macro m() %}{% endmacro %}"),
               Catch::Contains("'{% macro %}' is not supported") && Catch::Contains("line 2, column 1"));
    CHECK_THAT(error_of("{% include 'x.j2' %}"), Catch::Contains("'{% include %}' is not supported"));
    CHECK_THAT(error_of("{% extends 'base' %}"), Catch::Contains("'{% extends %}' is not supported"));
    CHECK_THAT(error_of("{% call foo() %}{% endcall %}"), Catch::Contains("'{% call %}' is not supported"));
    CHECK_THAT(error_of("{% endfor %}"), Catch::Contains("unexpected '{% endfor %}'"));
    CHECK_THAT(error_of("{% frobnicate %}"), Catch::Contains("unknown statement"));
    CHECK_THAT(error_of("{% break %}"), Catch::Contains("outside a for loop"));
    CHECK_THAT(error_of("{{ 1 + }}"), Catch::Contains("expected an expression"));
    CHECK_THAT(error_of("{{ a b }}"), Catch::Contains("expected '}}'"));
    CHECK_THAT(error_of("{{ x | replace('a') }}"), Catch::Contains("needs its 'new' argument"));
    CHECK_THAT(error_of("{{ $ }}"), Catch::Contains("unexpected character '$'"));
}

TEST_CASE("errors: render errors and raise_exception", "[chat]") {
    CHECK(error_of("{{ raise_exception('boom: ' ~ 42) }}") == "boom: 42");
    CHECK_THAT(error_of("x\n {{ 'abc' + 1 }}"), Catch::Contains("line 2, column 11") && Catch::Contains("'str' and 'int'"));
    CHECK_THAT(error_of("{{ 1 / 0 }}"), Catch::Contains("division by zero"));
    CHECK_THAT(error_of("{{ x + 1 }}"), Catch::Contains("undefined"));
    CHECK_THAT(error_of("{{ 'a'.nope() }}"), Catch::Contains("no method 'nope'"));
    CHECK_THAT(error_of("{{ 9223372036854775807 + 1 }}"), Catch::Contains("integer overflow"));
    CHECK_THAT(error_of("{% for i in 5 %}{% endfor %}"), Catch::Contains("not iterable"));
    CHECK_THAT(error_of("{% set ns = namespace() %}{% set ns.me = ns %}"), Catch::Contains("namespace"));
    CHECK_THAT(error_of("{% set x.y = 1 %}"), Catch::Contains("namespace"));
}

TEST_CASE("errors: deep nesting is refused, not a stack overflow", "[chat]") {
    const int n = 100000;
    CHECK_THAT(error_of("{{ " + std::string(n, '(') + "1" + std::string(n, ')') + " }}"),
               Catch::Contains("nested too deeply"));
    CHECK_THAT(error_of("{{ " + std::string(n, '[') + std::string(n, ']') + " }}"), Catch::Contains("nested too deeply"));
    std::string nots = "{{ ";
    for (int i = 0; i < n; ++i) nots += "not ";
    CHECK_THAT(error_of(nots + "x }}"), Catch::Contains("nested too deeply"));
    std::string chain = "{{ 1";
    for (int i = 0; i < n; ++i) chain += " + 1";
    CHECK_THAT(error_of(chain + " }}"), Catch::Contains("nested too deeply"));
    std::string ifs;
    for (int i = 0; i < 10000; ++i) ifs += "{% if true %}";
    CHECK_THAT(error_of(ifs), Catch::Contains("nested too deeply"));
    // Values built at render time are bounded too.
    CHECK_THAT(error_of("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}"),
               Catch::Contains("nested deeper"));
    // Real nesting depths are fine.
    CHECK(run("{{ ((((((1)))))) }}{% if true %}{% for a in [1] %}{% if a %}{% for b in [2] %}{{ b }}{% endfor %}"
              "{% endif %}{% endfor %}{% endif %}") == "12");
}

TEST_CASE("errors: huge loops, strings and lists stop at their limits", "[chat]") {
    CHECK_THAT(error_of("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}"),
               Catch::Contains("work limit"));
    CHECK_THAT(error_of("{{ range(100000000) | length }}"), Catch::Contains("limit"));
    CHECK_THAT(error_of("{{ 'x' * 1000000000000 }}"), Catch::Contains("output limit"));
    CHECK_THAT(error_of("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
               Catch::Contains("output limit"));
    CHECK_THAT(error_of("{{ [1] * 1000000000000 }}"), Catch::Contains("limit"));
    CHECK_THAT(error_of("{% set l = [0] * 10000 %}{% set m = [l] * 10000 %}{{ m }}"), Catch::Contains("limit"));

    ChatTemplateOptions small = opts(true);
    small.max_output_bytes = 64;
    CHECK_THAT(error_of(kChatML, {{"user", std::string(100, 'x')}}, small), Catch::Contains("output limit of 64 bytes"));
    CHECK(error_of(kChatML, {{"user", "x"}}, small).empty());
}

TEST_CASE("robustness: every truncation and random mutations of real templates fail cleanly", "[chat]") {
    const std::vector<std::string> seeds = {
        kChatML,
        "{%- if messages[0]['role'] == 'system' %}\n    {%- set sys = messages[0]['content'] | trim %}\n"
        "{%- endif %}\n{%- for m in messages[1:] if m.role != 'tool' %}{{- '<|' ~ m.role ~ '|>' + m['content'].strip() "
        "+ eos_token if loop.last else ('x' * 2)[::-1] }}{% set ns = namespace(a=[1, 2.5, {'k': none}]) %}"
        "{{ ns.a | tojson(indent=1) }}{# c #}{% else %}{{ raise_exception('none') }}{% endfor %}",
    };
    const std::vector<ChatMessage> msgs = kSysConversation;
    auto attempt = [&](const std::string& src) {
        try {
            ChatTemplate::parse(src).render(msgs, opts(true));
        } catch (const kaa::Error& e) {
            CHECK(e.code() == kaa::ErrorCode::template_error);
        }
    };
    for (const std::string& s : seeds)
        for (std::size_t cut = 0; cut <= s.size(); ++cut) attempt(s.substr(0, cut));
    std::mt19937 rng(1234);
    const std::string alphabet = "{}%#-+()[]'\".,|~:=<>!*/ \nabcdefinotrsx0123456789";
    for (int i = 0; i < 3000; ++i) {
        std::string s = seeds[std::size_t(i) % seeds.size()];
        const int edits = 1 + int(rng() % 4);
        for (int k = 0; k < edits; ++k) {
            const std::size_t pos = rng() % s.size();
            switch (rng() % 3) {
                case 0: s[pos] = alphabet[rng() % alphabet.size()]; break;
                case 1: s.erase(pos, 1 + rng() % 8); break;
                default: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
            }
            if (s.empty()) s = "x";
        }
        attempt(s);
    }
}

TEST_CASE("render is thread-safe on one parsed template", "[chat]") {
    const ChatTemplate t = ChatTemplate::parse(
        "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
        "{{ m.role }}:{{ m.content | upper }};{% endfor %}{{ ns.n }}");
    std::vector<ChatMessage> msgs;
    for (int i = 0; i < 50; ++i) msgs.push_back({i % 2 ? "assistant" : "user", "msg " + std::to_string(i)});
    const std::string expected = t.render(msgs);
    std::vector<int> ok(4, 0);
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w)
        threads.emplace_back([&, w] {
            for (int r = 0; r < 50; ++r) ok[std::size_t(w)] += t.render(msgs) == expected;
        });
    for (auto& th : threads) th.join();
    for (int v : ok) CHECK(v == 50);
    CHECK_THAT(expected, Catch::EndsWith("assistant:MSG 49;50"));
}
