#include "sampling/stop.hpp"

#include <algorithm>
#include <utility>

namespace kaa::detail {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
    for (auto& s : stops)
        if (!s.empty()) stops_.push_back(std::move(s));
}

StopMatcher::Result StopMatcher::push(std::string_view text) {
    if (stopped_) return {std::string(), true};
    pending_.append(text.data(), text.size());

    // Earliest complete match of any stop string. Only pending_ needs searching: released
    // text had no suffix that was a prefix of a stop, so no match can begin inside it.
    size_t best = std::string::npos;
    for (const std::string& s : stops_) best = std::min(best, pending_.find(s));
    if (best != std::string::npos) {
        Result r{pending_.substr(0, best), true};
        pending_.clear();
        stopped_ = true;
        return r;
    }

    // Longest tail of pending_ that is a proper prefix of some stop string (shorter than
    // the stop string: an equal-length one would have been found above).
    size_t hold = 0;
    for (const std::string& s : stops_) {
        const size_t max_len = std::min(s.size() - 1, pending_.size());
        for (size_t len = max_len; len > hold; --len) {
            if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
                hold = len;
                break;
            }
        }
    }
    Result r{pending_.substr(0, pending_.size() - hold), false};
    pending_.erase(0, pending_.size() - hold);
    return r;
}

std::string StopMatcher::flush() {
    std::string out;
    out.swap(pending_);
    return out;
}

void StopMatcher::reset() {
    pending_.clear();
    stopped_ = false;
}

}  // namespace kaa::detail
