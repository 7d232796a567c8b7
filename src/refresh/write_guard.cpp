// DML protection of storage tables (see write_guard.hpp).
#include "refresh/write_guard.hpp"

#include "bridge/guard.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

namespace pgtrickle::refresh {

namespace {

int internal_write_depth = 0;

void OnXactEvent(XactEvent event, void *) {
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
		internal_write_depth = 0;
	}
}

} // namespace

InternalWriteScope::InternalWriteScope() {
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
		if (refresh::internal_write_depth == 0) {
			TriggerData *trigdata = (TriggerData *)fcinfo->context;
			Relation rel = trigdata->tg_relation;
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
