// Tokenizer: exactness against Hugging Face output (shared/golden), lossless round trips,
// special tokens, stream decoding, bad input, and the internal pieces (pre-tokenizer,
// BPE merge loops, Unicode tables, metadata validation).
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "kaa/error.hpp"
#include "kaa/tokenizer.hpp"
#include "support/shared.hpp"
#include "gguf/gguf.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/load.hpp"
#include "tokenizer/pretokenize.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

using kaa::Token;
using kaa::Tokenizer;

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const Tokenizer& falcon() {
    static const Tokenizer tok = Tokenizer::from_file(kaa::test::shared_path("models/falcon-vocab-only.gguf"));
    return tok;
}

// falcon.inp holds inputs each followed by "\n__ggml_vocab_test__\n" (so the file ends
// with the separator); falcon.out holds one line of ids per input.
std::vector<std::pair<std::string, std::vector<Token>>> falcon_vectors() {
    const std::string inp = read_file(kaa::test::shared_path("golden/tokenizer/falcon.inp"));
    const std::string outp = read_file(kaa::test::shared_path("golden/tokenizer/falcon.out"));
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    size_t b = 0;
    for (size_t e; (e = inp.find(sep, b)) != std::string::npos; b = e + sep.size())
        inputs.push_back(inp.substr(b, e - b));
    REQUIRE(b == inp.size());  // nothing after the last separator
    std::vector<std::vector<Token>> outputs;
    std::istringstream lines(outp);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream ids(line);
        std::vector<Token> v;
        for (Token t; ids >> t;) v.push_back(t);
        outputs.push_back(v);
    }
    REQUIRE(inputs.size() == outputs.size());
    std::vector<std::pair<std::string, std::vector<Token>>> r;
    for (size_t i = 0; i < inputs.size(); ++i) r.emplace_back(inputs[i], outputs[i]);
    return r;
}

std::vector<std::string> pieces(kaa::detail::PreKind kind, std::string_view text) {
    std::vector<size_t> ends;
    kaa::detail::pretokenize(kind, text, ends);
    std::vector<std::string> r;
    size_t b = 0;
    for (size_t e : ends) {
        r.emplace_back(text.substr(b, e - b));
        b = e;
    }
    return r;
}

bool valid_utf8(const std::string& s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        const kaa::detail::Decoded d = kaa::detail::decode_utf8(p + i, s.size() - i);
        if (d.cp == kaa::detail::kInvalidCodePoint) return false;
        i += d.len;
    }
    return true;
}

// A small made-up vocabulary: every byte, plus "ab", "abc" and two control tokens.
kaa::detail::VocabSpec tiny_spec() {
    kaa::detail::VocabSpec s;
    s.pre = "gpt-2";
    // The byte-level characters in byte order (GPT-2's mapping).
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        const uint32_t cp = self ? uint32_t(b) : next++;
        std::string u;
        if (cp < 0x80) u += char(cp);
        else {
            u += char(0xC0 | (cp >> 6));
            u += char(0x80 | (cp & 0x3F));
        }
        s.tokens.push_back(u);
    }
    s.tokens.push_back("ab");
    s.tokens.push_back("abc");
    s.tokens.push_back("<|end|>");
    s.tokens.push_back("<|e|>");
    s.types.assign(s.tokens.size(), 1);
    s.types[258] = s.types[259] = 3;
    s.merges = {"a b", "ab c"};
    s.eos = 258;
    return s;
}

}  // namespace

TEST_CASE("tokenizer: falcon vectors match the Hugging Face tokenizer", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    const Tokenizer& tok = falcon();
    CHECK(tok.n_vocab() == 65024);
    CHECK(tok.pre_tokenizer() == "falcon");
    CHECK(tok.model() == "gpt2");
    const auto vectors = falcon_vectors();
    CHECK(vectors.size() == 46);
    for (const auto& [text, ids] : vectors) {
        INFO("input: '" << text << "'");
        CHECK(tok.encode(text) == ids);
        CHECK(tok.decode(ids) == text);
    }
}

TEST_CASE("tokenizer: golden prompts of every model tokenize to their ids", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    const char* models[] = {"tiny-falcon-mamba-f32", "tiny-falcon-mamba-f16", "tiny-falcon-mamba-bf16",
                            "tiny-falcon-mamba-q8_0", "tiny-mamba-q8_0"};
    int checked = 0;
    for (const char* name : models) {
        const auto j = nlohmann::json::parse(read_file(kaa::test::shared_path(std::string("golden/") + name + ".json")));
        const Tokenizer tok = Tokenizer::from_file(kaa::test::shared_path("models/" + j["model"].get<std::string>()));
        // The goldens' prompts start without BOS (bos = eos = 11): the files do not ask
        // for one, so the default must be off.
        CHECK_FALSE(tok.add_bos_default());
        CHECK(tok.bos() == 11);
        CHECK(tok.eos() == 11);
        for (const auto& c : j["cases"]) {
            if (!c.contains("text") || c["text"].is_null()) continue;
            const std::string text = c["text"];
            const int n_prompt = c["n_prompt"];
            const std::vector<Token> all = c["tokens"];
            const std::vector<Token> want(all.begin(), all.begin() + n_prompt);
            INFO(name << " / " << c["name"].get<std::string>());
            CHECK(tok.encode(text, {tok.add_bos_default(), false}) == want);
            CHECK(tok.decode(want) == text);
            ++checked;
        }
    }
    CHECK(checked == 15);
}

TEST_CASE("tokenizer: round trip is byte exact, invalid UTF-8 included", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    const Tokenizer& tok = falcon();
    std::vector<std::string> inputs = {
        "", "\xff", "\xc3", "a\xe2\x82z", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 too big",
        "\xc0\xaf overlong", "mixed \xff\xfe\xfd bytes \x80\x81 and ok text 123456",
        std::string("nul\0inside", 10), "tabs\t\t\tand\r\nnewlines\n\n\n  ",
    };
    std::mt19937 rng(1234);
    for (int k = 0; k < 200; ++k) {  // random bytes
        std::string s(rng() % 64, '\0');
        for (char& c : s) c = char(rng() & 0xFF);
        inputs.push_back(s);
    }
    const std::string alphabet[] = {"a", "Z", " ", "  ", "\n", "\t", "1", "23", "½", "ü", "東", "京", "🦙",
                                    "'", "'s", ".", "!!", "$", "`", "\xe2\x80\x8d", "\xff", "é", "ñ", "—"};
    for (int k = 0; k < 300; ++k) {  // random mixes of interesting fragments
        std::string s;
        for (int i = int(rng() % 20); i > 0; --i) s += alphabet[rng() % std::size(alphabet)];
        inputs.push_back(s);
    }
    // Lossless except for the bytes the vocabulary has no token for (Falcon lacks 28,
    // e.g. FF and the control character 0B): those are dropped, as Hugging Face does.
    const auto& impl = *tok.impl();
    int dropped = 0;
    for (const std::string& s : inputs) {
        std::string kept;
        for (char c : s)
            if (impl.byte_token[static_cast<unsigned char>(c)] >= 0) kept += c;
        dropped += kept.size() != s.size();
        const std::vector<Token> ids = tok.encode(s);
        for (Token t : ids) REQUIRE((t >= 0 && t < tok.n_vocab()));
        CHECK(tok.decode(ids) == kept);
        CHECK(tok.decode(tok.encode(s, {false, true})) == kept);
    }
    CHECK(dropped > 0);
    CHECK(impl.byte_token[0xFF] < 0);
    CHECK(impl.byte_token[0x0B] < 0);
    CHECK(impl.byte_token[0x80] >= 0);
    CHECK(tok.encode("").empty());
    CHECK(tok.encode("", {true, false}) == std::vector<Token>{11});
}

TEST_CASE("tokenizer: parse_special turns control-token text into the token", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    const Tokenizer& tok = falcon();
    const std::string eot = "<|endoftext|>";
    CHECK(tok.encode(eot, {false, true}) == std::vector<Token>{11});
    const std::vector<Token> plain = tok.encode(eot);
    CHECK(plain.size() > 1);
    CHECK(std::find(plain.begin(), plain.end(), 11) == plain.end());
    CHECK(tok.decode(plain) == eot);

    const std::vector<Token> mixed = tok.encode("Hello<|endoftext|>>>TITLE<<x", {false, true});
    REQUIRE(mixed.size() == 4);
    CHECK(mixed[0] == 9856);  // "Hello"
    CHECK(mixed[1] == 11);
    CHECK(mixed[2] == 0);     // >>TITLE<<
    CHECK(tok.decode(mixed) == "Hello<|endoftext|>>>TITLE<<x");
    CHECK(tok.decode(mixed, {true}) == "Hellox");
    CHECK(tok.token_to_piece(11) == eot);
    CHECK(tok.token_to_piece(11, {true}).empty());

    CHECK(tok.attr(11) == kaa::TokenAttr::control);
    CHECK(tok.attr(9856) == kaa::TokenAttr::normal);
    CHECK(tok.text(11) == eot);
    CHECK(tok.text(204) == "\xc4\xa0");  // "Ġ", the byte-level space
    CHECK(tok.token_to_piece(204) == " ");
    CHECK(tok.find("Hello") == 9856);
    CHECK(tok.find("no such token here") == -1);
    CHECK(tok.is_end_of_generation(11));
    CHECK_FALSE(tok.is_end_of_generation(0));
    CHECK_FALSE(tok.is_end_of_generation(-3));
    CHECK_FALSE(tok.is_end_of_generation(1 << 30));
    CHECK(tok.end_of_generation_tokens() == std::vector<Token>{11});
    CHECK(tok.pad() == -1);
    CHECK(tok.eot() == -1);
}

TEST_CASE("tokenizer: stream decoder waits for characters split across tokens", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    const Tokenizer& tok = falcon();
    const std::string text = " this is 🦙.cpp 東京 Füße ក្រុង 😶‍🌫️!";
    const std::vector<Token> ids = tok.encode(text);
    kaa::StreamDecoder sd(tok);
    std::string all;
    int held = 0;
    for (Token id : ids) {
        const std::string part = sd.push(id);
        CHECK(valid_utf8(part));
        if (part.empty()) ++held;
        all += part;
    }
    all += sd.flush();
    CHECK(all == text);
    CHECK(held > 0);  // some character really was spread over several tokens

    // The llama: F0 9F A6 99 comes as three tokens.
    const std::vector<Token> llama = tok.encode("🦙");
    REQUIRE(llama.size() > 1);
    kaa::StreamDecoder s2(tok);
    CHECK(s2.push(llama[0]).empty());
    std::string rest;
    for (size_t i = 1; i < llama.size(); ++i) rest += s2.push(llama[i]);
    CHECK(rest == "🦙");

    // Bytes that can never be a character come out as U+FFFD, an unfinished one at flush.
    const std::string fffd = "\xEF\xBF\xBD";
    kaa::StreamDecoder s3(tok);
    const std::vector<Token> bad = tok.encode("\x80" "a\xe6\x88");
    std::string out;
    for (Token id : bad) out += s3.push(id);
    CHECK(out == fffd + "a");
    CHECK(s3.flush() == fffd);
    CHECK(s3.flush().empty());
    // A broken sequence followed by more text: one U+FFFD for the broken part.
    kaa::StreamDecoder s4(tok);
    std::string out4;
    for (Token id : tok.encode("\xe6\x88z")) out4 += s4.push(id);
    out4 += s4.flush();
    CHECK(out4 == fffd + "z");
}

TEST_CASE("tokenizer: ids outside the vocabulary throw invalid_token", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    const Tokenizer& tok = falcon();
    auto is_invalid_token = [](const kaa::Error& e) { return e.code() == kaa::ErrorCode::invalid_token; };
    for (Token bad : {Token(-1), Token(65024), Token(1 << 30)}) {
        CHECK_THROWS_MATCHES(tok.decode({9856, bad}), kaa::Error, Catch::Predicate<kaa::Error>(is_invalid_token));
        CHECK_THROWS_AS(tok.token_to_piece(bad), kaa::Error);
        CHECK_THROWS_AS(tok.attr(bad), kaa::Error);
        CHECK_THROWS_AS(tok.text(bad), kaa::Error);
        kaa::StreamDecoder sd(tok);
        CHECK_THROWS_AS(sd.push(bad), kaa::Error);
    }
}

TEST_CASE("tokenizer: concurrent encodes agree", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    const Tokenizer tok = falcon();  // copies share the vocabulary
    std::string text;
    for (int i = 0; i < 200; ++i) text += "Line " + std::to_string(i * 7919) + ": naïve café 東京 🦙 it's fine!\n";
    const std::vector<Token> want = tok.encode(text);
    std::vector<std::vector<Token>> got(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int k = 0; k < 5; ++k) got[t] = tok.encode(text);
        });
    for (auto& th : threads) th.join();
    for (const auto& g : got) CHECK(g == want);
}

TEST_CASE("tokenizer: scan and heap merge loops agree", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    const auto& impl = *falcon().impl();
    std::mt19937 rng(7);
    const std::string frags[] = {"th", "e", "in", "g", " ", "東", "京", "ab", "12", "q", "\xc3", "\xbc", "ing", "tion"};
    kaa::detail::BpeScratch sc;
    for (int k = 0; k < 500; ++k) {
        std::string s;
        for (int i = int(rng() % 60); i > 0; --i) s += frags[rng() % std::size(frags)];
        std::vector<Token> a, b;
        for (unsigned char c : s) a.push_back(impl.byte_token[c]);
        b = a;
        kaa::detail::bpe_merge_scan(impl.merges, a, sc);
        kaa::detail::bpe_merge_heap(impl.merges, b, sc);
        REQUIRE(a == b);
    }
    // A long piece (CJK has no spaces: one word) goes through the heap and stays exact.
    std::string cjk;
    for (int i = 0; i < 3000; ++i) cjk += (i % 3 ? "東京" : "の");
    CHECK(falcon().decode(falcon().encode(cjk)) == cjk);
}

TEST_CASE("tokenizer: the GPT-2 pre-tokenizer (GPT-NeoX, Mamba) on the Falcon vocabulary", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    // Ids from the Hugging Face tokenizer with Falcon's vocabulary and merges under a
    // plain ByteLevel pre-tokenizer (as GPT-NeoX's tokenizer.json has it). Numbers are
    // where the two differ: no groups of three.
    const auto file = kaa::gguf::File::open(kaa::test::shared_path("models/falcon-vocab-only.gguf"));
    kaa::detail::VocabSpec spec = kaa::detail::read_vocab_spec(file);
    const std::string text = "Füße, 東京 3.14159 (x)";
    CHECK(falcon().encode(text) == std::vector<Token>{28611, 132, 12228, 23, 204, 2842, 121, 26698, 204, 30, 25,
                                                      18900, 5587, 204, 19, 99, 20});
    for (const char* name : {"gpt-2", "mpt"}) {
        spec.pre = name;
        const Tokenizer tok = kaa::detail::build_tokenizer(spec);
        CHECK(tok.pre_tokenizer() == name);
        CHECK(tok.encode(text) == std::vector<Token>{28611, 132, 12228, 23, 204, 2842, 121, 26698, 204, 30, 25,
                                                     1279, 20429, 204, 19, 99, 20});
        CHECK(tok.decode(tok.encode(text)) == text);
    }
}

TEST_CASE("tokenizer: pre-tokenizer pieces", "[tokenizer]") {
    using kaa::detail::PreKind;
    using V = std::vector<std::string>;
    // GPT-2: contractions, " ?letters", white space that leaves one space to the next word.
    CHECK(pieces(PreKind::gpt2, "Hello world's  end!!\n\n") == V{"Hello", " world", "'s", " ", " end", "!!", "\n\n"});
    CHECK(pieces(PreKind::gpt2, "a\tb  \tc") == V{"a", "\t", "b", "  ", "\t", "c"});
    CHECK(pieces(PreKind::gpt2, " 12345 x") == V{" 12345", " x"});
    // Falcon: punctuation runs first, numbers in threes, "Ġ" apart from digits, and
    // byte-level numerals (½ is C2 BD, ü is C3 BC) split off.
    CHECK(pieces(PreKind::falcon, "I've (x)") == V{"I", "'", "ve", " ", "(", "x", ")"});
    CHECK(pieces(PreKind::falcon, " 1234567") == V{" ", "123", "456", "7"});
    CHECK(pieces(PreKind::falcon, "F\xc3\xbchrer") == V{"F\xc3", "\xbc", "hrer"});
    CHECK(pieces(PreKind::falcon, "a+=`b") == V{"a", "+=`", "b"});
    // llama.cpp's default: like Falcon but ` is not punctuation and digits are split on
    // characters, not bytes.
    CHECK(pieces(PreKind::llama_default, "a+=`b") == V{"a", "+=", "`", "b"});
    CHECK(pieces(PreKind::llama_default, "F\xc3\xbchrer 1234") == V{"F\xc3\xbchrer", " ", "123", "4"});
    // Invalid bytes are symbols of one byte each; nothing is lost.
    CHECK(pieces(PreKind::gpt2, "a\xff\xfe b") == V{"a", "\xff\xfe", " b"});
    CHECK(pieces(PreKind::falcon, "").empty());
}

TEST_CASE("tokenizer: Unicode classes", "[tokenizer]") {
    using kaa::detail::CharClass;
    using kaa::detail::char_class;
    CHECK(char_class('a') == CharClass::letter);
    CHECK(char_class('7') == CharClass::number);
    CHECK(char_class('!') == CharClass::punct);
    CHECK(char_class('$') == CharClass::other);
    CHECK(char_class(' ') == CharClass::space);
    CHECK(char_class(0x85) == CharClass::space);
    CHECK(char_class(0xA0) == CharClass::space);
    CHECK(char_class(0x3000) == CharClass::space);
    CHECK(char_class(0x1C) == CharClass::other);  // not White_Space (Python's isspace says yes)
    CHECK(char_class(0xBD) == CharClass::number);  // ½
    CHECK(char_class(0x6771) == CharClass::letter);  // 東
    CHECK(char_class(0x3002) == CharClass::punct);   // 。
    CHECK(char_class(0x17B6) == CharClass::other);   // Khmer vowel sign (a mark)
    CHECK(char_class(0x1F999) == CharClass::other);  // 🦙
    CHECK(char_class(0x10FFFF) == CharClass::other);
    CHECK(char_class(0x110000) == CharClass::other);
    // The block index gives the same answer as a search of the whole run table.
    int mismatches = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        const uint32_t* end = kaa::detail::kCharClassRuns + kaa::detail::kCharClassRunCount;
        const uint32_t* it = std::upper_bound(kaa::detail::kCharClassRuns, end, (cp << 3) | 7u);
        mismatches += kaa::detail::char_class_slow(cp) != CharClass(it[-1] & 7u);
    }
    CHECK(mismatches == 0);
    // The Falcon digit step's byte set is exactly the numeric byte-level characters.
    for (int b = 0; b < 256; ++b) {
        const bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        const bool numeric = self && char_class(uint32_t(b)) == CharClass::number;
        CHECK(kaa::detail::is_byte_level_numeric(uint8_t(b)) == numeric);
    }
}

TEST_CASE("tokenizer: made-up vocabulary, metadata validation", "[tokenizer]") {
    using kaa::detail::build_tokenizer;
    const Tokenizer tok = build_tokenizer(tiny_spec());
    CHECK(tok.encode("abc ab") == std::vector<Token>{257, ' ', 256});  // "abc", "Ġ", "ab"
    CHECK(tok.decode(tok.encode("abcab\xff")) == "abcab\xff");
    CHECK(tok.encode("x<|end|>y<|e|>", {false, true}) == std::vector<Token>{'x', 258, 'y', 259});
    CHECK(tok.is_end_of_generation(258));  // eos
    CHECK_FALSE(tok.is_end_of_generation(259));
    CHECK(tok.pre_tokenizer() == "gpt-2");
    CHECK_THROWS_AS(tok.encode("x", {true, false}), kaa::Error);  // no BOS to add

    auto code_of = [](kaa::detail::VocabSpec s) {
        try {
            build_tokenizer(std::move(s));
        } catch (const kaa::Error& e) {
            return e.code();
        }
        return kaa::ErrorCode::ok;
    };
    auto s = tiny_spec();
    s.model = "llama";
    CHECK(code_of(s) == kaa::ErrorCode::unsupported);
    s = tiny_spec();
    s.pre = "qwen2";
    CHECK(code_of(s) == kaa::ErrorCode::unsupported);
    s = tiny_spec();
    s.pre = "";
    CHECK(code_of(s) == kaa::ErrorCode::ok);  // absent: llama.cpp's "default"
    CHECK(build_tokenizer(s).pre_tokenizer() == "default");
    s = tiny_spec();
    s.types.pop_back();
    CHECK(code_of(s) == kaa::ErrorCode::invalid_model);
    s = tiny_spec();
    s.types[3] = 9;
    CHECK(code_of(s) == kaa::ErrorCode::invalid_model);
    s = tiny_spec();
    s.bos = 260;
    CHECK(code_of(s) == kaa::ErrorCode::invalid_model);
    s = tiny_spec();
    s.merges.push_back("nospace");
    CHECK(code_of(s) == kaa::ErrorCode::invalid_model);
    s = tiny_spec();
    s.merges.push_back("zz qq");  // names no tokens: skipped, not an error
    CHECK(code_of(s) == kaa::ErrorCode::ok);
    s = tiny_spec();
    s.tokens.clear();
    s.types.clear();
    CHECK(code_of(s) == kaa::ErrorCode::invalid_model);
}

TEST_CASE("tokenizer: files without usable tokenizer metadata are refused", "[tokenizer]") {
    KAA_REQUIRE_SHARED();
    CHECK_THROWS_AS(Tokenizer::from_file(kaa::test::shared_path("models/does-not-exist.gguf")), kaa::Error);
    try {
        Tokenizer::from_file(kaa::test::shared_path("golden/tokenizer/falcon.inp"));  // not a GGUF
        FAIL("expected an error");
    } catch (const kaa::Error& e) {
        CHECK(e.code() != kaa::ErrorCode::ok);
    }
}
