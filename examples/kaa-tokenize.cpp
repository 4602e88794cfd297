// kaa-tokenize — show how a model's tokenizer splits a text.
//
//   kaa-tokenize -m MODEL (-f FILE | -p TEXT) [--ids] [--no-parse-special] [--add-bos]
//   kaa-tokenize -m MODEL --decode ID,ID,...
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/cli.hpp"
#include "kaa/tokenizer.hpp"

static const char* kUsage =
    "usage: kaa-tokenize -m MODEL (-f FILE | -p TEXT) [--ids] [--no-parse-special] [--add-bos]\n"
    "       kaa-tokenize -m MODEL --decode ID,ID,...\n"
    "  Tokenizes TEXT (or the bytes of FILE) with the tokenizer of the GGUF file MODEL.\n"
    "  --ids               print the ids as one JSON array instead of one 'id<TAB>piece' line each\n"
    "  --no-parse-special  treat control-token texts like '<|endoftext|>' as plain text\n"
    "  --add-bos           put the BOS token first (also done when the model asks for it)\n"
    "  --decode IDS        print the exact bytes the comma-separated ids stand for\n";

// A token's bytes made printable on one line: \n \t \r \\ spelled out, other control
// bytes and bytes that are not valid UTF-8 as \xNN; valid non-ASCII characters as is.
static std::string escape(const std::string& s) {
    std::string out;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    for (size_t i = 0; i < n;) {
        const unsigned c = p[i];
        size_t len = 0;  // length of a valid multi-byte character at i
        if (c >= 0xC2 && c <= 0xF4) {
            const size_t need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            size_t k = 1;
            while (k < need && i + k < n && (p[i + k] & 0xC0) == 0x80) ++k;
            const bool overlong_or_bad = (c == 0xE0 && k > 1 && p[i + 1] < 0xA0) ||
                                         (c == 0xED && k > 1 && p[i + 1] > 0x9F) ||
                                         (c == 0xF0 && k > 1 && p[i + 1] < 0x90) ||
                                         (c == 0xF4 && k > 1 && p[i + 1] > 0x8F);
            if (k == need && !overlong_or_bad) len = need;
        }
        if (len) {
            out.append(s, i, len);
            i += len;
            continue;
        }
        char buf[8];
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c == '\\') out += "\\\\";
        else if (c < 0x20 || c >= 0x7F) {
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += char(c);
        }
        ++i;
    }
    return out;
}

int main(int argc, char** argv) {
    return kaa::cli::run(kUsage, [&] {
        kaa::cli::Args args(argc, argv);
        std::string model, file, prompt, decode_ids;
        bool have_prompt = false, ids_only = false, parse_special = true, add_bos = false;
        while (!args.done()) {
            const std::string a = args.next();
            if (a == "-m" || a == "--model") model = args.value(a);
            else if (a == "-f" || a == "--file") file = args.value(a);
            else if (a == "-p" || a == "--prompt") { prompt = args.value(a); have_prompt = true; }
            else if (a == "--ids") ids_only = true;
            else if (a == "--no-parse-special") parse_special = false;
            else if (a == "--add-bos") add_bos = true;
            else if (a == "--decode") decode_ids = args.value(a);
            else if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
            else throw kaa::cli::UsageError("unknown option '" + a + "'");
        }
        if (model.empty()) throw kaa::cli::UsageError("-m MODEL is required");
        if (!decode_ids.empty()) {
            std::vector<kaa::Token> ids;
            std::stringstream ss(decode_ids);
            std::string item;
            while (std::getline(ss, item, ',')) {
                char* end = nullptr;
                const long long v = std::strtoll(item.c_str(), &end, 10);
                if (item.empty() || *end != '\0' || v < INT32_MIN || v > INT32_MAX)
                    throw kaa::cli::UsageError("--decode: '" + item + "' is not a token id");
                ids.push_back(kaa::Token(v));
            }
            const std::string text = kaa::Tokenizer::from_file(model).decode(ids);
            std::fwrite(text.data(), 1, text.size(), stdout);
            return 0;
        }
        if (have_prompt == !file.empty()) throw kaa::cli::UsageError("give exactly one of -f FILE and -p TEXT");
        if (!file.empty()) {
            std::ifstream in(file, std::ios::binary);
            if (!in) throw kaa::Error(kaa::ErrorCode::io, "cannot open '" + file + "'");
            std::ostringstream ss;
            ss << in.rdbuf();
            prompt = ss.str();
        }
        const kaa::Tokenizer tok = kaa::Tokenizer::from_file(model);
        kaa::TokenizeOptions opts;
        opts.add_bos = add_bos || tok.add_bos_default();
        opts.parse_special = parse_special;
        const std::vector<kaa::Token> ids = tok.encode(prompt, opts);
        if (ids_only) {
            std::string line = "[";
            for (size_t i = 0; i < ids.size(); ++i) {
                if (i) line += ", ";
                line += std::to_string(ids[i]);
            }
            line += "]\n";
            std::fputs(line.c_str(), stdout);
        } else {
            for (kaa::Token id : ids)
                std::printf("%d\t%s\n", id, escape(tok.token_to_piece(id)).c_str());
        }
        return 0;
    });
}
