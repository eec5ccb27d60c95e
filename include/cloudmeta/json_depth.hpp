// How deeply JSON text nests, measured on the bytes before any parser sees them. nlohmann's parser
// is iterative, but merge_patch, dump() and the record's own checks recurse once per level, so a
// body of a few hundred thousand '[' would overflow the stack after a successful parse. This
// pre-scan is linear, allocates nothing and never throws. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace cloudmeta {

// The nesting depth every JSON input may reach: `{}` is depth 1, `{"a": []}` depth 2. A record
// nests 9 deep at most (extra's tree, limited to 8 levels, inside the record's object), so 64
// leaves room for any client while keeping every recursion over parsed input short.
inline constexpr std::size_t kMaxJsonDepth = 64;

// The offset of the first '[' or '{' (outside strings) that opens a level deeper than
// `max_depth`, or std::string_view::npos if there is none. Strings are skipped as JSON lexes them
// ('"' opens and closes, '\' escapes the next byte), so for every prefix of the text a JSON parser
// accepts, the depth counted here is the parser's depth. Text that is not JSON still gets an
// answer (closers below depth 0 are ignored); the parser refuses it afterwards.
std::size_t find_excess_nesting(std::string_view text, std::size_t max_depth) noexcept;

}  // namespace cloudmeta
