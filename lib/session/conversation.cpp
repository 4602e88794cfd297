// conversation.cpp — incremental chat: render, feed the unseen suffix, generate.
#include "kaa/conversation.hpp"

#include <algorithm>

#include "kaa/tokenizer.hpp"

namespace kaa {
namespace {

ChatTemplate pick_template(const Session& s, std::optional<ChatTemplate> tmpl) {
    if (tmpl) return *tmpl;
    const std::string src = s.model().chat_template();
    return src.empty() ? ChatTemplate::chatml() : ChatTemplate::parse(src);
}

// Serialized as "<decimal length>:<bytes>" fields after a magic line.
constexpr std::string_view kMagic = "kaa-conversation-1\n";

void put_field(std::string& out, std::string_view v) {
    out += std::to_string(v.size());
    out += ':';
    out += v;
}

std::string get_field(std::string_view& in) {
    const size_t colon = in.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 12)
        throw Error(ErrorCode::invalid_state, "conversation data is malformed");
    size_t n = 0;
    for (size_t i = 0; i < colon; ++i) {
        if (in[i] < '0' || in[i] > '9') throw Error(ErrorCode::invalid_state, "conversation data is malformed");
        n = n * 10 + size_t(in[i] - '0');
    }
    if (n > in.size() - colon - 1) throw Error(ErrorCode::invalid_state, "conversation data is truncated");
    std::string v(in.substr(colon + 1, n));
    in.remove_prefix(colon + 1 + n);
    return v;
}

}  // namespace

Conversation::Conversation(Session& session, std::optional<ChatTemplate> tmpl)
    : session_(session), template_(pick_template(session, std::move(tmpl))) {
    // Turn terminators that are written as text in the template.
    for (const char* s : {"<|im_end|>", "<|eot_id|>", "<end_of_turn>", "</s>"})
        if (template_.source().find(s) != std::string::npos) turn_stops_.emplace_back(s);
}

void Conversation::add(ChatMessage message) { messages_.push_back(std::move(message)); }

GenerationResult Conversation::reply(const std::string& user_text, GenerationOptions opts,
                                     const StreamCallback& on_text) {
    const Tokenizer& tok = session_.model().tokenizer();
    messages_.push_back({"user", user_text});
    ChatTemplateOptions to;
    to.add_generation_prompt = true;
    if (tok.bos() >= 0) to.bos_token = std::string(tok.text(tok.bos()));
    if (tok.eos() >= 0) to.eos_token = std::string(tok.text(tok.eos()));
    std::string full;
    try {
        full = template_.render(messages_, to);
    } catch (...) {
        messages_.pop_back();
        throw;
    }

    std::string_view todo = full;
    if (in_sync_ && session_.position() > 0 && full.compare(0, fed_.size(), fed_) == 0) {
        todo.remove_prefix(fed_.size());
    } else {
        session_.reset();
        fed_.clear();
    }
    for (const auto& s : turn_stops_)
        if (std::find(opts.stop.begin(), opts.stop.end(), s) == opts.stop.end()) opts.stop.push_back(s);

    GenerationResult res;
    in_sync_ = false;  // until generate returns: it may fail after feeding part of the text
    try {
        res = session_.generate(todo, opts, on_text);
    } catch (...) {
        messages_.pop_back();
        throw;
    }
    in_sync_ = true;
    // The state now holds the prompt and every generated token except a final
    // end-of-generation token, which generate() does not feed back.
    std::vector<Token> fed_tokens = res.tokens;
    if (res.stop_reason == StopReason::end_of_generation && !fed_tokens.empty()) fed_tokens.pop_back();
    fed_ = full + tok.decode(fed_tokens);
    messages_.push_back({"assistant", res.text});
    return res;
}

std::string Conversation::serialize() const {
    std::string out(kMagic);
    put_field(out, std::to_string(messages_.size()));
    for (const auto& m : messages_) {
        put_field(out, m.role);
        put_field(out, m.content);
    }
    put_field(out, fed_);
    return out;
}

void Conversation::restore(std::string_view in) {
    if (in.substr(0, kMagic.size()) != kMagic)
        throw Error(ErrorCode::invalid_state, "not a kaa conversation (bad magic)");
    in.remove_prefix(kMagic.size());
    const std::string count = get_field(in);
    if (count.empty() || count.size() > 9 || count.find_first_not_of("0123456789") != std::string::npos)
        throw Error(ErrorCode::invalid_state, "conversation data is malformed");
    const size_t n = size_t(std::stoul(count));
    if (n > in.size()) throw Error(ErrorCode::invalid_state, "conversation data is truncated");
    std::vector<ChatMessage> msgs;
    msgs.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        ChatMessage m;
        m.role = get_field(in);
        m.content = get_field(in);
        msgs.push_back(std::move(m));
    }
    std::string fed = get_field(in);
    if (!in.empty()) throw Error(ErrorCode::invalid_state, "conversation data has trailing bytes");
    messages_ = std::move(msgs);
    fed_ = std::move(fed);
    in_sync_ = true;
}

}  // namespace kaa
