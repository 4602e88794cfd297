// unicode.cpp — class lookup in the generated run table, UTF-8 prefix analysis.
#include "tokenizer/unicode.hpp"

#include <algorithm>

namespace kaa::detail {

CharClass char_class_slow(uint32_t cp) noexcept {
    if (cp > 0x10FFFF) return CharClass::other;
    // Entries are (first << 3) | class, so the run holding cp is the last entry not
    // greater than (cp << 3) | 7.
    // Only the runs overlapping cp's block of 256 need searching: from the one holding
    // the block's first code point to the one holding the next block's.
    const uint32_t key = (cp << 3) | 7u;
    const uint32_t blk = cp >> 8;
    const uint32_t* lo = kCharClassRuns + kCharClassBlock[blk];
    const uint32_t* hi = blk + 1 < 0x1100 ? kCharClassRuns + kCharClassBlock[blk + 1] + 1
                                          : kCharClassRuns + kCharClassRunCount;
    const uint32_t* it = std::upper_bound(lo + 1, hi, key);  // *lo <= key by construction
    return static_cast<CharClass>(it[-1] & 7u);
}

Utf8Prefix utf8_prefix(const unsigned char* s, size_t n) noexcept {
    const unsigned c = s[0];
    uint32_t need;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c < 0x80) return {1, 1};
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;       // shorter forms are overlong
        else if (c == 0xED) hi = 0x9F;  // U+D800..U+DFFF are surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;       // overlong
        else if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return {0, 0};
    }
    uint32_t got = 1;
    while (got < need && got < n) {
        const unsigned b = s[got];
        const bool ok = got == 1 ? (b >= lo && b <= hi) : (b & 0xC0) == 0x80;
        if (!ok) break;
        ++got;
    }
    return {need, got};
}

}  // namespace kaa::detail
