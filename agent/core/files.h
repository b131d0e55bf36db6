// Whole-file reads and crash-safe whole-file writes, for the agent's small state files
// (schedules.json, a lab's lab.json) and the reports chaosctl writes.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/result.h"

namespace chaos {

// The whole file; an error carries errno (ENOENT when it does not exist).
Result<std::string> read_file(const std::string& path);

// Replaces path with data so that a crash leaves either the old file or the new one, never a
// torn one: a unique temporary file in the same directory, written, chmod'ed to mode, fsync'ed,
// renamed over path, and the directory fsync'ed (the rename itself). The temporary file is
// removed on any failure.
Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);

}  // namespace chaos
