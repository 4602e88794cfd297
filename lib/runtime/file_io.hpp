// file_io.hpp — whole-file reads and crash-safe writes (the OS-specific part lives here).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kaa::runtime {

// Reads a whole file. Throws Error(io) when it cannot be opened or read, and
// Error(invalid_argument) when it is larger than max_bytes.
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes);

// Writes `data` to PATH.tmp-<unique> in the same folder, flushes it to disk, then
// renames it over `path`: a crash leaves either the old file or the new one, never a
// mix. Throws Error(io).
void write_file_atomic(const std::string& path, const void* data, size_t size);

}  // namespace kaa::runtime
