// api.cpp — kaa::Tokenizer and kaa::StreamDecoder over the tables of TokenizerImpl.
#include <cstring>

#include "gguf/gguf.hpp"
#include "kaa/error.hpp"
#include "tokenizer/load.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace kaa {

using detail::TokenizerImpl;

namespace {

[[noreturn]] void bad_token(Token id, int32_t n_vocab) {
    throw Error(ErrorCode::invalid_token, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                              std::to_string(n_vocab) + ")");
}

// Pieces longer than this are encoded without the cache: they rarely repeat, and
// hashing them would cost as much as encoding.
constexpr size_t kCacheMaxPiece = 64;

// State of one encode() call. The word cache lives here rather than in the shared
// vocabulary, so encode needs no locks and the cache dies with the call; its keys are
// views into the caller's text, valid for exactly that long.
class Encoder {
public:
    explicit Encoder(const TokenizerImpl& t) : t_(t) {}

    void encode_text(std::string_view text, bool parse_special, std::vector<Token>& out) {
        if (t_.specials.empty() || (!parse_special && !t_.has_user_defined)) {
            encode_plain(text, out);
            return;
        }
        const auto* s = reinterpret_cast<const unsigned char*>(text.data());
        size_t seg = 0, i = 0;
        const bool* may_start = t_.special_first[parse_special ? 1 : 0];
        while (i < text.size()) {
            const unsigned b = s[i];
            if (!may_start[b]) {  // the common case: no literal token starts here
                ++i;
                continue;
            }
            const uint32_t lo = t_.special_start[b], hi = t_.special_start[b + 1];
            const TokenizerImpl::Special* hit = nullptr;
            for (uint32_t k = lo; k < hi; ++k) {  // longest first
                const TokenizerImpl::Special& sp = t_.specials[k];
                if (sp.control && !parse_special) continue;
                if (sp.text.size() <= text.size() - i &&
                    std::memcmp(sp.text.data(), text.data() + i, sp.text.size()) == 0) {
                    hit = &sp;
                    break;
                }
            }
            if (!hit) {
                ++i;
                continue;
            }
            encode_plain(text.substr(seg, i - seg), out);
            out.push_back(hit->id);
            i += hit->text.size();
            seg = i;
        }
        encode_plain(text.substr(seg), out);
    }

private:
    void encode_plain(std::string_view text, std::vector<Token>& out) {
        if (text.empty()) return;
        text_ = text.data();
        out_ = &out;
        detail::pretokenize(
            t_.pre, text,
            [](void* self, size_t b, size_t e) {
                auto* enc = static_cast<Encoder*>(self);
                enc->encode_piece(std::string_view(enc->text_ + b, e - b), *enc->out_);
            },
            this);
    }

    void encode_piece(std::string_view piece, std::vector<Token>& out) {
        if (piece.size() == 1) {
            const Token id = t_.byte_token[static_cast<unsigned char>(piece[0])];
            if (id >= 0) out.push_back(id);
            else if (t_.unk >= 0) out.push_back(t_.unk);
            return;
        }
        if (piece.size() > kCacheMaxPiece && piece.size() > t_.whole_max_len) {
            detail::bpe_encode(t_.merges, t_.byte_token, t_.unk, piece, out, scratch_);
            return;
        }
        const uint64_t h = detail::hash_bytes(piece.data(), piece.size());
        const Token whole = t_.whole_token(piece, h);
        if (whole >= 0) {
            out.push_back(whole);
            return;
        }
        if (piece.size() > kCacheMaxPiece) {
            detail::bpe_encode(t_.merges, t_.byte_token, t_.unk, piece, out, scratch_);
            return;
        }
        size_t count = 0;
        if (const Token* ids = cache_.find(piece, h, count)) {
            out.insert(out.end(), ids, ids + count);
            return;
        }
        const size_t first = out.size();
        detail::bpe_encode(t_.merges, t_.byte_token, t_.unk, piece, out, scratch_);
        cache_.insert(piece, h, out.data() + first, out.size() - first);
    }

    const TokenizerImpl& t_;
    const char* text_ = nullptr;         // the segment being split (for the callback)
    std::vector<Token>* out_ = nullptr;
    detail::BpeScratch scratch_;
    detail::PieceCache cache_;
};

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const detail::TokenizerImpl> impl) : impl_(std::move(impl)) {
    if (!impl_) throw Error(ErrorCode::invalid_argument, "Tokenizer: null implementation");
}

Tokenizer Tokenizer::from_file(const std::string& gguf_path) {
    return detail::load_tokenizer(gguf::File::open(gguf_path));
}

std::vector<Token> Tokenizer::encode(std::string_view text, const TokenizeOptions& opts) const {
    const TokenizerImpl& t = *impl_;
    std::vector<Token> out;
    if (opts.add_bos) {
        if (t.bos < 0)
            throw Error(ErrorCode::invalid_argument, "add_bos requested but the vocabulary has no BOS token");
        out.push_back(t.bos);
    }
    out.reserve(out.size() + text.size() / 3 + 1);
    Encoder(t).encode_text(text, opts.parse_special, out);
    return out;
}

std::string Tokenizer::decode(const std::vector<Token>& ids, const DecodeOptions& opts) const {
    const TokenizerImpl& t = *impl_;
    // Two passes: validate and size, then copy into a string allocated once.
    size_t total = 0;
    for (Token id : ids) {
        if (id < 0 || id >= t.n_vocab) bad_token(id, t.n_vocab);
        if (opts.skip_special && t.attrs[id] == TokenAttr::control) continue;
        total += t.piece_off[id + 1] - t.piece_off[id];
    }
    std::string out(total, '\0');
    char* p = out.data();
    for (Token id : ids) {
        if (opts.skip_special && t.attrs[id] == TokenAttr::control) continue;
        const uint32_t b = t.piece_off[id], n = t.piece_off[id + 1] - b;
        std::memcpy(p, t.piece_arena.data() + b, n);
        p += n;
    }
    return out;
}

std::string Tokenizer::token_to_piece(Token id, const DecodeOptions& opts) const {
    const TokenizerImpl& t = *impl_;
    if (id < 0 || id >= t.n_vocab) bad_token(id, t.n_vocab);
    if (opts.skip_special && t.attrs[id] == TokenAttr::control) return {};
    return std::string(t.piece(id));
}

int32_t Tokenizer::n_vocab() const noexcept { return impl_->n_vocab; }
Token Tokenizer::bos() const noexcept { return impl_->bos; }
Token Tokenizer::eos() const noexcept { return impl_->eos; }
Token Tokenizer::pad() const noexcept { return impl_->pad; }
Token Tokenizer::eot() const noexcept { return impl_->eot; }
bool Tokenizer::add_bos_default() const noexcept { return impl_->add_bos; }

bool Tokenizer::is_end_of_generation(Token id) const noexcept {
    return id >= 0 && id < impl_->n_vocab && impl_->is_eog[id] != 0;
}

const std::vector<Token>& Tokenizer::end_of_generation_tokens() const noexcept { return impl_->eog; }

TokenAttr Tokenizer::attr(Token id) const {
    if (id < 0 || id >= impl_->n_vocab) bad_token(id, impl_->n_vocab);
    return impl_->attrs[id];
}

std::string_view Tokenizer::text(Token id) const {
    if (id < 0 || id >= impl_->n_vocab) bad_token(id, impl_->n_vocab);
    return impl_->raw(id);
}

Token Tokenizer::find(std::string_view raw_text) const noexcept {
    return impl_->find_raw(raw_text);
}

std::string_view Tokenizer::model() const noexcept { return impl_->model; }
std::string_view Tokenizer::pre_tokenizer() const noexcept { return impl_->pre_name; }

// ---- StreamDecoder ------------------------------------------------------------------

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Moves the decodable part of `pending` to the result. Complete characters are copied,
// bytes that cannot start or continue a character become U+FFFD (one per maximal
// ill-formed subpart, as the Unicode standard recommends), and a well-formed but
// unfinished sequence at the end stays in `pending` unless `final`.
std::string drain(std::string& pending, bool final) {
    std::string out;
    const auto* s = reinterpret_cast<const unsigned char*>(pending.data());
    const size_t n = pending.size();
    size_t i = 0;
    while (i < n) {
        const detail::Utf8Prefix p = detail::utf8_prefix(s + i, n - i);
        if (p.need == 0) {
            out += kReplacement;
            i += 1;
        } else if (p.got == p.need) {
            out.append(pending, i, p.need);
            i += p.need;
        } else if (i + p.got == n && !final) {
            break;  // may still be completed by the next token
        } else {
            out += kReplacement;
            i += p.got;
        }
    }
    pending.erase(0, i);
    return out;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, const DecodeOptions& opts)
    : tokenizer_(tokenizer), opts_(opts) {}

std::string StreamDecoder::push(Token id) {
    pending_ += tokenizer_.token_to_piece(id, opts_);
    return drain(pending_, false);
}

std::string StreamDecoder::flush() { return drain(pending_, true); }

}  // namespace kaa
