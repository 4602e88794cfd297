// kaa/export.hpp — symbol visibility for the C++ API.
// The library is built with hidden visibility; only what is marked KAA_API is exported.
#pragma once

#if defined(_WIN32)
#  if defined(KAA_BUILDING_SHARED)
#    define KAA_API __declspec(dllexport)
#  elif defined(KAA_USING_SHARED)
#    define KAA_API __declspec(dllimport)
#  else
#    define KAA_API
#  endif
#else
#  define KAA_API __attribute__((visibility("default")))
#endif
