// fuzz_chat_template — ChatTemplate::parse and render on arbitrary templates and messages.
//
// Input: [flags] template \0 bos_token \0 eos_token \0 role \0 content \0 role \0 ...
// (up to 16 messages; a missing part is empty). Flags:
//   bit 0  add_generation_prompt      bit 1  trim_blocks off     bit 2  lstrip_blocks off
//   bit 3  a small output limit (200 bytes), to exercise the limit checks
// Every failure must be Error(template_error); a successful render must respect
// max_output_bytes and give the same text every time (it reads nothing but its inputs).
#include "fuzz_support.hpp"
#include "kaa/chat.hpp"
#include "kaa/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    kaa::fuzz::InputReader in{data, size};
    const uint8_t flags = in.u8();
    const std::string_view source = in.until_nul();
    kaa::ChatTemplateOptions opts;
    opts.add_generation_prompt = flags & 1;
    opts.bos_token = std::string(in.until_nul());
    opts.eos_token = std::string(in.until_nul());
    opts.max_output_bytes = flags & 8 ? 200 : size_t(1) << 20;
    std::vector<kaa::ChatMessage> messages;
    while (!in.empty() && messages.size() < 16) {
        kaa::ChatMessage m;
        m.role = std::string(in.until_nul());
        m.content = std::string(in.until_nul());
        messages.push_back(std::move(m));
    }
    kaa::ChatTemplateSyntax syntax;
    syntax.trim_blocks = !(flags & 2);
    syntax.lstrip_blocks = !(flags & 4);

    try {
        const kaa::ChatTemplate t = kaa::ChatTemplate::parse(source, syntax);
        KAA_FUZZ_CHECK(t.source() == source);
        std::string first;
        try {
            first = t.render(messages, opts);
        } catch (const kaa::Error& e) {
            KAA_FUZZ_CHECK(e.code() == kaa::ErrorCode::template_error);
            return 0;
        }
        KAA_FUZZ_CHECK(first.size() <= opts.max_output_bytes);
        KAA_FUZZ_CHECK(t.render(messages, opts) == first);
    } catch (const kaa::Error& e) {
        KAA_FUZZ_CHECK(e.code() == kaa::ErrorCode::template_error);
    }
    return 0;
}
