#pragma once
// {NAME} placeholders in a worker's argv: "--port={BERTH_PORT_HTTP}" becomes
// "--port=31001". NAME is any variable of the worker's environment. "{{" and
// "}}" stand for literal braces (as in Python's str.format), so a JSON
// argument is written '{{"a": 1}}'. Expansion is one pass: a value that
// itself holds braces is copied as it is.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "berth/status.h"

namespace berth::roles {

// Checks the syntax only (braces balanced, names well formed), so that the
// YAML adapter can point at the line. The message does not name the field.
Status CheckPlaceholders(std::string_view arg);

// Expands `arg` against `env`. An unknown name is an error that names it and
// lists the names available; the message does not name the field.
Result<std::string> ExpandPlaceholders(std::string_view arg,
                                       const std::vector<std::pair<std::string, std::string>>& env);

}  // namespace berth::roles
