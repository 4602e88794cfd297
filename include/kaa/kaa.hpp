// kaa/kaa.hpp — the whole public C++ API.
#pragma once

#include "kaa/chat.hpp"
#include "kaa/conversation.hpp"
#include "kaa/error.hpp"
#include "kaa/generate.hpp"
#include "kaa/sampler.hpp"
#include "kaa/model.hpp"
#include "kaa/session.hpp"
#include "kaa/state.hpp"
#include "kaa/tokenizer.hpp"
#include "kaa/types.hpp"
