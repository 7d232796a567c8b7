// search_path pinning (see search_path.hpp).
#include "bridge/search_path.hpp"

#include "bridge/guard.hpp"

#include <exception>

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
}

namespace pgtrickle::bridge {

PinnedSearchPath::PinnedSearchPath() : nest_level_(0), uncaught_(std::uncaught_exceptions()) {
	nest_level_ = PgCall([] {
		int level = NewGUCNestLevel();
		(void)set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
		                        GUC_ACTION_SAVE, true, 0, false);
		return level;
	});
}

PinnedSearchPath::~PinnedSearchPath() {
	// On the error path the (sub)transaction abort pops the GUC nest level itself.
	// AtEOXact_GUC only restores saved values (no lookups, no allocation that can fail), so it
	// is called without the call guard, which could throw out of a destructor.
	if (std::uncaught_exceptions() == uncaught_) {
		AtEOXact_GUC(true, nest_level_);
	}
}

ScopedSetting::ScopedSetting(const char *name, const char *value, int context)
    : nest_level_(0), uncaught_(std::uncaught_exceptions()) {
	nest_level_ = PgCall([&] {
		int level = NewGUCNestLevel();
		(void)set_config_option(name, value, static_cast<GucContext>(context), PGC_S_SESSION,
		                        GUC_ACTION_SAVE, true, 0, false);
		return level;
	});
}

ScopedSetting::~ScopedSetting() {
	// Restores the saved value on both paths (as an abort would on the error path: a caught
	// exception aborts nothing). AtEOXact_GUC only restores saved values, so it is called
	// without the call guard, which could throw out of a destructor.
	AtEOXact_GUC(std::uncaught_exceptions() == uncaught_, nest_level_);
}

} // namespace pgtrickle::bridge
