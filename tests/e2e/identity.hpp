// Identity comparison of two queries' results, shared by the randomized e2e tests (the oracle and
// the query-shape fuzzer): each row becomes its text form (run it on a connection with
// extra_float_digits = 3: numeric keeps its scale, float8 its exact digits and -0, text its bytes
// whatever the collation, jsonb the scale of its numbers, NULL differs from ''), and both sides
// are counted per text, as multisets. A type's `=` is never used.
#pragma once

#include "cluster.hpp"

#include <string>

namespace pgt::e2e {

// The rows whose number of occurrences differs between `left` and `right` (two queries), one per
// line ("  stream table has N, query has M: (row)"), at most `limit`; "" when they are equal.
std::string IdentityDiff(Conn &conn, const std::string &left, const std::string &right,
                         int limit = 40);

} // namespace pgt::e2e
