// Event triggers that keep the catalog in step with DDL done outside the SQL API:
//  * sql_drop: a dropped storage table (DROP TABLE, or DROP ... CASCADE of a source) takes its
//    catalog rows with it;
//  * ddl_command_end: renamed stream tables update pgt_schema/pgt_name, and ALTER on a source
//    marks the stream tables reading it needs_reinit (SPEC §4).
#include "bridge/guard.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"

extern "C" {
#include "postgres.h"
#include "commands/event_trigger.h"
}

using namespace pgtrickle;

namespace {

void RequireEventTrigger(FunctionCallInfo fcinfo) {
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo)) {
		throw core::Error("39P01", "function can only be called as an event trigger");
	}
}

} // namespace

PGT_FUNCTION(pgtrickle_on_sql_drop) {
	RequireEventTrigger(fcinfo);
	bridge::SpiScope spi;
	bridge::AsExtensionOwner as_owner;
	bridge::SpiExec("DELETE FROM pgtrickle.pgt_stream_tables WHERE pgt_relid IN ("
	                "SELECT d.objid FROM pg_catalog.pg_event_trigger_dropped_objects() d "
	                "WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
	                "AND d.objsubid = 0)");
	capture::CollectGarbage();
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_on_ddl_end) {
	RequireEventTrigger(fcinfo);
	bridge::SpiScope spi;
	bridge::AsExtensionOwner as_owner;
	bridge::SpiExec("UPDATE pgtrickle.pgt_stream_tables st "
	                "SET pgt_schema = n.nspname, pgt_name = c.relname, updated_at = now() "
	                "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
	                "ON n.oid = c.relnamespace WHERE c.oid = st.pgt_relid "
	                "AND (st.pgt_schema, st.pgt_name) IS DISTINCT FROM (n.nspname::text, "
	                "c.relname::text)");
	bridge::SpiExec("UPDATE pgtrickle.pgt_stream_tables SET needs_reinit = true "
	                "WHERE NOT needs_reinit AND pgt_id IN ("
	                "SELECT dep.pgt_id FROM pgtrickle.pgt_dependencies dep "
	                "JOIN pg_catalog.pg_event_trigger_ddl_commands() cmd "
	                "ON cmd.objid = dep.source_relid "
	                "WHERE cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass)");
	// Capture triggers copy named columns: rebuild them for altered tracked tables.
	auto altered = bridge::SpiExec(
	    "SELECT DISTINCT t.source_relid FROM pgtrickle.pgt_change_tracking t "
	    "JOIN pg_catalog.pg_event_trigger_ddl_commands() cmd ON cmd.objid = t.source_relid "
	    "WHERE cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
	    "AND cmd.command_tag = 'ALTER TABLE'");
	for (const auto &row : altered.rows) {
		capture::RebuildCapture(static_cast<Oid>(std::stoul(*row[0])));
	}
	PG_RETURN_VOID();
}
