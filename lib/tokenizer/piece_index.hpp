// piece_index.hpp — hash tables keyed by a piece's bytes, the two shortcuts in front of
// BPE: most pieces are a whole token of the vocabulary, and the rest repeat.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "kaa/types.hpp"

namespace kaa::detail {

// A fast non-cryptographic hash of a short byte string (8 bytes per multiply).
inline uint64_t hash_bytes(const char* p, size_t n) noexcept {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t(n) * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        std::memcpy(&v, p, n);
        h = (h ^ v) * 0x94D049BB133111EBull;
    }
    h ^= h >> 29;
    return h;
}

// Equality of short strings without a call to memcmp (pieces are mostly < 16 bytes).
inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    const size_t n = a.size();
    if (n >= 8 && n <= 16) {
        uint64_t x0, y0, x1, y1;
        std::memcpy(&x0, a.data(), 8);
        std::memcpy(&y0, b.data(), 8);
        std::memcpy(&x1, a.data() + n - 8, 8);
        std::memcpy(&y1, b.data() + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n < 8) {
        for (size_t i = 0; i < n; ++i)
            if (a[i] != b[i]) return false;
        return true;
    }
    return std::memcmp(a.data(), b.data(), n) == 0;
}

// Immutable after build: byte string -> token. The keys are strings the owner keeps per
// token (raw vocab strings, or decoded bytes); the table stores only ids and hashes.
// Used for lookups by raw text, and for the whole-token shortcut: bytes -> the token
// they encode to, for every token whose bytes BPE-encode to exactly that one token
// (checked once at load, so the shortcut can never change a result).
class TokenIndex {
public:
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < n * 2) cap <<= 1;
        slots_.assign(cap, Slot{});
        mask_ = cap - 1;
    }
    void insert(uint64_t h, Token id) {
        size_t i = size_t(h) & mask_;
        while (slots_[i].id >= 0) i = (i + 1) & mask_;
        slots_[i] = Slot{uint32_t(h >> 32), id};
    }
    // `bytes_of(id)` gives a token's bytes; -1 when `key` is not in the table.
    template <class BytesOf>
    Token find(std::string_view key, uint64_t h, const BytesOf& bytes_of) const noexcept {
        if (slots_.empty()) return -1;
        const uint32_t tag = uint32_t(h >> 32);
        for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.id < 0) return -1;
            if (s.tag == tag && same_bytes(bytes_of(s.id), key)) return s.id;
        }
    }

private:
    struct Slot {
        uint32_t tag = 0;  // high half of the hash: skips most byte comparisons
        Token id = -1;
    };
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

// The per-call memo of pieces already encoded: piece (a view into the text being
// encoded) -> its ids, stored back to back in one vector.
class PieceCache {
public:
    // Ids of `key`, or nullptr (count untouched) when not cached.
    const Token* find(std::string_view key, uint64_t h, size_t& count) const noexcept {
        if (slots_.empty()) return nullptr;
        for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (!s.data) return nullptr;
            if (s.hash == h && same_bytes(std::string_view(s.data, s.len), key)) {
                count = s.count;
                return ids_.data() + s.offset;
            }
        }
    }
    void insert(std::string_view key, uint64_t h, const Token* ids, size_t count) {
        if ((size_ + 1) * 2 > slots_.size()) grow();
        size_t i = size_t(h) & mask_;
        while (slots_[i].data) i = (i + 1) & mask_;
        slots_[i] = Slot{key.data(), h, uint32_t(key.size()), uint32_t(ids_.size()), uint32_t(count)};
        ids_.insert(ids_.end(), ids, ids + count);
        ++size_;
    }

private:
    struct Slot {
        const char* data = nullptr;
        uint64_t hash = 0;
        uint32_t len = 0;
        uint32_t offset = 0;
        uint32_t count = 0;
    };
    void grow() {
        std::vector<Slot> old;
        old.swap(slots_);
        const size_t cap = old.empty() ? 256 : old.size() * 2;
        slots_.assign(cap, Slot{});
        mask_ = cap - 1;
        for (const Slot& s : old) {
            if (!s.data) continue;
            size_t i = size_t(s.hash) & mask_;
            while (slots_[i].data) i = (i + 1) & mask_;
            slots_[i] = s;
        }
    }
    std::vector<Slot> slots_;
    std::vector<Token> ids_;
    size_t mask_ = 0;
    size_t size_ = 0;
};

}  // namespace kaa::detail
