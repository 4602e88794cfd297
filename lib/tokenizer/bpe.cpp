// bpe.cpp — merge table and the two merge loops.
#include "tokenizer/bpe.hpp"

#include <algorithm>
#include <climits>

namespace kaa::detail {

// Pieces up to this many bytes use the quadratic scan; almost every word of natural
// language does, and the scan touches only a few cache lines.
constexpr size_t kScanLimit = 48;

void MergeTable::reserve(size_t n_merges) {
    size_t cap = 16;
    while (cap < n_merges * 2) cap <<= 1;  // load factor <= 1/2: short probe chains
    if (cap <= slots_.size()) return;
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    size_ = 0;
    for (const Slot& s : old)
        if (s.key != kEmpty) insert(Token(s.key >> 32), Token(uint32_t(s.key)), s.rank, s.merged);
}

void MergeTable::grow() { reserve(std::max<size_t>(8, size_ * 2 + 2)); }

void MergeTable::insert(Token left, Token right, int32_t rank, Token merged) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t key = pack(left, right);
    size_t i = hash(key) & mask_;
    while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
    if (slots_[i].key == kEmpty) ++size_;
    slots_[i] = Slot{key, rank, merged};
}

void bpe_merge_scan(const MergeTable& merges, std::vector<Token>& ids, BpeScratch& sc) {
    size_t m = ids.size();
    if (m < 2) return;
    // ranks[i] / merged[i] describe the pair (ids[i], ids[i+1]).
    sc.ranks.resize(m);
    sc.merged.resize(m);
    Token* id = ids.data();
    int32_t* rank = sc.ranks.data();
    Token* mer = sc.merged.data();
    for (size_t i = 0; i + 1 < m; ++i) {
        const MergeTable::Hit h = merges.find(id[i], id[i + 1]);
        rank[i] = h.rank;
        mer[i] = h.merged;
    }
    for (;;) {
        size_t best = 0;
        int32_t best_rank = INT32_MAX;
        for (size_t i = 0; i + 1 < m; ++i) {
            if (rank[i] < best_rank) {  // strict: the leftmost of equal ranks wins
                best_rank = rank[i];
                best = i;
            }
        }
        if (best_rank == INT32_MAX) break;
        id[best] = mer[best];
        // Drop element best+1 of ids and pair best+1 of ranks/merged.
        for (size_t i = best + 1; i + 1 < m; ++i) {
            id[i] = id[i + 1];
            rank[i] = rank[i + 1];
            mer[i] = mer[i + 1];
        }
        --m;
        if (best + 1 < m) {
            const MergeTable::Hit h = merges.find(id[best], id[best + 1]);
            rank[best] = h.rank;
            mer[best] = h.merged;
        }
        if (best > 0) {
            const MergeTable::Hit h = merges.find(id[best - 1], id[best]);
            rank[best - 1] = h.rank;
            mer[best - 1] = h.merged;
        }
    }
    ids.resize(m);
}

void bpe_merge_heap(const MergeTable& merges, std::vector<Token>& ids, BpeScratch& sc) {
    const size_t n = ids.size();
    if (n < 2) return;
    using Node = BpeScratch::Node;
    using Cand = BpeScratch::Cand;
    sc.nodes.resize(n);
    for (size_t i = 0; i < n; ++i)
        sc.nodes[i] = Node{ids[i], int32_t(i) - 1, i + 1 < n ? int32_t(i + 1) : -1};
    // Min-heap on (rank, position): the same order as the scan.
    auto later = [](const Cand& a, const Cand& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    sc.heap.clear();
    auto push = [&](int32_t pos) {
        const int32_t nx = sc.nodes[pos].next;
        if (nx < 0) return;
        const Token l = sc.nodes[pos].id, r = sc.nodes[nx].id;
        const MergeTable::Hit h = merges.find(l, r);
        if (h.merged < 0) return;
        sc.heap.push_back(Cand{h.rank, pos, l, r, h.merged});
        std::push_heap(sc.heap.begin(), sc.heap.end(), later);
    };
    for (size_t i = 0; i + 1 < n; ++i) push(int32_t(i));
    while (!sc.heap.empty()) {
        std::pop_heap(sc.heap.begin(), sc.heap.end(), later);
        const Cand c = sc.heap.back();
        sc.heap.pop_back();
        Node& left = sc.nodes[c.pos];
        // Stale entries: the left node was absorbed (id -1) or either side has merged
        // since (a node's id only ever changes to a longer token, so equal ids mean
        // the pair is unchanged).
        if (left.id != c.left || left.next < 0) continue;
        Node& right = sc.nodes[left.next];
        if (right.id != c.right) continue;
        left.id = c.merged;
        left.next = right.next;
        if (right.next >= 0) sc.nodes[right.next].prev = c.pos;
        right.id = -1;
        if (left.prev >= 0) push(left.prev);
        push(c.pos);
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = sc.nodes[i].next) ids[m++] = sc.nodes[i].id;
    ids.resize(m);
}

void bpe_encode(const MergeTable& merges, const Token byte_token[256], Token unk,
                std::string_view piece, std::vector<Token>& out, BpeScratch& sc) {
    sc.ids.clear();
    for (unsigned char b : piece) {
        const Token t = byte_token[b];
        if (t >= 0) sc.ids.push_back(t);
        else if (unk >= 0) sc.ids.push_back(unk);
    }
    if (sc.ids.size() <= kScanLimit) bpe_merge_scan(merges, sc.ids, sc);
    else bpe_merge_heap(merges, sc.ids, sc);
    out.insert(out.end(), sc.ids.begin(), sc.ids.end());
}

}  // namespace kaa::detail
