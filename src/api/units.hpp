// The refresh unit is defined once, in refresh/unit.hpp; the API layer names it here.
#pragma once

#include "refresh/unit.hpp"

namespace pgtrickle::api {

using refresh::FindUnit;
using refresh::GroupNumbers;
using refresh::Unit;

} // namespace pgtrickle::api
