// DML protection of storage tables (see write_guard.hpp).
#include "refresh/write_guard.hpp"

#include "bridge/guard.hpp"
#include "pgt_catalog/catalog.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
}

namespace pgtrickle::refresh {

namespace {

// The storage tables being written, innermost last (scopes nest only a few deep).
constexpr int kMaxDepth = 32;
Oid writing[kMaxDepth];
int internal_write_depth = 0;

void OnXactEvent(XactEvent event, void *) {
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
		internal_write_depth = 0;
	}
}

bool Writing(Oid relid) {
	for (int i = 0; i < internal_write_depth && i < kMaxDepth; i++) {
		if (writing[i] == relid) {
			return true;
		}
	}
	return false;
}

// Whether relid is a stream table in use. A storage table restored from a dump before its
// catalog row (data-only restores), or whose row waits to be rebound, takes the dump's rows.
// May raise.
bool IsLiveStreamTable(Oid relid) {
	Oid argtype = OIDOID;
	Datum arg = ObjectIdGetDatum(relid);
	if (SPI_connect() != SPI_OK_CONNECT) {
		elog(ERROR, "SPI_connect failed");
	}
	// needs_rebind exists from 0.2.0 on (a 0.1.0 catalog until ALTER EXTENSION UPDATE).
	bool restores = catalog::RebindColumnExists();
	SPI_execute_with_args(restores ? "SELECT 1 FROM pgtrickle.pgt_stream_tables "
	                                 "WHERE pgt_relid = $1 AND NOT needs_rebind"
	                               : "SELECT 1 FROM pgtrickle.pgt_stream_tables "
	                                 "WHERE pgt_relid = $1",
	                      1, &argtype, &arg, nullptr, true, 1);
	bool live = SPI_processed > 0;
	SPI_finish();
	return live;
}

} // namespace

InternalWriteScope::InternalWriteScope(Oid relid) {
	if (internal_write_depth < kMaxDepth) {
		writing[internal_write_depth] = relid;
	}
	internal_write_depth++;
}

InternalWriteScope::~InternalWriteScope() {
	if (internal_write_depth > 0) {
		internal_write_depth--;
	}
}

void RegisterWriteGuardCallbacks() {
	RegisterXactCallback(OnXactEvent, nullptr);
}

} // namespace pgtrickle::refresh

PGT_FUNCTION(pgtrickle_block_dml) {
	using namespace pgtrickle;
	return bridge::PgCall([&]() -> Datum {
		if (!CALLED_AS_TRIGGER(fcinfo)) {
			ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			                errmsg("pgtrickle._block_dml() must be called as a trigger")));
		}
		TriggerData *trigdata = (TriggerData *)fcinfo->context;
		Relation rel = trigdata->tg_relation;
		if (!refresh::Writing(RelationGetRelid(rel)) &&
		    refresh::IsLiveStreamTable(RelationGetRelid(rel))) {
			ereport(ERROR,
			        (errcode(ERRCODE_WRONG_OBJECT_TYPE),
			         errmsg("cannot modify stream table \"%s.%s\"",
			                get_namespace_name(RelationGetNamespace(rel)),
			                RelationGetRelationName(rel)),
			         errdetail("Stream tables are maintained by pg_trickle from their defining "
			                   "query."),
			         errhint("Change the source tables, or use pgtrickle.refresh_stream_table() "
			                 "or pgtrickle.alter_stream_table().")));
		}
		return PointerGetDatum(NULL);
	});
}
