#pragma once
// Small text helpers shared by every layer's messages.

#include <string>
#include <string_view>

namespace berth::common {

// "value" in double quotes, as messages name fields, roles and workers.
std::string Quote(std::string_view s);

// Text read from outside (a command's output, a file) for an error message:
// in single quotes, cut after 80 characters ("..."), control bytes shown as
// '?', so that a message stays one readable line whatever it quotes.
std::string QuoteForeign(std::string_view s);

}  // namespace berth::common
