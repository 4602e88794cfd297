// Reading ../shared/golden/NAME.json and its NAME.CASE.f32 logit files.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kaa/types.hpp"

namespace kaa::test {

struct GoldenCase {
    std::string name;
    std::optional<std::string> text;     // absent for token-only cases
    std::vector<Token> tokens;           // prompt, then the greedy continuation
    int n_prompt = 0;
    std::vector<int> argmax;             // per position
    std::vector<double> top1_margin;
    std::vector<double> logsumexp;
    std::vector<std::vector<int>> top_ids;       // per position, 32 ids
    std::vector<std::vector<double>> top_logits; // per position, 32 logits
    int logits_first_position = 0;
    std::vector<float> full_logits;      // rows x n_vocab, rows predict tokens[first + r + 1]
    int full_rows = 0;
};

struct Golden {
    std::string model_file;  // file name under shared/models
    int n_vocab = 0;
    std::vector<GoldenCase> cases;
};

// Loads golden/NAME.json (and the .f32 files it names). Throws on malformed data.
Golden load_golden(const std::string& json_path);

// Names (without .json) of every golden file in shared/golden, sorted.
std::vector<std::string> golden_names();

}  // namespace kaa::test
