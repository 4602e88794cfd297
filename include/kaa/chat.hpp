// kaa/chat.hpp — turning a conversation into prompt text with a model's chat template.
//
// Chat templates are Jinja templates stored in GGUF files (`tokenizer.chat_template`).
// kaa implements the subset of Jinja that real chat templates use and renders it the way
// Hugging Face transformers does (trim_blocks and lstrip_blocks on, `break`/`continue`,
// `raise_exception`, a `tojson` that keeps key order and non-ASCII text). Anything outside
// the subset is rejected by parse() with an Error naming the construct and its position,
// never silently mis-rendered.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kaa/export.hpp"

namespace kaa {

// One turn of a conversation. role is usually "system", "user" or "assistant".
struct ChatMessage {
    std::string role;
    std::string content;
};

// Per-render inputs besides the messages.
struct ChatTemplateOptions {
    // Exposed to the template as `add_generation_prompt`: end the prompt with the
    // opening of an assistant turn so the model answers.
    bool add_generation_prompt = true;
    // Exposed as `bos_token` / `eos_token` (usually the model's special-token texts).
    std::string bos_token;
    std::string eos_token;
    // render() fails with template_error rather than produce (or build any string)
    // longer than this.
    std::size_t max_output_bytes = std::size_t(16) << 20;
};

// How template source is split into text and tags. The defaults are what Hugging Face
// uses for chat templates, so prompts match the ones the model was trained on.
struct ChatTemplateSyntax {
    // Remove the first newline after a block tag (`%}`) or comment (`#}`).
    bool trim_blocks = true;
    // Remove spaces and tabs from the start of a line up to a block tag or comment.
    bool lstrip_blocks = true;
};

// A parsed chat template: parse once, render many times. Immutable; render() may be
// called from any number of threads at once. Cheap to copy (shares the parsed form).
// Templates are treated as untrusted: nesting, output size and total work are bounded,
// so parse() and render() need at most about 128 KiB of stack in an optimized build.
class KAA_API ChatTemplate {
public:
    // Parses Jinja source. Throws Error(template_error) naming the offending construct
    // and its line and column (unterminated tag, unknown filter, unsupported `macro`, ...).
    static ChatTemplate parse(std::string_view source, const ChatTemplateSyntax& syntax = {});

    // The ChatML template (<|im_start|>role\ncontent<|im_end|>\n ...), the default for
    // models that carry no template.
    static ChatTemplate chatml();

    // Renders the conversation. Throws Error(template_error) when the template calls
    // raise_exception (the message is the template's own), on a type error (adding a
    // string to a number, ...), or when a limit is hit (output size, work done).
    std::string render(const std::vector<ChatMessage>& messages,
                       const ChatTemplateOptions& options = {}) const;

    // The source this template was parsed from.
    const std::string& source() const noexcept;

    // Copies share the parsed form. There are deliberately no move operations: a
    // "moved" template is a copy, so no ChatTemplate is ever empty.
    ChatTemplate(const ChatTemplate&) = default;
    ChatTemplate& operator=(const ChatTemplate&) = default;
    ~ChatTemplate();

private:
    struct Impl;
    explicit ChatTemplate(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> impl_;
};

}  // namespace kaa
