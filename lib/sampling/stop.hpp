// Stop strings: cut generated text at the first occurrence of any stop string, even when
// the stop string arrives split over several token pieces.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kaa::detail {

// The generator pushes each decoded piece of text. StopMatcher releases only text that can
// no longer become part of a stop string and holds back the longest tail that is still a
// proper prefix of some stop string. Matching is byte-wise, so a held tail may end inside
// a UTF-8 sequence; the bytes are released unchanged once they are ruled out.
//
// On a match, push() returns the text before the stop string with stopped = true; the stop
// string and anything after it are dropped. The first complete match wins: a longer stop
// string that merely started earlier and is still incomplete does not delay it. After a
// stop, push() returns {"", true} and flush() returns "" until reset().
class StopMatcher {
public:
    struct Result {
        std::string emit;  // text safe to show now
        bool stopped;      // a stop string was found; generation should end
    };

    explicit StopMatcher(std::vector<std::string> stops);  // empty strings are ignored

    Result push(std::string_view text);
    // End of generation: returns the held-back tail (it matched no stop string).
    std::string flush();
    // Forgets held text and any stop, ready for a new generation with the same stops.
    void reset();

    bool stopped() const { return stopped_; }
    size_t held() const { return pending_.size(); }  // bytes currently held back

private:
    std::vector<std::string> stops_;
    std::string pending_;  // text received but not yet released
    bool stopped_ = false;
};

}  // namespace kaa::detail
