// bpe.hpp — byte-pair encoding of one pre-tokenized piece.
//
// A piece starts as one token per byte (the byte-level alphabet gives every byte a
// token); then, repeatedly, the adjacent pair whose merge has the lowest rank is merged,
// the leftmost pair first on equal ranks, until no adjacent pair has a merge. That is
// the order Hugging Face's BPE model applies merges in, so the ids are identical.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kaa/types.hpp"

namespace kaa::detail {

// (left id, right id) -> (rank, merged id), open addressing with linear probing: the
// lookup is the inner loop of BPE, and a flat table is several times faster than
// std::unordered_map with string keys.
class MergeTable {
public:
    void reserve(size_t n_merges);
    // A later insert of the same pair replaces the earlier one (as in Hugging Face).
    void insert(Token left, Token right, int32_t rank, Token merged);
    size_t size() const noexcept { return size_; }

    struct Hit {
        int32_t rank;
        Token merged;
    };
    // {INT32_MAX, -1} when the pair has no merge.
    Hit find(Token left, Token right) const noexcept {
        if (slots_.empty()) return {INT32_MAX, -1};
        const uint64_t key = pack(left, right);
        size_t i = hash(key) & mask_;
        for (;;) {
            const Slot& s = slots_[i];
            if (s.key == key) return {s.rank, s.merged};
            if (s.key == kEmpty) return {INT32_MAX, -1};
            i = (i + 1) & mask_;
        }
    }

private:
    static constexpr uint64_t kEmpty = ~uint64_t(0);  // ids are >= 0, so never a real key
    struct Slot {
        uint64_t key = kEmpty;
        int32_t rank = 0;
        Token merged = -1;
    };
    static uint64_t pack(Token l, Token r) noexcept {
        return (uint64_t(uint32_t(l)) << 32) | uint32_t(r);
    }
    static size_t hash(uint64_t k) noexcept {
        k ^= k >> 29;
        k *= 0x9E3779B97F4A7C15ull;  // Fibonacci hashing: spreads the low bits
        return size_t(k >> 20);
    }
    void grow();

    std::vector<Slot> slots_;
    size_t mask_ = 0;
    size_t size_ = 0;
};

// Working memory reused across pieces (no allocation per piece once warm).
struct BpeScratch {
    std::vector<Token> ids;
    std::vector<int32_t> ranks;
    std::vector<Token> merged;
    struct Node {
        Token id;
        int32_t prev, next;  // -1 at the ends
    };
    std::vector<Node> nodes;
    struct Cand {
        int32_t rank;
        int32_t pos;  // left node
        Token left, right, merged;
    };
    std::vector<Cand> heap;
};

// Appends the ids of `piece` (raw bytes) to `out`. `byte_token[b]` is the token of byte
// b; a byte without one becomes `unk`, or is dropped when unk < 0 (as Hugging Face does
// when the vocabulary has no unknown token).
void bpe_encode(const MergeTable& merges, const Token byte_token[256], Token unk,
                std::string_view piece, std::vector<Token>& out, BpeScratch& scratch);

// The two algorithms behind bpe_encode, exposed so tests can check they agree: a scan
// over a small array (fast for words) and a heap over a linked list (O(n log n) for
// long pieces such as a paragraph of CJK text with no spaces).
void bpe_merge_scan(const MergeTable& merges, std::vector<Token>& ids, BpeScratch& scratch);
void bpe_merge_heap(const MergeTable& merges, std::vector<Token>& ids, BpeScratch& scratch);

}  // namespace kaa::detail
