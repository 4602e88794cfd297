// chat/eval.hpp — renders a parsed template.
#pragma once

#include <string>

#include "chat/ast.hpp"
#include "chat/value.hpp"

namespace kaa::chat {

// Renders `body` with `globals` as the outermost scope. Each call has its own scopes,
// output and budget, so one parsed Body can be rendered from many threads at once.
// Throws Error(template_error) with the position of the failing expression or statement;
// raise_exception() throws with exactly the template's message.
std::string render(const Body& body, Dict globals, Budget budget);

}  // namespace kaa::chat
