// Module entry: PG_MODULE_MAGIC, _PG_init (GUCs, launcher, transaction callbacks) and version().
#include "bridge/guard.hpp"
#include "config/guc.hpp"
#include "refresh/write_guard.hpp"
#include "scheduler/launcher.hpp"

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
}

#define PGT_VERSION "0.2.0"

extern "C" void _PG_init(void) {
	pgtrickle::config::DefineGucs();
	pgtrickle::refresh::RegisterWriteGuardCallbacks();
	if (process_shared_preload_libraries_in_progress) {
		pgtrickle::scheduler::RegisterLauncher();
	}
}

PGT_FUNCTION(pgtrickle_version) {
	(void)fcinfo;
	return pgtrickle::bridge::PgCall([] { return PointerGetDatum(cstring_to_text(PGT_VERSION)); });
}
