// ChatTemplate: the public face of lib/chat (lexer -> parser -> evaluator).
#include "kaa/chat.hpp"

#include "chat/eval.hpp"
#include "chat/parser.hpp"
#include "kaa/error.hpp"

namespace kaa {

namespace {

// The exact template Falcon-Mamba instruct GGUFs (and many ChatML models) carry.
constexpr std::string_view kChatML =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Work units a render may spend: roughly one per expression, statement or loop step,
// plus one per 64 bytes copied; a unit costs 20-60 ns. Real templates spend tens of
// units per message, so the base amount bounds a hostile template to well under a
// second, and the allowance grows with the conversation so that long ones still fit.
constexpr std::uint64_t kWorkBase = 10'000'000;
constexpr std::uint64_t kWorkPerMessage = 1'000;
constexpr std::uint64_t kWorkPerByte = 1;   // per 16 bytes of message text
// Longest list any expression may build (range(), '*', split(), ...).
constexpr std::size_t kMaxItems = std::size_t(1) << 20;

}  // namespace

struct ChatTemplate::Impl {
    std::string source;
    chat::Body body;
};

ChatTemplate::ChatTemplate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;

ChatTemplate ChatTemplate::parse(std::string_view source, const ChatTemplateSyntax& syntax) {
    auto impl = std::make_shared<Impl>();
    impl->source = std::string(source);
    chat::LexOptions lex;
    lex.trim_blocks = syntax.trim_blocks;
    lex.lstrip_blocks = syntax.lstrip_blocks;
    impl->body = chat::parse_template(source, lex);
    return ChatTemplate(std::move(impl));
}

ChatTemplate ChatTemplate::chatml() {
    // Parsed once; every caller shares the immutable result.
    static const ChatTemplate t = parse(kChatML);
    return t;
}

const std::string& ChatTemplate::source() const noexcept { return impl_->source; }

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 const ChatTemplateOptions& options) const {
    std::uint64_t text_bytes = 0;
    for (const ChatMessage& m : messages) text_bytes += m.role.size() + m.content.size();
    chat::Budget budget;
    budget.work_left = kWorkBase + kWorkPerMessage * messages.size() + kWorkPerByte * (text_bytes / 16);
    budget.max_bytes = options.max_output_bytes;
    budget.max_items = kMaxItems;
    if (messages.size() > kMaxItems)
        throw Error(ErrorCode::template_error,
                    "chat template: more than " + std::to_string(kMaxItems) + " messages");

    chat::List list;
    list.reserve(messages.size());
    for (const ChatMessage& m : messages) {
        chat::Dict d;
        d.emplace_back("role", chat::Value::string(m.role));
        d.emplace_back("content", chat::Value::string(m.content));
        list.push_back(chat::Value::dict(std::move(d)));
    }
    chat::Dict globals;
    globals.emplace_back("messages", chat::Value::list(std::move(list)));
    globals.emplace_back("add_generation_prompt", chat::Value::boolean(options.add_generation_prompt));
    globals.emplace_back("bos_token", chat::Value::string(options.bos_token));
    globals.emplace_back("eos_token", chat::Value::string(options.eos_token));
    return chat::render(impl_->body, std::move(globals), budget);
}

}  // namespace kaa
