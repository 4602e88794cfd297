// unicode.hpp — the little Unicode the BPE pre-tokenizers need: UTF-8 decoding that
// never fails, and the character classes their split patterns are written in.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kaa::detail {

// \p{L}, \p{N}, \p{P} and \s of the split regexes. White space wins over the others
// (the sets are disjoint in Unicode anyway).
enum class CharClass : uint8_t { other = 0, letter = 1, number = 2, punct = 3, space = 4 };

extern const char* const kUnicodeVersion;  // of the generated tables
extern const uint32_t kCharClassRuns[];    // see unicode_tables.cpp
extern const size_t kCharClassRunCount;
extern const uint16_t kCharClassBlock[0x1100];  // run index at each 256-code-point block

// Class of a non-ASCII code point (binary search over the run table).
CharClass char_class_slow(uint32_t cp) noexcept;

// Class of the ASCII characters, indexed by byte (the common case, no search).
extern const CharClass kAsciiClass[128];

inline CharClass char_class(uint32_t cp) noexcept {
    return cp < 128 ? kAsciiClass[cp] : char_class_slow(cp);
}

// One step of UTF-8 decoding: the code point starting at s[0] (n > 0 bytes available)
// and its length. A byte that does not begin a well-formed sequence (a stray
// continuation byte, an overlong form, a surrogate, a truncated sequence, > U+10FFFF)
// is returned alone with cp = kInvalidCodePoint, so that every byte string has exactly
// one decoding and nothing is skipped.
constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFFu;

struct Decoded {
    uint32_t cp;
    uint32_t len;
};

inline Decoded decode_utf8(const unsigned char* s, size_t n) noexcept {
    const unsigned c = s[0];
    if (c < 0x80) return {c, 1};
    auto cont = [&](size_t i) { return i < n && (s[i] & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) {
        if (cont(1)) return {((c & 0x1Fu) << 6) | (s[1] & 0x3Fu), 2};
    } else if (c >= 0xE0 && c <= 0xEF) {
        // E0 needs A0..BF next (no overlong forms), ED needs 80..9F (no surrogates).
        const bool second_ok = n > 1 && (c == 0xE0 ? s[1] >= 0xA0 : c == 0xED ? s[1] <= 0x9F : true);
        if (second_ok && cont(1) && cont(2))
            return {((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu), 3};
    } else if (c >= 0xF0 && c <= 0xF4) {
        // F0 needs 90..BF next (no overlong forms), F4 needs 80..8F (<= U+10FFFF).
        const bool second_ok = n > 1 && (c == 0xF0 ? s[1] >= 0x90 : c == 0xF4 ? s[1] <= 0x8F : true);
        if (second_ok && cont(1) && cont(2) && cont(3))
            return {((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu), 4};
    }
    return {kInvalidCodePoint, 1};
}

// Class of the character at s[0]; invalid bytes are `other` (they then group with
// symbols, and the byte-level BPE still encodes them losslessly).
struct ClassedChar {
    CharClass cls;
    uint32_t len;
    uint32_t cp;
};

inline ClassedChar classify_at(const unsigned char* s, size_t n) noexcept {
    if (s[0] < 0x80) return {kAsciiClass[s[0]], 1, s[0]};
    const Decoded d = decode_utf8(s, n);
    const CharClass cls = d.cp == kInvalidCodePoint ? CharClass::other : char_class_slow(d.cp);
    return {cls, d.len, d.cp};
}

// How a byte string starts, seen as one UTF-8 sequence: `need` is the length its first
// byte announces (0 when that byte cannot begin a sequence) and `got` how many of the
// bytes present fit a well-formed sequence (got == need: one complete character).
// Used by the stream decoder to tell "unfinished, wait" from "broken, replace".
struct Utf8Prefix {
    uint32_t need;
    uint32_t got;
};
Utf8Prefix utf8_prefix(const unsigned char* s, size_t n) noexcept;

}  // namespace kaa::detail
