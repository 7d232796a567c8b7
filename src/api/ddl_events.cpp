// Event triggers that keep the catalog in step with DDL done outside the SQL API:
//  * sql_drop: a dropped storage table (DROP TABLE, or DROP ... CASCADE of a source) takes its
//    catalog rows with it;
//  * ddl_command_end: renamed stream tables update pgt_schema/pgt_name, ALTER on a source
//    marks the stream tables reading it needs_reinit (SPEC §4) when their output changes, and
//    ALTER TABLE on a captured table evolves its change buffer in place (capture.hpp);
//  * partitions (capture/partitions.hpp): a partition created in or attached to a tracked tree
//    gets capture triggers, ATTACH / DETACH / DROP of a partition make readers rebuild FULL, and
//    DETACH ... CONCURRENTLY from a tracked tree is refused (ddl_command_start).
#include "analyze/query_analysis.hpp"
#include "bridge/guard.hpp"
#include "bridge/search_path.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"
#include "pgt_catalog/catalog.hpp"
#include "capture/partitions.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/namespace.h"
#include "commands/event_trigger.h"
#include "nodes/parsenodes.h"
#include "storage/lockdefs.h"
}

using namespace pgtrickle;

namespace {

// Whether the analyzed query's output (names and types) differs from the storage columns.
bool ShapeDiffers(const analyze::AnalyzedQuery &query, const std::string &relid) {
	auto cols = analyze::StorageColumns(static_cast<Oid>(std::stoul(relid)));
	if (cols.size() != query.columns.size()) {
		return true;
	}
	for (std::size_t i = 0; i < query.columns.size(); i++) {
		bool found = false;
		for (const auto &c : cols) {
			found = found ||
			        (c.name == query.columns[i].name && c.type_sql == query.columns[i].type_sql);
		}
		if (!found) {
			return true;
		}
	}
	return false;
}

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
	// Columns are protected like a view's: a column a stream table reads cannot be dropped.
	auto used = bridge::SpiExec(
	    "SELECT d.address_names[3], pg_catalog.quote_ident(s.pgt_schema) || '.' || "
	    "pg_catalog.quote_ident(s.pgt_name), d.object_identity "
	    "FROM pg_catalog.pg_event_trigger_dropped_objects() d "
	    "JOIN pgtrickle.pgt_dependencies dep ON dep.source_relid = d.objid "
	    "JOIN pgtrickle.pgt_stream_tables s ON s.pgt_id = dep.pgt_id "
	    "WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid > 0 "
	    "AND d.address_names[3] = ANY (dep.columns_used) "
	    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() x "
	    "WHERE x.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND x.objsubid = 0 "
	    "AND x.objid IN (s.pgt_relid, d.objid)) LIMIT 1");
	if (!used.rows.empty()) {
		throw core::Error("2BP01",
		                  "cannot drop column " + used.Get(0, 2) + " because stream table " +
		                      used.Get(0, 1) + " depends on it",
		                  {}, "Drop or alter the stream table first.");
	}
	capture::RefuseCaptureTriggerDrop();
	capture::RefusePartitionTriggerDrop();
	bridge::SpiExec("DELETE FROM pgtrickle.pgt_stream_tables WHERE pgt_relid IN ("
	                "SELECT d.objid FROM pg_catalog.pg_event_trigger_dropped_objects() d "
	                "WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
	                "AND d.objsubid = 0)");
	capture::OnPartitionDrop();
	capture::CollectGarbage();
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_on_ddl_end) {
	RequireEventTrigger(fcinfo);
	if (capture::InInternalDdl()) {
		PG_RETURN_VOID(); // capture altering its own buffers and triggers
	}
	bridge::SpiScope spi;
	bridge::AsExtensionOwner as_owner;
	capture::RefuseCaptureTriggerAlter();
	bridge::SpiExec("UPDATE pgtrickle.pgt_stream_tables st "
	                "SET pgt_schema = n.nspname, pgt_name = c.relname, updated_at = now() "
	                "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
	                "ON n.oid = c.relnamespace WHERE c.oid = st.pgt_relid "
	                "AND (st.pgt_schema, st.pgt_name) IS DISTINCT FROM (n.nspname::text, "
	                "c.relname::text)");
	// Stream tables reading an altered relation: the stored tree is deparsed again (renamed
	// tables and columns print with their new names); when the query's output no longer matches
	// the storage (a column changed type), or a view it reads was replaced, the next refresh
	// rebuilds it (needs_reinit). Analysis plans the query (the planner runs IMMUTABLE functions
	// on constants): as the stream table's owner, restricted, never as the extension owner.
	auto affected = bridge::SpiExec(
	    "SELECT s.pgt_id, s.defining_tree, s.pgt_relid, bool_or(c.relkind IN ('v', 'm')), "
	    "pg_catalog.string_agg(DISTINCT cmd.command_tag || ' ' || cmd.object_identity, ', '), "
	    "o.relowner "
	    "FROM pg_catalog.pg_event_trigger_ddl_commands() cmd "
	    "JOIN pgtrickle.pgt_dependencies d ON d.source_relid = cmd.objid "
	    "JOIN pgtrickle.pgt_stream_tables s ON s.pgt_id = d.pgt_id "
	    "JOIN pg_catalog.pg_class c ON c.oid = cmd.objid "
	    "JOIN pg_catalog.pg_class o ON o.oid = s.pgt_relid "
	    "WHERE cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
	    "GROUP BY s.pgt_id, s.defining_tree, s.pgt_relid, o.relowner ORDER BY 1");
	for (const auto &row : affected.rows) {
		std::string pgt_id = *row[0];
		std::string tree = *row[1];
		std::string relid = *row[2];
		bool reinit = *row[3] == "t"; // a view or matview it reads was replaced or altered
		std::string commands = row[4].value_or("DDL");
		Oid owner = static_cast<Oid>(std::stoul(*row[5]));
		std::string query_text;
		auto error = bridge::RunInSubtransaction([&] {
			bridge::AsQueryOwner as_st_owner(owner);
			query_text = analyze::DeparseTree(tree);
			analyze::AnalyzedQuery now = analyze::AnalyzeQuery(query_text, "", "");
			reinit = reinit || ShapeDiffers(now, relid);
		});
		bridge::SpiExec("UPDATE pgtrickle.pgt_stream_tables SET "
		                "defining_query = coalesce($2, defining_query) WHERE pgt_id = $1::bigint",
		                {pgt_id, error ? bridge::Value() : bridge::Value(query_text)});
		if (reinit || error) {
			catalog::RequestReinit(std::stoll(pgt_id),
			                       error ? commands +
			                                   " made its query fail to analyze: " + error->what()
			                             : commands + " changed a source it reads");
		}
	}
	// Altered tracked tables: their buffers follow the new columns in place, keeping pending
	// changes (any ALTER TABLE: columns, RENAME, OWNER TO, SET (...), DISABLE TRIGGER, ...).
	// ALTER TABLE of a parent changes its partitions and inheritance children too: tracked ones
	// among them follow as well.
	auto altered =
	    bridge::SpiExec("WITH RECURSIVE altered(relid) AS ("
	                    "SELECT cmd.objid FROM pg_catalog.pg_event_trigger_ddl_commands() cmd "
	                    "WHERE cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
	                    "AND cmd.command_tag = 'ALTER TABLE' "
	                    "UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN altered a "
	                    "ON i.inhparent = a.relid) "
	                    "SELECT t.source_relid FROM pgtrickle.pgt_change_tracking t "
	                    "WHERE t.source_relid IN (SELECT relid FROM altered) ORDER BY 1");
	for (const auto &row : altered.rows) {
		capture::EvolveCapture(static_cast<Oid>(std::stoul(*row[0])));
	}
	PG_RETURN_VOID();
}

namespace {

// The ATTACH / DETACH PARTITION subcommands of an ALTER TABLE statement (nullptr-safe).
bool HasPartitionCmd(Node *parsetree, bool concurrent_detach_only) {
	if (parsetree == nullptr || !IsA(parsetree, AlterTableStmt)) {
		return false;
	}
	ListCell *lc;
	foreach (lc, castNode(AlterTableStmt, parsetree)->cmds) {
		auto *cmd = static_cast<AlterTableCmd *>(lfirst(lc));
		bool detach = cmd->subtype == AT_DetachPartition;
		if (concurrent_detach_only) {
			if (detach && castNode(PartitionCmd, cmd->def)->concurrent) {
				return true;
			}
		} else if (detach || cmd->subtype == AT_AttachPartition ||
		           cmd->subtype == AT_DetachPartitionFinalize) {
			return true;
		}
	}
	return false;
}

} // namespace

// ddl_command_end of CREATE TABLE and ALTER TABLE (after pgtrickle_on_ddl_end: event triggers
// fire in name order): capture on partitions created in or attached to a tracked tree, capture
// of tracked partitions whose columns an ALTER on an ancestor changed, and a FULL rebuild of the
// readers of a tree that gained or lost a partition.
PGT_FUNCTION(pgtrickle_on_partition_ddl) {
	RequireEventTrigger(fcinfo);
	Node *parsetree = reinterpret_cast<EventTriggerData *>(fcinfo->context)->parsetree;
	if (parsetree != nullptr && IsA(parsetree, CreateStmt) &&
	    castNode(CreateStmt, parsetree)->partbound == nullptr) {
		PG_RETURN_VOID(); // CREATE TABLE of a table that is not a partition
	}
	if (capture::InInternalDdl()) {
		PG_RETURN_VOID();
	}
	bool membership_changed = HasPartitionCmd(parsetree, false);
	bridge::SpiScope spi;
	bridge::AsExtensionOwner as_owner;
	capture::OnPartitionDdl(membership_changed);
	PG_RETURN_VOID();
}

// ddl_command_start of ALTER TABLE: refuses DETACH PARTITION ... CONCURRENTLY from a tracked tree
// (it commits its first half before ddl_command_end could act). Declared without SET search_path
// so that the table name resolves as the statement resolves it.
PGT_FUNCTION(pgtrickle_on_partition_ddl_start) {
	RequireEventTrigger(fcinfo);
	Node *parsetree = reinterpret_cast<EventTriggerData *>(fcinfo->context)->parsetree;
	if (!HasPartitionCmd(parsetree, true)) {
		PG_RETURN_VOID();
	}
	RangeVar *relation = castNode(AlterTableStmt, parsetree)->relation;
	Oid parent = bridge::PgCall([&] { return RangeVarGetRelid(relation, NoLock, true); });
	if (!OidIsValid(parent)) {
		PG_RETURN_VOID(); // the command itself reports the missing table
	}
	bridge::PinnedSearchPath pinned;
	bridge::SpiScope spi;
	bridge::AsExtensionOwner as_owner;
	capture::CheckConcurrentDetach(parent);
	PG_RETURN_VOID();
}
