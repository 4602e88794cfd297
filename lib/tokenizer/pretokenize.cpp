// pretokenize.cpp — hand-written matchers for the split patterns in pretokenize.hpp.
#include "tokenizer/pretokenize.hpp"

#include "tokenizer/unicode.hpp"

namespace kaa::detail {

bool is_byte_level_numeric(unsigned char b) noexcept {
    // Bytes A1..AC and AE..FF keep their own code point in the byte-level alphabet; of
    // those, U+00B2 U+00B3 U+00B9 (superscripts) and U+00BC..U+00BE (fractions) are
    // numeric (No). The other bytes map to U+0100.. (letters) or are ASCII.
    return (b >= '0' && b <= '9') || b == 0xB2 || b == 0xB3 || b == 0xB9 ||
           (b >= 0xBC && b <= 0xBE);
}

namespace {

inline bool is_ascii_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// ASCII symbols that the punctuation step treats as punctuation although Unicode files
// them as symbols (Sc/Sm/Sk): Rust's is_ascii_punctuation() covers all of ASCII's.
inline bool is_extra_punct(uint32_t cp, bool with_backtick) {
    switch (cp) {
        case '$': case '+': case '<': case '=': case '>': case '^': case '|': case '~':
            return true;
        case '`':
            return with_backtick;
        default:
            return false;
    }
}

class Splitter {
public:
    Splitter(PreKind kind, std::string_view text, std::vector<size_t>& ends)
        : kind_(kind), s_(reinterpret_cast<const unsigned char*>(text.data())), n_(text.size()),
          ends_(ends) {}

    void run() {
        if (kind_ == PreKind::gpt2) {
            gpt2(0, n_);
            return;
        }
        // Punctuation runs first; the GPT-2 pattern only sees the text between them
        // (so its contractions never fire: the apostrophe is already split off).
        const bool backtick = kind_ == PreKind::falcon;
        size_t seg = 0, i = 0;
        while (i < n_) {
            const ClassedChar ch = at(i);
            if (ch.cls == CharClass::punct || is_extra_punct(ch.cp, backtick)) {
                size_t j = i + ch.len;
                while (j < n_) {
                    const ClassedChar c2 = at(j);
                    if (c2.cls != CharClass::punct && !is_extra_punct(c2.cp, backtick)) break;
                    j += c2.len;
                }
                gpt2(seg, i);
                piece(i, j);  // a punctuation run is one piece of the GPT-2 pattern too
                seg = i = j;
            } else {
                i += ch.len;
            }
        }
        gpt2(seg, n_);
    }

private:
    ClassedChar at(size_t i) const { return classify_at(s_ + i, n_ - i); }

    void out(size_t b, size_t e) {
        if (b < e) ends_.push_back(e);
    }

    // The GPT-2 pattern over [b, e). Alternatives are tried in the pattern's order at
    // each position, as a backtracking engine would; each branch below says which one
    // wins.
    void gpt2(size_t b, size_t e) {
        size_t i = b;
        while (i < e) {
            if (s_[i] == '\'') {
                const size_t j = contraction(i, e);
                if (j) {
                    piece(i, j);
                    i = j;
                    continue;
                }
            }
            const ClassedChar first = classify_at(s_ + i, e - i);
            CharClass cls = first.cls;
            size_t k = i + first.len;
            if (s_[i] == ' ' && k < e) {
                // " ?X+": a single U+0020 joins the run that follows it, unless that is
                // white space (then the \s rules below take the space too).
                const ClassedChar next = classify_at(s_ + k, e - k);
                if (next.cls != CharClass::space) {
                    cls = next.cls;
                    k += next.len;
                }
            }
            switch (cls) {
                case CharClass::letter:
                case CharClass::number:
                    k = run_of(k, e, cls);
                    break;
                case CharClass::other:
                case CharClass::punct:
                    k = run_of_symbols(k, e);
                    break;
                case CharClass::space:
                    k = whitespace(i, e);
                    break;
            }
            piece(i, k);
            i = k;
        }
    }

    // 's 't 're 've 'm 'll 'd (lower case only); 0 when none starts at i.
    size_t contraction(size_t i, size_t e) const {
        if (i + 1 >= e) return 0;
        const unsigned char c1 = s_[i + 1];
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
        if (i + 2 < e) {
            const unsigned char c2 = s_[i + 2];
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                return i + 3;
        }
        return 0;
    }

    size_t run_of(size_t k, size_t e, CharClass cls) const {
        while (k < e) {
            const unsigned char c = s_[k];
            if (c < 0x80) {  // ASCII fast path
                if (kAsciiClass[c] != cls) break;
                ++k;
                continue;
            }
            const ClassedChar ch = classify_at(s_ + k, e - k);
            if (ch.cls != cls) break;
            k += ch.len;
        }
        return k;
    }

    // [^\s\p{L}\p{N}]+
    size_t run_of_symbols(size_t k, size_t e) const {
        while (k < e) {
            const ClassedChar ch = classify_at(s_ + k, e - k);
            if (ch.cls != CharClass::other && ch.cls != CharClass::punct) break;
            k += ch.len;
        }
        return k;
    }

    // \s+(?!\S)|\s+ from i (a white-space character): the whole run when it reaches the
    // end of the text or is a single character; otherwise all but its last character,
    // which is left to prefix the next word.
    size_t whitespace(size_t i, size_t e) const {
        size_t k = i, last = i, count = 0;
        while (k < e) {
            const ClassedChar ch = classify_at(s_ + k, e - k);
            if (ch.cls != CharClass::space) break;
            last = k;
            k += ch.len;
            ++count;
        }
        if (k == e || count == 1) return k;
        return last;
    }

    // A piece of the GPT-2 step, then the number rules of the kind.
    void piece(size_t b, size_t e) {
        switch (kind_) {
            case PreKind::gpt2:
                out(b, e);
                return;
            case PreKind::falcon: {
                // Digits on the byte-level alphabet: isolate runs of numeric bytes.
                size_t i = b;
                while (i < e) {
                    const bool num = is_byte_level_numeric(s_[i]);
                    size_t j = i + 1;
                    while (j < e && is_byte_level_numeric(s_[j]) == num) ++j;
                    if (num) triples(i, j);
                    else out(i, j);
                    i = j;
                }
                return;
            }
            case PreKind::llama_default: {
                // \p{N}+ on characters: isolate runs of numeric characters.
                size_t i = b;
                while (i < e) {
                    ClassedChar ch = classify_at(s_ + i, e - i);
                    const bool num = ch.cls == CharClass::number;
                    size_t j = i + ch.len;
                    while (j < e) {
                        ch = classify_at(s_ + j, e - j);
                        if ((ch.cls == CharClass::number) != num) break;
                        j += ch.len;
                    }
                    if (num) triples(i, j);
                    else out(i, j);
                    i = j;
                }
                return;
            }
        }
    }

    // [0-9][0-9][0-9] isolated: leftmost groups of three ASCII digits become pieces, the
    // text between them too. Stepping by byte is exact: no byte of a multi-byte
    // character is an ASCII digit.
    void triples(size_t b, size_t e) {
        size_t gap = b, i = b;
        while (i + 3 <= e) {
            if (is_ascii_digit(s_[i]) && is_ascii_digit(s_[i + 1]) && is_ascii_digit(s_[i + 2])) {
                out(gap, i);
                out(i, i + 3);
                i += 3;
                gap = i;
            } else {
                ++i;
            }
        }
        out(gap, e);
    }

    PreKind kind_;
    const unsigned char* s_;
    size_t n_;
    std::vector<size_t>& ends_;
};

}  // namespace

void pretokenize(PreKind kind, std::string_view text, std::vector<size_t>& ends) {
    Splitter(kind, text, ends).run();
}

}  // namespace kaa::detail
