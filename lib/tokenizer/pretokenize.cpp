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

// Classes as the matcher sees them. For the kinds that split punctuation first, a
// punctuation character (\p{P} or one of the ASCII symbols below) is `brk`: it ends the
// stretch of text the GPT-2 pattern runs over, exactly like the end of the text does.
// For plain gpt2 it is just a symbol (`sym`).
enum : uint8_t { kSym = 0, kLetter = 1, kNumber = 2, kSpace = 3, kBrk = 4 };

struct Cls {
    uint8_t cls;
    uint8_t len;      // bytes of the character
    bool non_ascii;
};

// ASCII symbols that the punctuation step treats as punctuation although Unicode files
// them as symbols (Sc/Sm/Sk): Rust's is_ascii_punctuation() covers all of ASCII's.
// llama.cpp's default set leaves out the backtick.
inline bool is_extra_punct(unsigned char c, bool with_backtick) {
    switch (c) {
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
    Splitter(PreKind kind, std::string_view text, PieceFn fn, void* ctx)
        : kind_(kind), s_(reinterpret_cast<const unsigned char*>(text.data())), n_(text.size()),
          fn_(fn), ctx_(ctx), punct_breaks_(kind != PreKind::gpt2) {
        for (int c = 0; c < 128; ++c) {
            switch (kAsciiClass[c]) {
                case CharClass::letter: ascii_[c] = kLetter; break;
                case CharClass::number: ascii_[c] = kNumber; break;
                case CharClass::space: ascii_[c] = kSpace; break;
                case CharClass::punct: ascii_[c] = punct_breaks_ ? kBrk : kSym; break;
                case CharClass::other: ascii_[c] = kSym; break;
            }
            if (punct_breaks_ && is_extra_punct(uint8_t(c), kind == PreKind::falcon)) ascii_[c] = kBrk;
        }
    }

    // The GPT-2 pattern, position by position; each branch names the alternative of
    //   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    // that a backtracking engine would take there. With punctuation splitting, runs of
    // `brk` characters are pieces of their own and act as text boundaries.
    void run() {
        size_t i = 0;
        while (i < n_) {
            const Cls first = at(i);
            if (first.cls == kBrk) {
                bool wide = first.non_ascii;
                const size_t j = run_of(i + first.len, kBrk, wide);
                piece(i, j, wide);
                i = j;
                continue;
            }
            if (s_[i] == '\'' && !punct_breaks_) {  // (with punct_breaks_ ' is a brk)
                const size_t j = contraction(i);
                if (j) {
                    piece(i, j, false);
                    i = j;
                    continue;
                }
            }
            uint8_t cls = first.cls;
            bool wide = first.non_ascii;
            size_t k = i + first.len;
            if (s_[i] == ' ' && k < n_) {
                // " ?X+": one U+0020 joins the run that follows it, unless that is white
                // space or a boundary (then the \s rules below take the space).
                const Cls next = at(k);
                if (next.cls != kSpace && next.cls != kBrk) {
                    cls = next.cls;
                    wide = next.non_ascii;
                    k += next.len;
                }
            }
            if (cls == kSpace) k = whitespace(i, wide);
            else k = run_of(k, cls, wide);
            piece(i, k, wide || cls == kNumber);
            i = k;
        }
    }

private:
    Cls at(size_t k) const {
        const unsigned char c = s_[k];
        if (c < 0x80) return {ascii_[c], 1, false};
        const ClassedChar ch = classify_at(s_ + k, n_ - k);
        uint8_t cls = kSym;
        switch (ch.cls) {
            case CharClass::letter: cls = kLetter; break;
            case CharClass::number: cls = kNumber; break;
            case CharClass::space: cls = kSpace; break;
            case CharClass::punct: cls = punct_breaks_ ? kBrk : kSym; break;
            case CharClass::other: cls = kSym; break;
        }
        return {cls, uint8_t(ch.len), true};
    }

    void out(size_t b, size_t e) {
        if (b < e) fn_(ctx_, b, e);
    }

    // 's 't 're 've 'm 'll 'd (lower case only); 0 when none starts at i.
    size_t contraction(size_t i) const {
        if (i + 1 >= n_) return 0;
        const unsigned char c1 = s_[i + 1];
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
        if (i + 2 < n_) {
            const unsigned char c2 = s_[i + 2];
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                return i + 3;
        }
        return 0;
    }

    // Extends a run of class `cls` from k; notes whether it met non-ASCII characters.
    size_t run_of(size_t k, uint8_t cls, bool& wide) const {
        while (k < n_) {
            const unsigned char c = s_[k];
            if (c < 0x80) {
                if (ascii_[c] != cls) break;
                ++k;
                continue;
            }
            const Cls ch = at(k);
            if (ch.cls != cls) break;
            wide = true;
            k += ch.len;
        }
        return k;
    }

    // \s+(?!\S)|\s+ from i (a white-space character): the whole run when it reaches the
    // end of the text (or a boundary) or is a single character; otherwise all but its
    // last character, which is left to prefix the next word.
    size_t whitespace(size_t i, bool& wide) const {
        size_t k = i, last = i, count = 0;
        while (k < n_) {
            const Cls ch = at(k);
            if (ch.cls != kSpace) {
                if (ch.cls == kBrk) return k;  // a boundary: like the end of the text
                break;
            }
            wide |= ch.non_ascii;
            last = k;
            k += ch.len;
            ++count;
        }
        if (k == n_ || count == 1) return k;
        return last;
    }

    // A piece of the GPT-2 step, then the number rules of the kind. `maybe_numeric` is
    // false only when the piece certainly holds no numeric character or byte.
    void piece(size_t b, size_t e, bool maybe_numeric) {
        if (kind_ == PreKind::gpt2 || !maybe_numeric) {
            out(b, e);
            return;
        }
        if (kind_ == PreKind::falcon) {
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
        // llama_default: \p{N}+ on characters isolates runs of numeric characters.
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
    PieceFn fn_;
    void* ctx_;
    bool punct_breaks_;
    uint8_t ascii_[128];
};

}  // namespace

void pretokenize(PreKind kind, std::string_view text, PieceFn fn, void* ctx) {
    Splitter(kind, text, fn, ctx).run();
}

void pretokenize(PreKind kind, std::string_view text, std::vector<size_t>& ends) {
    pretokenize(
        kind, text, [](void* ctx, size_t, size_t e) { static_cast<std::vector<size_t>*>(ctx)->push_back(e); },
        &ends);
}

}  // namespace kaa::detail
