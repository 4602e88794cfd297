// kaa/conversation.hpp — multi-turn chat on a Session with the model's chat template.
//
// Each reply() renders the whole conversation with the template, feeds the model only
// the text it has not seen yet (the state already holds the earlier turns), and
// generates the assistant's answer. If the rendered history no longer starts with what
// was fed (a template that rewrites earlier turns, or a reply that ended in bytes which
// are not valid UTF-8, so its text holds U+FFFD instead), the Session is reset and the
// whole conversation re-fed, so the result is always what a fresh run would compute.
// A Conversation is used by one thread at a time, like its Session.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kaa/chat.hpp"
#include "kaa/export.hpp"
#include "kaa/generate.hpp"
#include "kaa/session.hpp"

namespace kaa {

class KAA_API Conversation {
public:
    // The template is `tmpl` if given, else the model's tokenizer.chat_template, else
    // ChatML. The Session must outlive the Conversation; it should be fresh (position 0)
    // or be restored together with restore(). Throws Error(template_error) when the
    // model's template does not parse.
    explicit Conversation(Session& session, std::optional<ChatTemplate> tmpl = std::nullopt);

    // Appends a message without generating (a system prompt, or earlier turns).
    void add(ChatMessage message);
    // Appends the user's message and generates the assistant's reply, which is appended
    // too. Stop strings that end a turn in the template (e.g. "<|im_end|>") are added to
    // opts.stop automatically. Throws what Session::generate throws (or the callback),
    // and Error(template_error) when rendering fails; after any exception the user's
    // message is not kept, and the next reply re-feeds the whole conversation (the
    // Session may hold part of a reply).
    GenerationResult reply(const std::string& user_text, GenerationOptions opts = {},
                           const StreamCallback& on_text = nullptr);

    const std::vector<ChatMessage>& messages() const noexcept { return messages_; }
    const ChatTemplate& chat_template() const noexcept { return template_; }

    // The bookkeeping needed to continue later (messages and the text the state holds),
    // as bytes: store it with State::set_user_data() beside session.state().
    std::string serialize() const;
    // Replaces the bookkeeping with a serialized one. Throws Error(invalid_state).
    void restore(std::string_view bytes);

private:
    Session& session_;
    ChatTemplate template_;
    std::vector<ChatMessage> messages_;
    std::string fed_;  // exactly the text the Session's state has consumed
    bool in_sync_ = true;  // false after a failed reply: fed_ no longer describes the state
    std::vector<std::string> turn_stops_;
};

}  // namespace kaa
