#include "support/golden.hpp"

#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "support/shared.hpp"

namespace kaa::test {

Golden load_golden(const std::string& json_path) {
    std::ifstream in(json_path);
    if (!in) throw std::runtime_error("cannot open " + json_path);
    const nlohmann::json j = nlohmann::json::parse(in);
    const std::string dir = json_path.substr(0, json_path.find_last_of('/') + 1);
    Golden g;
    g.model_file = j.at("model").get<std::string>();
    g.n_vocab = j.at("n_vocab").get<int>();
    for (const auto& c : j.at("cases")) {
        GoldenCase gc;
        gc.name = c.at("name").get<std::string>();
        if (c.contains("text") && c.at("text").is_string()) gc.text = c.at("text").get<std::string>();
        gc.tokens = c.at("tokens").get<std::vector<Token>>();
        gc.n_prompt = c.at("n_prompt").get<int>();
        gc.argmax = c.at("argmax").get<std::vector<int>>();
        gc.top1_margin = c.at("top1_margin").get<std::vector<double>>();
        gc.logsumexp = c.at("logsumexp").get<std::vector<double>>();
        gc.top_ids = c.at("top_ids").get<std::vector<std::vector<int>>>();
        gc.top_logits = c.at("top_logits").get<std::vector<std::vector<double>>>();
        gc.logits_first_position = c.at("logits_first_position").get<int>();
        const auto shape = c.at("logits_shape").get<std::vector<int>>();
        gc.full_rows = shape.at(0);
        if (shape.at(1) != g.n_vocab) throw std::runtime_error("logits_shape does not match n_vocab");
        gc.full_logits.resize(size_t(gc.full_rows) * size_t(g.n_vocab));
        std::ifstream f(dir + c.at("logits_file").get<std::string>(), std::ios::binary);
        f.read(reinterpret_cast<char*>(gc.full_logits.data()), std::streamsize(gc.full_logits.size() * 4));
        if (!f) throw std::runtime_error("cannot read logits file for case " + gc.name);
        g.cases.push_back(std::move(gc));
    }
    return g;
}

std::vector<std::string> golden_names() {
    std::vector<std::string> out;
    const std::string dir = shared_path("golden");
    if (dir.empty()) return out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) out.push_back(n.substr(0, n.size() - 5));
        }
        closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace kaa::test
