// Change capture (see capture.hpp).
#include "capture/capture.hpp"

#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "capture/frontier.hpp"
#include "core/buffer_evolution.hpp"
#include "capture/partitions.hpp"
#include "core/visibility.hpp"
#include "bridge/guard.hpp"
#include "config/guc.hpp"
#include "refresh/unit.hpp"

#include <algorithm>
#include <unordered_map>

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/supportnodes.h"
#include "optimizer/plancat.h"
#include "access/table.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
}

namespace pgtrickle::capture {

using bridge::PgCall;
using bridge::QuoteIdent;
using bridge::QuoteLiteral;
using bridge::SpiExec;

namespace {

// Whether the installed catalog has pgtrickle._capture (0.2.0 on).
bool HasCaptureFunction() {
	return SpiExec("SELECT pg_catalog.to_regprocedure('pgtrickle._capture()') IS NOT NULL", {},
	               bridge::CachedPlan())
	           .Get(0, 0) == "t";
}

std::string LegacyCaptureFunction(Oid relid, const std::string &schema) {
	return QuoteIdent(schema) + "." + QuoteIdent("capture_" + std::to_string(relid));
}

// SQL: pg_trigger.tgargs as stored for one trigger argument, the text expression `arg` (each
// argument NUL-terminated, in the database encoding); '' for a NULL `arg` (no argument).
std::string TriggerArgsOf(const std::string &arg) {
	return "coalesce(pg_catalog.convert_to(" + arg +
	       ", pg_catalog.getdatabaseencoding()::pg_catalog.name) || '\\x00'::pg_catalog.bytea, "
	       "''::pg_catalog.bytea)";
}

} // namespace

CaptureTarget CaptureTargetOf(Oid relid, const std::string &schema, const std::string &buffer) {
	if (HasCaptureFunction()) {
		return CaptureTarget{"pgtrickle._capture()", buffer};
	}
	return CaptureTarget{LegacyCaptureFunction(relid, schema) + "()", std::nullopt};
}

std::string CaptureTarget::Call() const {
	if (!argument) {
		return function;
	}
	return function.substr(0, function.size() - 1) + QuoteLiteral(*argument) + ")";
}

namespace {

std::string BufferSchema() {
	return config::change_buffer_schema ? config::change_buffer_schema : "pgtrickle_changes";
}

std::string OidList(const std::vector<Oid> &oids) {
	std::string out = "{";
	for (std::size_t i = 0; i < oids.size(); i++) {
		out += (i ? "," : "") + std::to_string(oids[i]);
	}
	return out + "}";
}

// Depth of open InternalDdlScopes.
int internal_ddl_depth = 0;

using Column = core::CaptureColumn;

// Every user column of relid in attnum order, dropped ones included (dropped = true), with the
// type a change buffer stores it as: a domain's base type (and typmod). Buffers never hold domain
// types: a domain's DEFAULT or CHECK expression would otherwise run with the extension owner's
// rights whenever the capture function or EvolveCapture writes NULLs into the buffer.
std::vector<Column> ColumnsOf(Oid relid) {
	auto r = SpiExec(
	    "WITH RECURSIVE c AS ("
	    "SELECT a.attnum, a.attname, a.atttypid AS typid, a.atttypmod AS typmod, a.attcollation, "
	    "a.attisdropped, 0 AS depth FROM pg_catalog.pg_attribute a "
	    "WHERE a.attrelid = $1::oid AND a.attnum > 0 "
	    "UNION ALL SELECT c.attnum, c.attname, t.typbasetype, "
	    "CASE WHEN c.typmod = -1 THEN t.typtypmod ELSE c.typmod END, c.attcollation, "
	    "c.attisdropped, c.depth + 1 FROM c JOIN pg_catalog.pg_type t ON t.oid = c.typid "
	    "WHERE t.typtype = 'd') "
	    "SELECT DISTINCT ON (c.attnum) c.attnum, c.attname, "
	    "pg_catalog.format_type(c.typid, c.typmod), "
	    "CASE WHEN c.attcollation <> 0 THEN (SELECT pg_catalog.quote_ident(n.nspname) "
	    "|| '.' || pg_catalog.quote_ident(l.collname) FROM pg_catalog.pg_collation l "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = l.collnamespace "
	    "WHERE l.oid = c.attcollation) END, "
	    "c.typid || '/' || c.typmod || '/' || c.attcollation, c.attisdropped "
	    "FROM c ORDER BY c.attnum, c.depth DESC",
	    {std::to_string(relid)});
	std::vector<Column> out;
	for (const auto &row : r.rows) {
		Column c;
		c.attnum = std::stoi(*row[0]);
		c.name = *row[1];
		c.type_sql = *row[2] + (row[3] ? " COLLATE " + *row[3] : std::string());
		c.type_key = *row[4];
		c.dropped = *row[5] == "t";
		out.push_back(std::move(c));
	}
	return out;
}

std::vector<Column> LiveColumns(std::vector<Column> columns) {
	columns.erase(
	    std::remove_if(columns.begin(), columns.end(), [](const Column &c) { return c.dropped; }),
	    columns.end());
	return columns;
}

// The buffer's meta columns; a source column cannot share their names.
bool IsMetaColumn(const std::string &name) {
	return name == "__pgt_xid" || name == "__pgt_action";
}

void RefuseMetaNames(Oid relid, const std::vector<Column> &live) {
	for (const auto &c : live) {
		if (IsMetaColumn(c.name)) {
			std::string rel =
			    SpiExec("SELECT $1::oid::regclass::text", {std::to_string(relid)}).Get(0, 0);
			throw core::Error("42939",
			                  "column name \"" + c.name + "\" of table " + rel +
			                      " is reserved for pg_trickle change capture",
			                  "Stream tables read " + rel +
			                      ", and its change buffer uses this name for its own column.",
			                  "Choose another column name.");
		}
	}
}

std::string Join(const std::vector<std::string> &items) {
	std::string out;
	for (std::size_t i = 0; i < items.size(); i++) {
		out += (i ? ", " : "") + items[i];
	}
	return out;
}

std::string IntArray(const std::vector<int> &values) {
	std::string out = "{";
	for (std::size_t i = 0; i < values.size(); i++) {
		out += (i ? "," : "") + std::to_string(values[i]);
	}
	return out + "}";
}

// The capture of a library running against a catalog older than 0.2.0 (between the library's
// installation and ALTER EXTENSION UPDATE), which lacks pgtrickle._capture: (re)writes the PL/pgSQL
// capture function `function` of the tracked table relid, which appends every change to `buffer`:
// CREATE OR REPLACE, so triggers keep pointing at it. Columns are referenced
// by name in the triggering relation (the transition tables, or OLD/NEW) and inserted by
// position into the buffer, whose data columns are the source's live columns in attnum order:
// the function fits any relation with the source's column names (a partition, whatever its
// attnums). As extension owner.
void WriteLegacyCaptureFunction(Oid relid, const std::string &function, const std::string &buffer) {
	std::vector<Column> live = LiveColumns(ColumnsOf(relid));
	std::string new_values;
	std::string old_values;
	std::string new_row;
	std::string old_row;
	for (const auto &c : live) {
		std::string col = QuoteIdent(c.name);
		new_values += ", n." + col;
		old_values += ", o." + col;
		new_row += ", NEW." + col;
		old_row += ", OLD." + col;
	}
	std::string xid = "pg_catalog.pg_current_xact_id()";
	std::string insert = "INSERT INTO " + buffer + " ";
	std::string body =
	    "BEGIN\n"
	    // Row triggers fire only under session_replication_role = replica (logical replication
	    // apply workers fire no statement triggers); statement triggers only outside it.
	    "  IF TG_LEVEL = 'ROW' THEN\n"
	    "    IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
	    "      " +
	    insert + "VALUES (" + xid + ", 'D'" + old_row +
	    ");\n"
	    "    END IF;\n"
	    "    IF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
	    "      " +
	    insert + "VALUES (" + xid + ", 'I'" + new_row +
	    ");\n"
	    "    END IF;\n"
	    "    RETURN NULL;\n"
	    "  END IF;\n"
	    "  IF TG_OP = 'INSERT' THEN\n"
	    "    " +
	    insert + "SELECT " + xid + ", 'I'" + new_values +
	    " FROM __pgt_new n;\n"
	    "  ELSIF TG_OP = 'UPDATE' THEN\n"
	    "    " +
	    insert + "SELECT " + xid + ", 'D'" + old_values +
	    " FROM __pgt_old o;\n"
	    "    " +
	    insert + "SELECT " + xid + ", 'I'" + new_values +
	    " FROM __pgt_new n;\n"
	    "  ELSIF TG_OP = 'DELETE' THEN\n"
	    "    " +
	    insert + "SELECT " + xid + ", 'D'" + old_values +
	    " FROM __pgt_old o;\n"
	    "  ELSE\n"
	    "    " +
	    insert + "(__pgt_xid, __pgt_action) VALUES (" + xid +
	    ", 'T');\n"
	    "  END IF;\n"
	    "  RETURN NULL;\n"
	    "END\n";
	SpiExec("CREATE OR REPLACE FUNCTION " + function +
	        "() RETURNS trigger LANGUAGE plpgsql "
	        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS " +
	        QuoteLiteral(body));
	SpiExec("REVOKE ALL ON FUNCTION " + function + "() FROM PUBLIC");
}

// The PL/pgSQL capture function capture_<relid> of earlier versions, which the triggers of a table
// tracked before the update still run: dropped with those triggers (CASCADE, its member triggers on
// partitions included) when capture is regenerated. Returns whether there was one.
bool DropLegacyCaptureFunction(Oid relid, const std::string &schema) {
	std::string function = LegacyCaptureFunction(relid, schema) + "()";
	if (SpiExec("SELECT pg_catalog.to_regprocedure($1) IS NOT NULL", {function}).Get(0, 0) != "t") {
		return false;
	}
	InternalDdlScope internal;
	SpiExec("DROP FUNCTION " + function + " CASCADE");
	return true;
}

// The capture triggers of a source and when each fires (pg_trigger.tgenabled): statement
// triggers with transition tables in sessions with session_replication_role origin or local
// ('O'); one row trigger in replica sessions ('R'): logical replication apply workers fire row
// triggers only, and replica-role bulk loads fire them too, so every change is captured exactly
// once whatever the role; TRUNCATE, statement-level only, always ('A'). The row trigger of a
// partitioned table is cloned to its partitions, so its name carries the source's oid: a
// partition read by a stream table of its own has its own row trigger next to the clone.
struct CaptureTrigger {
	const char *name;       // the row trigger's name is followed by _<source oid>
	const char *definition; // between CREATE TRIGGER <name> and ON <table>
	const char *rest;       // after ON <table>
	char fires;
	const char *enable; // ALTER TABLE ... ENABLE <this> TRIGGER
};

constexpr CaptureTrigger kCaptureTriggers[] = {
    {"__pgt_capture_ins", "AFTER INSERT", " REFERENCING NEW TABLE AS __pgt_new FOR EACH STATEMENT",
     'O', ""},
    {"__pgt_capture_upd", "AFTER UPDATE",
     " REFERENCING OLD TABLE AS __pgt_old NEW TABLE AS __pgt_new FOR EACH STATEMENT", 'O', ""},
    {"__pgt_capture_del", "AFTER DELETE", " REFERENCING OLD TABLE AS __pgt_old FOR EACH STATEMENT",
     'O', ""},
    {"__pgt_capture_trunc", "AFTER TRUNCATE", " FOR EACH STATEMENT", 'A', "ALWAYS "},
    {"__pgt_capture_row", "AFTER INSERT OR UPDATE OR DELETE", " FOR EACH ROW", 'R', "REPLICA "},
};

std::string TriggerName(const CaptureTrigger &t, Oid relid) {
	std::string name = t.name;
	return t.fires == 'R' ? name + "_" + std::to_string(relid) : name;
}

// Creates the capture triggers relid lacks, replaces those that run anything but `target` (a
// restored dump's triggers name the buffer of the table's old oid),
// and gives each its firing mode back (a user's ALTER TABLE ... DISABLE TRIGGER cannot switch
// capture off). ALTER TABLE recurses to the clones of the row trigger on partitions. Takes
// ShareRowExclusiveLock on relid if anything is missing or was changed (AccessExclusiveLock to
// replace a trigger). As extension owner.
void EnsureCaptureTriggers(Oid relid, const CaptureTarget &target) {
	InternalDdlScope internal;
	std::string source =
	    SpiExec("SELECT $1::oid::regclass::text", {std::to_string(relid)}).Get(0, 0);
	auto existing =
	    SpiExec("SELECT tgname, tgenabled, tgfoid = $2::pg_catalog.regprocedure AND tgargs = " +
	                TriggerArgsOf("$3") +
	                " FROM pg_catalog.pg_trigger WHERE tgrelid = $1::oid AND tgparentid = 0 "
	                "AND tgname LIKE '\\_\\_pgt\\_capture\\_%'",
	            {std::to_string(relid), target.function, target.argument});
	std::string enable;
	for (const auto &t : kCaptureTriggers) {
		std::string name = TriggerName(t, relid);
		std::optional<std::string> state;
		for (const auto &row : existing.rows) {
			if (*row[0] != name) {
				continue;
			}
			if (*row[2] == "t") {
				state = *row[1];
			} else {
				SpiExec("DROP TRIGGER " + QuoteIdent(name) + " ON " + source);
			}
		}
		if (!state) {
			SpiExec("CREATE TRIGGER " + QuoteIdent(name) + " " + t.definition + " ON " + source +
			        t.rest + " EXECUTE FUNCTION " + target.Call());
			state = "O";
		}
		if (*state != std::string(1, t.fires)) {
			enable += std::string(enable.empty() ? "" : ", ") + "ENABLE " + t.enable + "TRIGGER " +
			          QuoteIdent(name);
		}
	}
	if (!enable.empty()) {
		SpiExec("ALTER TABLE " + source + " " + enable);
	}
}

// The triggers of a tracked table, from its current columns: the one place capture is
// regenerated (after InstallCapture creates the buffer, and after every ALTER TABLE). A table
// tracked by an earlier version loses its PL/pgSQL capture function and the triggers running it
// here, and gets the current ones (its partitions' member triggers too, once tracked); under a
// catalog older than 0.2.0 its PL/pgSQL function is rewritten instead.
void RegenerateCapture(Oid relid, const std::string &schema, const std::string &buffer) {
	CaptureTarget target = CaptureTargetOf(relid, schema, buffer);
	if (target.argument) {
		bool legacy = DropLegacyCaptureFunction(relid, schema);
		EnsureCaptureTriggers(relid, target);
		if (legacy) {
			SyncPartitionCaptures(relid);
		}
		return;
	}
	WriteLegacyCaptureFunction(relid, LegacyCaptureFunction(relid, schema), buffer);
	EnsureCaptureTriggers(relid, target);
}

// Appends a marker row (action 'T' or 'R', NULL data columns) to a buffer in the current
// transaction.
void WriteMarker(const std::string &buffer, char action) {
	SpiExec("INSERT INTO " + buffer +
	            " (__pgt_xid, __pgt_action) VALUES (pg_catalog.pg_current_xact_id(), "
	            "$1::pg_catalog.\"char\")",
	        {std::string(1, action)});
}

// Creates buffer, capture function and triggers for one table. As extension owner.
void InstallCapture(Oid relid) {
	std::string schema = BufferSchema();
	std::string buffer_name = "changes_" + std::to_string(relid);
	std::string buffer = QuoteIdent(schema) + "." + QuoteIdent(buffer_name);
	std::vector<Column> live = LiveColumns(ColumnsOf(relid));
	RefuseMetaNames(relid, live);

	InternalDdlScope internal;
	auto has_schema = SpiExec("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", {schema});
	if (has_schema.rows.empty()) {
		SpiExec("CREATE SCHEMA " + QuoteIdent(schema));
		SpiExec("REVOKE ALL ON SCHEMA " + QuoteIdent(schema) + " FROM PUBLIC");
	}
	// The source's columns with their (base) types and collations, no constraints or defaults
	// (markers carry NULLs).
	std::string columns =
	    "__pgt_xid pg_catalog.xid8 NOT NULL, __pgt_action pg_catalog.\"char\" NOT NULL";
	for (const auto &c : live) {
		columns += ", " + QuoteIdent(c.name) + " " + c.type_sql;
	}
	SpiExec("CREATE TABLE " + buffer + " (" + columns + ")");
	// No index: buffers are trimmed after every refresh, and an index on the xid costs writers
	// more than the scans it would save (see docs/benchmarks.md).
	SpiExec("REVOKE ALL ON " + buffer + " FROM PUBLIC");

	RegenerateCapture(relid, schema, buffer);
	std::vector<int> attnums;
	for (const auto &c : live) {
		attnums.push_back(c.attnum);
	}
	SpiExec("INSERT INTO pgtrickle.pgt_change_tracking (source_relid, buffer_schema, buffer_name, "
	        "captured_attnums) VALUES ($1::oid, $2, $3, $4::pg_catalog.int2[])",
	        {std::to_string(relid), schema, buffer_name, IntArray(attnums)});
	// Partitions and ancestors fire only their own statement triggers (partitions.hpp).
	SyncPartitionCaptures(relid);
}

void DropCapture(Oid relid, const std::string &schema, const std::string &buffer_name,
                 bool source_exists) {
	// The tracking row goes first: the DROPs below fire the sql_drop event trigger, which must
	// not find this table again.
	SpiExec("DELETE FROM pgtrickle.pgt_change_tracking WHERE source_relid = $1::oid",
	        {std::to_string(relid)});
	std::string qschema = QuoteIdent(schema);
	if (source_exists) {
		std::string source =
		    SpiExec("SELECT $1::oid::regclass::text", {std::to_string(relid)}).Get(0, 0);
		auto triggers = SpiExec("SELECT tgname FROM pg_catalog.pg_trigger WHERE tgrelid = $1::oid "
		                        "AND tgparentid = 0 AND tgname LIKE '\\_\\_pgt\\_capture\\_%'",
		                        {std::to_string(relid)});
		for (const auto &row : triggers.rows) {
			SpiExec("DROP TRIGGER " + QuoteIdent(*row[0]) + " ON " + source);
		}
	}
	DropPartitionCaptures(relid, schema); // member triggers run the function dropped below
	std::string function = qschema + "." + QuoteIdent("capture_" + std::to_string(relid));
	auto has_function =
	    SpiExec("SELECT pg_catalog.to_regprocedure($1) IS NOT NULL", {function + "()"});
	if (has_function.Get(0, 0) == "t") {
		SpiExec("DROP FUNCTION " + function + "()");
	}
	auto has_buffer = SpiExec("SELECT pg_catalog.to_regclass($1) IS NOT NULL",
	                          {qschema + "." + QuoteIdent(buffer_name)});
	if (has_buffer.Get(0, 0) == "t") {
		SpiExec("DROP TABLE " + qschema + "." + QuoteIdent(buffer_name));
	}
}

} // namespace

std::vector<Oid> BaseTablesOf(const std::vector<catalog::Dependency> &deps,
                              std::vector<Oid> *uncapturable) {
	std::vector<Oid> tables;
	std::vector<Oid> views;
	for (const auto &dep : deps) {
		if (dep.type == "TABLE" || dep.type == "STREAM_TABLE") {
			tables.push_back(dep.relid);
		} else if (dep.type == "VIEW") {
			views.push_back(dep.relid);
		} else if (uncapturable) {
			uncapturable->push_back(dep.relid);
		}
	}
	if (!views.empty()) {
		// Relations under the views, through their rewrite rules' dependencies, recursively.
		auto r =
		    SpiExec(catalog::UnderViewsCte("SELECT 0::bigint, pg_catalog.unnest($1::oid[])") +
		                " SELECT DISTINCT u.relid, c.relkind, EXISTS (SELECT 1 FROM "
		                "pgtrickle.pgt_stream_tables s WHERE s.pgt_relid = u.relid) FROM under u "
		                "JOIN pg_catalog.pg_class c ON c.oid = u.relid ORDER BY 1",
		            {OidList(views)});
		for (const auto &row : r.rows) {
			Oid relid = static_cast<Oid>(std::stoul(*row[0]));
			const std::string &kind = *row[1];
			bool is_st = *row[2] == "t";
			if (kind == "v") {
				continue;
			}
			if (is_st || kind == "r" || kind == "p") {
				tables.push_back(relid);
			} else if (uncapturable) {
				uncapturable->push_back(relid);
			}
		}
	}
	std::sort(tables.begin(), tables.end());
	tables.erase(std::unique(tables.begin(), tables.end()), tables.end());
	return tables;
}

void AttachConsumer(std::int64_t pgt_id, const std::vector<Oid> &tables) {
	bridge::AsExtensionOwner as_owner;
	for (Oid relid : tables) {
		auto tracked = SpiExec("SELECT 1 FROM pgtrickle.pgt_change_tracking "
		                       "WHERE source_relid = $1::oid",
		                       {std::to_string(relid)});
		if (tracked.rows.empty()) {
			InstallCapture(relid);
		}
		// Registering updates (and so row-locks until commit) the tracking row: TrimBuffers relies
		// on it. Already registered (a rebuild re-attaching its sources): nothing to do, and no
		// wait for a trim of another transaction holding the row.
		SpiExec("UPDATE pgtrickle.pgt_change_tracking SET consumers = "
		        "(SELECT array_agg(DISTINCT c ORDER BY c) FROM "
		        "unnest(consumers || $2::bigint) c) WHERE source_relid = $1::oid "
		        "AND NOT ($2::bigint = ANY (consumers))",
		        {std::to_string(relid), std::to_string(pgt_id)});
	}
}

void DetachConsumer(std::int64_t pgt_id) {
	bridge::AsExtensionOwner as_owner;
	SpiExec("UPDATE pgtrickle.pgt_change_tracking SET consumers = "
	        "pg_catalog.array_remove(consumers, $1::bigint) WHERE $1::bigint = ANY (consumers)",
	        {std::to_string(pgt_id)});
}

InternalDdlScope::InternalDdlScope() {
	internal_ddl_depth++;
}

InternalDdlScope::~InternalDdlScope() {
	internal_ddl_depth--;
}

bool InInternalDdl() {
	return internal_ddl_depth > 0;
}

void EvolveCapture(Oid relid) {
	bridge::AsExtensionOwner as_owner;
	auto t = SpiExec("SELECT buffer_schema, buffer_name, "
	                 "pg_catalog.array_to_string(captured_attnums, ',') "
	                 "FROM pgtrickle.pgt_change_tracking WHERE source_relid = $1::oid",
	                 {std::to_string(relid)});
	if (t.rows.empty()) {
		return;
	}
	std::string schema = *t.rows[0][0];
	std::string buffer = QuoteIdent(schema) + "." + QuoteIdent(*t.rows[0][1]);
	std::vector<int> captured;
	{
		std::string list = t.rows[0][2].value_or("");
		std::size_t pos = 0;
		while (pos < list.size()) {
			std::size_t comma = list.find(',', pos);
			captured.push_back(std::stoi(list.substr(pos, comma - pos)));
			pos = comma == std::string::npos ? list.size() : comma + 1;
		}
	}
	std::vector<Column> source = ColumnsOf(relid);
	RefuseMetaNames(relid, LiveColumns(source));
	std::vector<Column> buffer_columns;
	{
		auto b = SpiExec("SELECT $1::regclass::oid", {buffer});
		for (auto &c : LiveColumns(ColumnsOf(static_cast<Oid>(std::stoul(b.Get(0, 0)))))) {
			if (!IsMetaColumn(c.name)) {
				buffer_columns.push_back(std::move(c));
			}
		}
	}
	core::BufferEvolution plan = core::PlanBufferEvolution(captured, buffer_columns, source);

	InternalDdlScope internal;
	if (plan.needs_rebuild_marker) {
		// A column changed type: its buffered values cannot be carried over, so the buffer gets a
		// rebuild marker ('R'), which makes every consumer that has not consumed it refresh FULL,
		// and the column's old values become NULL. The marker covers every consumer that still
		// needs a row written before this ALTER TABLE: ALTER TABLE holds an AccessExclusiveLock on
		// the source, so every transaction that wrote such a row committed before this one (or is
		// this one, at an earlier command id). A frontier that does not see such a row therefore
		// cannot see this transaction's marker either (nor, within this transaction, its later
		// command id): that consumer rebuilds FULL. A frontier that sees the marker sees every
		// older row, which it no longer needs: nobody reads a NULLed value. The marker is written
		// even when the buffer looks empty: under REPEATABLE READ this transaction's snapshot may
		// not see rows that writers committed while it waited for the lock.
		WriteMarker(buffer, 'R');
	}
	std::vector<std::string> actions;
	for (const auto &name : plan.drops) {
		actions.push_back("DROP COLUMN " + QuoteIdent(name));
	}
	if (!actions.empty()) {
		SpiExec("ALTER TABLE " + buffer + " " + Join(actions));
	}
	if (!plan.renames.empty()) {
		// Through names no column has, so that renames that swap names cannot collide.
		std::vector<std::string> taken;
		for (const auto &c : buffer_columns) {
			taken.push_back(c.name);
		}
		for (const auto &c : source) {
			taken.push_back(c.name);
		}
		int counter = 0;
		std::vector<std::string> temporary;
		for (const auto &r : plan.renames) {
			temporary.push_back(core::UnusedColumnName(taken, &counter));
			SpiExec("ALTER TABLE " + buffer + " RENAME COLUMN " + QuoteIdent(r.first) + " TO " +
			        QuoteIdent(temporary.back()));
		}
		for (std::size_t i = 0; i < plan.renames.size(); i++) {
			SpiExec("ALTER TABLE " + buffer + " RENAME COLUMN " + QuoteIdent(temporary[i]) +
			        " TO " + QuoteIdent(plan.renames[i].second));
		}
	}
	actions.clear();
	for (const auto &r : plan.retypes) {
		actions.push_back("ALTER COLUMN " + QuoteIdent(r.first) + " TYPE " + r.second +
		                  " USING NULL");
	}
	for (const auto &a : plan.adds) {
		actions.push_back("ADD COLUMN " + QuoteIdent(a.first) + " " + a.second);
	}
	if (!actions.empty()) {
		SpiExec("ALTER TABLE " + buffer + " " + Join(actions));
	}
	SpiExec("UPDATE pgtrickle.pgt_change_tracking SET captured_attnums = $2::pg_catalog.int2[] "
	        "WHERE source_relid = $1::oid",
	        {std::to_string(relid), IntArray(plan.attnums)});
	RegenerateCapture(relid, schema, buffer);
}

void RefuseCaptureTriggerDrop() {
	if (InInternalDdl()) {
		return; // capture replacing its own triggers (EnsureCaptureTriggers)
	}
	bridge::AsExtensionOwner as_owner;
	std::string names = "{";
	for (const auto &t : kCaptureTriggers) {
		if (t.fires != 'R') {
			names += std::string(names.size() > 1 ? "," : "") + t.name;
		}
	}
	names += "}";
	std::string row_prefix;
	for (const auto &t : kCaptureTriggers) {
		if (t.fires == 'R') {
			row_prefix = std::string(t.name) + "_";
		}
	}
	// The table is looked up by name: the trigger itself is gone from the catalog already (and
	// when the table went too, nothing is left to protect).
	auto dropped = SpiExec(
	    "SELECT d.address_names[3], t.source_relid::pg_catalog.regclass::text "
	    "FROM pg_catalog.pg_event_trigger_dropped_objects() d "
	    "JOIN pgtrickle.pgt_change_tracking t ON t.source_relid = pg_catalog.to_regclass("
	    "pg_catalog.quote_ident(d.address_names[1]) || '.' || "
	    "pg_catalog.quote_ident(d.address_names[2])) "
	    "WHERE d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass "
	    "AND (d.address_names[3] = ANY ($1::text[]) OR d.address_names[3] = $2 || t.source_relid) "
	    "LIMIT 1",
	    {names, row_prefix});
	if (!dropped.rows.empty()) {
		throw core::Error("2BP01",
		                  "cannot drop trigger " + dropped.Get(0, 0) + " on table " +
		                      dropped.Get(0, 1) + " because pg_trickle captures its changes",
		                  "Stream tables read " + dropped.Get(0, 1) +
		                      "; without this trigger their changes would be lost.",
		                  "Drop the stream tables that read it first.");
	}
}

void RefuseCaptureTriggerAlter() {
	// Capture triggers are the ones calling pgtrickle._capture or a capture function of the
	// change buffer schema (routed, or of an earlier version), whatever their name now.
	auto altered = SpiExec(
	    "SELECT t.tgname, t.tgrelid::pg_catalog.regclass::text "
	    "FROM pg_catalog.pg_event_trigger_ddl_commands() cmd "
	    "JOIN pg_catalog.pg_trigger t ON t.oid = cmd.objid "
	    "JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
	    "WHERE cmd.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass "
	    "AND cmd.command_tag = 'ALTER TRIGGER' AND (p.oid = "
	    "pg_catalog.to_regprocedure('pgtrickle._capture()') OR (p.proname LIKE 'capture\\_%' "
	    "AND n.nspname IN (SELECT buffer_schema FROM pgtrickle.pgt_change_tracking))) LIMIT 1");
	if (!altered.rows.empty()) {
		throw core::Error("0A000",
		                  "cannot alter a change capture trigger of table " + altered.Get(0, 1),
		                  "Trigger " + altered.Get(0, 0) +
		                      " (as it would be named) captures the table's changes for stream "
		                      "tables; pg_trickle manages it.");
	}
}

void WriteRebuildMarker(Oid relid) {
	bridge::AsExtensionOwner as_owner;
	if (auto buffer = BufferOf(relid)) {
		WriteMarker(*buffer, 'R');
	}
}

std::vector<Oid> CapturedTablesOf(std::int64_t pgt_id) {
	auto r = SpiExec("SELECT source_relid FROM pgtrickle.pgt_change_tracking "
	                 "WHERE $1::bigint = ANY (consumers) ORDER BY 1",
	                 {std::to_string(pgt_id)}, bridge::CachedPlan());
	std::vector<Oid> out;
	for (const auto &row : r.rows) {
		out.push_back(static_cast<Oid>(std::stoul(*row[0])));
	}
	return out;
}

void CollectGarbage() {
	// Dropping capture objects fires the sql_drop event trigger, which calls this again.
	static bool running = false;
	if (running) {
		return;
	}
	struct Reset {
		~Reset() {
			running = false;
		}
	} reset;
	running = true;
	bridge::AsExtensionOwner as_owner;
	SpiExec("UPDATE pgtrickle.pgt_change_tracking t SET consumers = coalesce(("
	        "SELECT array_agg(c ORDER BY c) FROM unnest(t.consumers) c "
	        "WHERE EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = c)), '{}') "
	        "WHERE EXISTS (SELECT 1 FROM unnest(t.consumers) c WHERE NOT EXISTS "
	        "(SELECT 1 FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = c))");
	auto dead = SpiExec("SELECT t.source_relid, t.buffer_schema, t.buffer_name, "
	                    "EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.source_relid) "
	                    "FROM pgtrickle.pgt_change_tracking t WHERE t.consumers = '{}' "
	                    "OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
	                    "WHERE c.oid = t.source_relid) ORDER BY t.source_relid");
	// In source order, like the scheduler's reads of the buffers (docs/architecture.md).
	for (const auto &row : dead.rows) {
		DropCapture(static_cast<Oid>(std::stoul(*row[0])), *row[1], *row[2], *row[3] == "t");
	}
}

void DropOrphanCapture() {
	bridge::AsExtensionOwner as_owner;
	InternalDdlScope internal;
	std::string schema = BufferSchema();
	auto functions =
	    SpiExec("SELECT p.oid::pg_catalog.regprocedure::text FROM pg_catalog.pg_proc p "
	            "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 "
	            "AND p.proname ~ '^capture_[0-9]+(_routed)?$' AND NOT EXISTS (SELECT 1 FROM "
	            "pgtrickle.pgt_change_tracking t WHERE p.proname IN ('capture_' || t.source_relid, "
	            "'capture_' || t.source_relid || '_routed')) ORDER BY 1",
	            {schema});
	for (const auto &row : functions.rows) {
		SpiExec("DROP FUNCTION " + *row[0] + " CASCADE");
	}
	// Capture triggers naming a buffer that is no one's (a restored dump's, of a table's old
	// oid): every write to their table would fail on the missing buffer.
	auto triggers = SpiExec(
	    "SELECT g.tgname, g.tgrelid::pg_catalog.regclass::text FROM pg_catalog.pg_trigger g "
	    "WHERE g.tgfoid = pg_catalog.to_regprocedure('pgtrickle._capture()') AND g.tgparentid = 0 "
	    "AND NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_change_tracking t WHERE g.tgargs = " +
	    TriggerArgsOf("pg_catalog.quote_ident(t.buffer_schema) || '.' || "
	                  "pg_catalog.quote_ident(t.buffer_name)") +
	    ") ORDER BY 2, 1");
	for (const auto &row : triggers.rows) {
		SpiExec("DROP TRIGGER " + QuoteIdent(*row[0]) + " ON " + *row[1]);
	}
	auto buffers = SpiExec(
	    "SELECT c.oid::pg_catalog.regclass::text FROM pg_catalog.pg_class c "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
	    "AND c.relkind = 'r' AND c.relname ~ '^changes_[0-9]+$' AND NOT EXISTS (SELECT 1 FROM "
	    "pgtrickle.pgt_change_tracking t WHERE t.buffer_schema = n.nspname "
	    "AND t.buffer_name = c.relname) ORDER BY 1",
	    {schema});
	for (const auto &row : buffers.rows) {
		SpiExec("DROP TABLE " + *row[0]);
	}
}

namespace {

// The frontier of st as SPI parameters ($1 snapshot, $2 own xid, $3 own command id), or nullopt
// when st has never refreshed.
std::optional<std::vector<bridge::Value>> FrontierParams(std::int64_t pgt_id) {
	auto r = SpiExec("SELECT frontier->>'snapshot', frontier->>'own_xid', frontier->>'own_cid' "
	                 "FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint",
	                 {std::to_string(pgt_id)}, bridge::CachedPlan());
	if (r.rows.empty() || !r.rows[0][0]) {
		return std::nullopt;
	}
	return r.rows[0];
}

} // namespace

std::optional<Frontier> LoadFrontier(std::int64_t pgt_id) {
	auto params = FrontierParams(pgt_id);
	if (!params) {
		return std::nullopt;
	}
	return Frontier{*(*params)[0], (*params)[1], (*params)[2]};
}

namespace {} // namespace

bool HasPendingBaseChanges(const catalog::StreamTable &st) {
	return PendingForAll({st})[st.pgt_id];
}

bool HasPendingBaseChanges(const catalog::StreamTable &st, bool *buffered) {
	std::map<std::int64_t, bool> held;
	bool pending = PendingForAll({st}, false, &held)[st.pgt_id];
	*buffered = held[st.pgt_id];
	return pending;
}

namespace {

// AccessShareLock on a change buffer without waiting: false when another transaction holds a
// conflicting lock (drop_stream_table dropping it, ALTER TABLE of its source changing it) or the
// buffer is gone. Held until the end of the transaction, like the lock the read takes.
bool TryLockBuffer(const std::string &schema, const std::string &name) {
	return PgCall([&] {
		Oid nsp = get_namespace_oid(schema.c_str(), true);
		Oid relid = OidIsValid(nsp) ? get_relname_relid(name.c_str(), nsp) : InvalidOid;
		if (!OidIsValid(relid) || !ConditionalLockRelationOid(relid, AccessShareLock)) {
			return false;
		}
		// Dropped (and committed) between the look-up and the lock.
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid))) {
			UnlockRelationOid(relid, AccessShareLock);
			return false;
		}
		return true;
	});
}

// The per-writer groups of each change buffer the pending check (PendingForAll) read last, kept
// for this transaction at this command id (nothing was written since): the mode decision's count
// (CountPending) takes them instead of scanning the buffer again. The check runs after the
// refresh took its snapshot, so it sees every change the refresh consumes, like the count it
// replaces. Backend-local.
struct SeenBuffers {
	LocalTransactionId lxid = InvalidLocalTransactionId;
	CommandId cid = InvalidCommandId;
	std::unordered_map<std::string, std::vector<core::WriterRows>> writers;
};
SeenBuffers seen_buffers;

bool SeenBuffersCurrent() {
	return seen_buffers.lxid == MyProc->lxid && seen_buffers.cid == GetCurrentCommandId(false);
}

void NoteWriters(const std::string &buffer, std::vector<core::WriterRows> writers) {
	if (!SeenBuffersCurrent()) {
		seen_buffers.writers.clear();
		seen_buffers.lxid = MyProc->lxid;
		seen_buffers.cid = GetCurrentCommandId(false);
	}
	seen_buffers.writers[buffer] = std::move(writers);
}

} // namespace

void ForgetSeenBuffers() {
	seen_buffers.writers.clear();
	seen_buffers.lxid = InvalidLocalTransactionId;
}

namespace {

const std::vector<core::WriterRows> *SeenWriters(const std::string &buffer) {
	if (!SeenBuffersCurrent()) {
		return nullptr;
	}
	auto it = seen_buffers.writers.find(buffer);
	return it == seen_buffers.writers.end() ? nullptr : &it->second;
}

// st's frontier as FrontierParams returns it, parsed (nullopt: never refreshed).
std::optional<core::ConsumedFrontier> ParseFrontier(const bridge::Value &snapshot,
                                                    const bridge::Value &own_xid,
                                                    const bridge::Value &own_cid) {
	if (!snapshot) {
		return std::nullopt;
	}
	core::ConsumedFrontier f{core::XidSnapshot::Parse(*snapshot), std::nullopt, std::nullopt};
	if (own_xid && own_cid) {
		f.own_xid = std::stoull(*own_xid);
		f.own_cid = std::stoull(*own_cid);
	}
	return f;
}

} // namespace

std::map<std::int64_t, bool> PendingForAll(const std::vector<catalog::StreamTable> &tables,
                                           bool skip_locked,
                                           std::map<std::int64_t, bool> *buffered) {
	bridge::AsExtensionOwner as_owner; // buffers are private; only booleans leave
	std::map<std::int64_t, bool> pending;
	std::map<std::int64_t, core::ConsumedFrontier> frontiers;
	for (const auto &st : tables) {
		pending[st.pgt_id] = false;
	}
	std::string ids = "{";
	for (const auto &st : tables) {
		ids += (ids.size() > 1 ? "," : "") + std::to_string(st.pgt_id);
	}
	ids += "}";
	auto rows = SpiExec("SELECT pgt_id, frontier->>'snapshot', frontier->>'own_xid', "
	                    "frontier->>'own_cid' FROM pgtrickle.pgt_stream_tables "
	                    "WHERE pgt_id = ANY ($1::bigint[])",
	                    {ids}, bridge::CachedPlan());
	for (const auto &r : rows.rows) {
		if (auto f = ParseFrontier(r[1], r[2], r[3])) {
			frontiers.emplace(std::stoll(*r[0]), std::move(*f));
		}
	}
	auto buffers = SpiExec("SELECT buffer_schema, buffer_name, "
	                       "pg_catalog.array_to_string(consumers, ',') "
	                       "FROM pgtrickle.pgt_change_tracking ORDER BY source_relid",
	                       {}, bridge::CachedPlan());
	for (const auto &b : buffers.rows) {
		std::vector<std::int64_t> consumers;
		std::string list = b[2].value_or("");
		std::size_t pos = 0;
		while (pos < list.size()) {
			std::size_t comma = list.find(',', pos);
			std::int64_t id = std::stoll(list.substr(pos, comma - pos));
			if (pending.count(id) > 0 && !pending[id]) {
				consumers.push_back(id);
			}
			pos = comma == std::string::npos ? list.size() : comma + 1;
		}
		if (consumers.empty()) {
			continue;
		}
		if (skip_locked && !TryLockBuffer(*b[0], *b[1])) {
			continue; // its consumers count as not pending in this tick; the next one looks again
		}
		// One row per writer transaction still in the buffer, with its highest command id (and
		// what CountPending needs: lowest command id, row changes, strongest marker).
		std::string buffer = QuoteIdent(*b[0]) + "." + QuoteIdent(*b[1]);
		auto xids =
		    SpiExec("SELECT __pgt_xid::text, max(cmin::text::bigint), min(cmin::text::bigint), "
		            "count(*) FILTER (WHERE __pgt_action IN ('I', 'D')), "
		            "max(__pgt_action::text) FILTER (WHERE __pgt_action IN ('T', 'R')) FROM " +
		                buffer + " GROUP BY 1",
		            {}, bridge::CachedPlan());
		if (!skip_locked) {
			// A refresh's own check (the scheduler's tick, which skips locked buffers, runs in a
			// transaction no refresh follows: nothing could use its notes).
			std::vector<core::WriterRows> writers;
			for (const auto &x : xids.rows) {
				writers.push_back(core::WriterRows{std::stoull(*x[0]), std::stoull(*x[2]),
				                                   std::stoull(*x[1]), std::stoll(*x[3]),
				                                   x[4] ? (*x[4])[0] : '\0'});
			}
			NoteWriters(buffer, std::move(writers));
		}
		for (auto id : consumers) {
			if (buffered != nullptr && !xids.rows.empty()) {
				(*buffered)[id] = true;
			}
			auto f = frontiers.find(id);
			for (const auto &x : xids.rows) {
				if (f == frontiers.end() ||
				    core::HasUnconsumed(f->second, std::stoull(*x[0]), std::stoull(*x[1]))) {
					pending[id] = true;
					break;
				}
			}
		}
	}
	for (const auto &st : tables) {
		if (pending[st.pgt_id]) {
			continue;
		}
		bool unusual =
		    std::any_of(st.deps.begin(), st.deps.end(), [](const catalog::Dependency &d) {
			    return d.type != "TABLE" && d.type != "STREAM_TABLE";
		    });
		if (unusual) {
			std::vector<Oid> uncapturable;
			BaseTablesOf(st.deps, &uncapturable);
			pending[st.pgt_id] = !uncapturable.empty();
		}
	}
	return pending;
}

std::optional<std::string> RebuildReason(char marker) {
	if (marker == 'T') {
		return std::string("a source was truncated or its partitions changed");
	}
	if (marker == 'R') {
		return std::string("a source changed shape (a column changed type, or an upstream stream "
		                   "table was rebuilt): its captured changes cannot be applied");
	}
	return std::nullopt;
}

namespace {

// The pending row changes CountPending last counted per source, in this transaction: the planner
// support of _pending_changes estimates a change set by them (the buffer's size also counts rows
// already consumed and trimmed but not vacuumed yet). Backend-local; entries of an earlier
// transaction are ignored.
struct KnownPending {
	LocalTransactionId lxid = InvalidLocalTransactionId;
	std::unordered_map<Oid, double> rows;
};
KnownPending known_pending;

void NotePending(Oid source, std::int64_t count) {
	if (known_pending.lxid != MyProc->lxid) {
		known_pending.rows.clear();
		known_pending.lxid = MyProc->lxid;
	}
	known_pending.rows[source] = static_cast<double>(count);
}

std::optional<double> KnownPendingRows(Oid source) {
	if (known_pending.lxid != MyProc->lxid) {
		return std::nullopt;
	}
	auto it = known_pending.rows.find(source);
	if (it == known_pending.rows.end()) {
		return std::nullopt;
	}
	return it->second;
}

} // namespace

std::int64_t CountPending(const catalog::StreamTable &st, std::int64_t *source_rows,
                          double max_ratio, std::vector<Oid> *quiet, char *marker) {
	bridge::AsExtensionOwner as_owner; // buffers are private; only counts leave
	auto buffers = SpiExec("SELECT t.buffer_schema, t.buffer_name, c.reltuples::bigint, "
	                       "t.source_relid::regclass::text, t.source_relid::oid "
	                       "FROM pgtrickle.pgt_change_tracking t "
	                       "JOIN pg_catalog.pg_class c ON c.oid = t.source_relid "
	                       "WHERE $1::bigint = ANY (t.consumers)",
	                       {std::to_string(st.pgt_id)});
	auto frontier = FrontierParams(st.pgt_id);
	std::optional<core::ConsumedFrontier> consumed;
	if (frontier) {
		consumed = ParseFrontier((*frontier)[0], (*frontier)[1], (*frontier)[2]);
	}
	std::int64_t pending = 0;
	*source_rows = 0;
	std::vector<std::string> unknown;
	if (marker != nullptr) {
		*marker = '\0';
	}
	// When every source's size is known, the count stops where the ratio is exceeded: beyond
	// that the refresh is FULL whatever the exact count or a marker further on.
	std::optional<std::int64_t> bound;
	{
		double known = 0;
		bool all_known = true;
		for (const auto &row : buffers.rows) {
			std::int64_t reltuples = std::stoll(*row[2]);
			all_known = all_known && reltuples >= 0;
			known += reltuples >= 0 ? static_cast<double>(reltuples) : 0.0;
		}
		// (Sources of no rows make no ratio: DecideMode compares only when they have rows.)
		double limit = max_ratio * known;
		if (all_known && known > 0 && limit < 1e15) {
			bound = static_cast<std::int64_t>(limit) + 1;
		}
	}
	for (const auto &row : buffers.rows) {
		std::string buffer = QuoteIdent(*row[0]) + "." + QuoteIdent(*row[1]);
		std::string where = frontier ? PendingPredicate("b") : std::string("true");
		std::int64_t reltuples = std::stoll(*row[2]);
		if (reltuples >= 0) {
			*source_rows += reltuples;
		} else {
			unknown.push_back(*row[3]);
		}
		if (bound && pending >= *bound) {
			continue; // not counted (so neither quiet nor noted): the refresh is FULL
		}
		std::int64_t count = 0;
		std::string found;
		std::optional<core::Unconsumed> seen;
		if (consumed) {
			if (const auto *writers = SeenWriters(buffer)) {
				seen = core::CountUnconsumed(*consumed, *writers);
			}
		}
		if (seen) {
			// From the pending check's groups, taken in this transaction with nothing written
			// since (SeenWriters).
			count = seen->changes;
			found = seen->marker == '\0' ? "" : std::string(1, seen->marker);
		} else {
			// One scan: the row changes and the strongest rebuild marker, 'T' (a truncate or a
			// partition change) before 'R' (a changed shape); at most the rows the bound needs.
			std::string from = buffer + " b WHERE " + where;
			if (bound) {
				from = "(SELECT b.__pgt_action FROM " + from + " LIMIT " +
				       std::to_string(*bound - pending) + ") b";
			}
			auto p = SpiExec(
			    "SELECT count(*) FILTER (WHERE b.__pgt_action IN ('I', 'D')), "
			    "max(b.__pgt_action::text) FILTER (WHERE b.__pgt_action IN ('T', 'R')) FROM " +
			        from,
			    frontier ? *frontier : std::vector<bridge::Value>{});
			count = std::stoll(p.Get(0, 0, "0"));
			found = p.Get(0, 1);
		}
		pending += count;
		NotePending(static_cast<Oid>(std::stoul(*row[4])), count);
		if (quiet != nullptr && count == 0 && found.empty()) {
			quiet->push_back(static_cast<Oid>(std::stoul(*row[4])));
		}
		if (marker != nullptr && (found == "T" || (found == "R" && *marker != 'T'))) {
			*marker = found[0];
		}
	}
	if (!unknown.empty() && pending > 0 && max_ratio > 0) {
		// Never analyzed: count, but no further than the ratio needs.
		std::int64_t enough = static_cast<std::int64_t>(pending / max_ratio) + 1;
		for (const auto &rel : unknown) {
			auto c = SpiExec("SELECT count(*) FROM (SELECT 1 FROM " + rel + " LIMIT " +
			                 std::to_string(enough) + ") x");
			*source_rows += std::stoll(c.Get(0, 0, "0"));
		}
	}
	return pending;
}

std::vector<SourceBacklog> PendingBySource(const catalog::StreamTable &st) {
	bridge::AsExtensionOwner as_owner; // buffers are private; only counts leave
	auto buffers = SpiExec("SELECT t.buffer_schema, t.buffer_name, t.source_relid::regclass::text "
	                       "AS source FROM pgtrickle.pgt_change_tracking t "
	                       "WHERE $1::bigint = ANY (t.consumers) ORDER BY source",
	                       {std::to_string(st.pgt_id)});
	auto frontier = FrontierParams(st.pgt_id);
	std::vector<SourceBacklog> out;
	for (const auto &row : buffers.rows) {
		std::string buffer = QuoteIdent(*row[0]) + "." + QuoteIdent(*row[1]);
		std::string where = frontier ? PendingPredicate("b") : std::string("true");
		auto c =
		    SpiExec("SELECT count(*) FILTER (WHERE " + where + "), count(*) FROM " + buffer + " b",
		            frontier ? *frontier : std::vector<bridge::Value>{});
		out.push_back(
		    SourceBacklog{*row[2], std::stoll(c.Get(0, 0, "0")), std::stoll(c.Get(0, 1, "0"))});
	}
	return out;
}

namespace {

// A consumer of a change buffer that still reads it, with its floor: the oldest writer xid its
// frontier may not have consumed (its snapshot's xmin, or its own xid when it refreshed inside a
// transaction that wrote); rows below the floor are visible to that frontier, hence consumed.
struct Holder {
	std::int64_t pgt_id;
	std::uint64_t floor;
};

// What PlanTrim allows to delete from one buffer: rows below the oldest holder's floor, and
// never at or above `cap` when set.
struct TrimPlan {
	std::vector<Holder> holders; // oldest floor first
	std::optional<std::uint64_t> cap;
};

// Whether a refresh of the stream table runs now (another session holds its single-flight lock,
// refresh/unit.hpp). A refresh that starts after this check takes its snapshot after it.
bool RefreshingNow(std::int64_t pgt_id) {
	if (!refresh::TryLockStreamTableForSession(pgt_id)) {
		return true;
	}
	refresh::UnlockStreamTableForSession(pgt_id);
	return false;
}

constexpr const char *kConsumerRows =
    "SELECT s.pgt_id, LEAST(pg_catalog.pg_snapshot_xmin(f.snap), "
    "coalesce((s.frontier->>'own_xid')::pg_catalog.xid8, "
    "pg_catalog.pg_snapshot_xmin(f.snap)))::text, "
    "s.needs_reinit OR NOT s.is_populated OR f.snap IS NULL "
    "FROM pgtrickle.pgt_stream_tables s, "
    "LATERAL (SELECT (s.frontier->>'snapshot')::pg_catalog.pg_snapshot AS snap) f "
    "WHERE s.pgt_id = ANY ($1::bigint[])";

// The consumers among `ids` (a bigint[] literal) that hold their buffer, or nullopt when the
// buffer must not be trimmed now. Needs the tracking row locked (see TrimBuffers).
//
// A consumer whose next refresh is a full rebuild (needs_reinit, never populated, or no frontier
// yet) reads none of the rows buffered so far, provided that refresh has not started: it will
// read a snapshot taken later. So such a consumer does not hold the buffer when no refresh of it
// runs at the check (RefreshingNow), and every deletion is then capped at the xmin of a snapshot
// taken before the check: rows below it were written by transactions finished before any later
// refresh's snapshot. Frontiers are read again after the checks (READ COMMITTED: a newer
// snapshot), so a refresh of it that committed before the check is seen as a frontier. Under
// REPEATABLE READ the catalog cannot be read after the check: no consumer is left out. A
// consumer that must hold the buffer but has no frontier (its first refresh is running) leaves
// the buffer alone.
std::optional<TrimPlan> PlanTrim(const std::string &ids) {
	bool per_transaction = PgCall([] { return IsolationUsesXactSnapshot(); });
	std::vector<std::int64_t> idle; // rebuilding consumers no refresh of which runs
	TrimPlan plan;
	auto now = SpiExec(kConsumerRows, {ids}, bridge::CachedPlan());
	bool rebuilding = std::any_of(now.rows.begin(), now.rows.end(),
	                              [](const bridge::Row &row) { return *row[2] == "t"; });
	if (!per_transaction && rebuilding) {
		plan.cap = std::stoull(
		    SpiExec("SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text")
		        .Get(0, 0));
		for (const auto &row : now.rows) {
			std::int64_t id = std::stoll(*row[0]);
			if (*row[2] == "t" && !RefreshingNow(id)) {
				idle.push_back(id);
			}
		}
		if (!idle.empty()) {
			now = SpiExec(kConsumerRows, {ids}, bridge::CachedPlan()); // after the checks
		}
	}
	bool left_out = false;
	for (const auto &row : now.rows) {
		std::int64_t id = std::stoll(*row[0]);
		if (*row[2] == "t" && std::find(idle.begin(), idle.end(), id) != idle.end()) {
			left_out = true;
			continue;
		}
		if (!row[1]) {
			return std::nullopt;
		}
		plan.holders.push_back(Holder{id, std::stoull(*row[1])});
	}
	if (!left_out && !plan.holders.empty()) {
		plan.cap.reset();
	}
	std::sort(plan.holders.begin(), plan.holders.end(), [](const Holder &a, const Holder &b) {
		return a.floor != b.floor ? a.floor < b.floor : a.pgt_id < b.pgt_id;
	});
	return plan;
}

void DeleteBelow(const std::string &buffer, std::uint64_t floor,
                 const std::optional<std::uint64_t> &cap) {
	SpiExec("DELETE FROM " + buffer + " WHERE __pgt_xid < $1::pg_catalog.xid8",
	        {std::to_string(cap ? std::min(floor, *cap) : floor)}, bridge::CachedPlan());
}

// Rows below `floor`, counted no further than `limit` + 1.
std::int64_t CountBelow(const std::string &buffer, std::uint64_t floor, std::int64_t limit) {
	auto r = SpiExec("SELECT count(*) FROM (SELECT 1 FROM " + buffer +
	                     " WHERE __pgt_xid < $1::pg_catalog.xid8 LIMIT $2::bigint) x",
	                 {std::to_string(floor), std::to_string(limit + 1)});
	return std::stoll(r.Get(0, 0, "0"));
}

// pg_trickle.max_buffer_rows: while more than the limit rows below `mine` (the oldest frontier of
// the consumers that just refreshed) are kept only for older consumers, the oldest of those
// laggards is marked for a full rebuild (needs_reinit, with the reason) and stops holding the
// buffer. A laggard is marked only when its single-flight lock (refresh/unit.hpp) can be
// taken: no refresh of it is running, so none can read the buffer on an older snapshot and then
// record success as if nothing had been deleted; the lock is held until this transaction commits,
// so its next refresh starts after the mark and the deletions are committed and rebuilds
// (RefreshUnit reads the mark after taking its snapshot; RecordSuccess never clears a request made
// after that read).
void BoundBuffer(const std::string &buffer, const std::string &source, const TrimPlan &plan,
                 const std::vector<std::int64_t> &refreshed) {
	std::int64_t limit = config::max_buffer_rows;
	const std::vector<Holder> &holders = plan.holders;
	if (limit <= 0 || holders.empty()) {
		return;
	}
	std::optional<std::uint64_t> mine;
	for (const auto &h : holders) {
		if (std::find(refreshed.begin(), refreshed.end(), h.pgt_id) != refreshed.end()) {
			mine = mine ? std::min(*mine, h.floor) : h.floor;
		}
	}
	if (!mine) {
		mine = holders.back().floor;
	}
	std::vector<Holder> laggards;
	for (const auto &h : holders) {
		if (h.floor < *mine &&
		    std::find(refreshed.begin(), refreshed.end(), h.pgt_id) == refreshed.end()) {
			laggards.push_back(h);
		}
	}
	if (laggards.empty() || CountBelow(buffer, *mine, limit) <= limit) {
		return;
	}
	std::string reason = "it fell behind by more than pg_trickle.max_buffer_rows (" +
	                     std::to_string(limit) + ") captured changes of " + source +
	                     ", which were discarded";
	for (std::size_t i = 0; i < laggards.size(); i++) {
		std::int64_t id = laggards[i].pgt_id;
		if (!refresh::TryLockStreamTable(id)) {
			return; // refreshing now: rows it holds stay until a later trim
		}
		// Read again under the lock, and lock its catalog row without waiting (55P03 when another
		// transaction is changing it; this one holds tracking-row locks others may wait for): it
		// may have refreshed, or been marked, since the plan was made.
		auto again = SpiExec(std::string(kConsumerRows) + " FOR NO KEY UPDATE OF s NOWAIT",
		                     {"{" + std::to_string(id) + "}"});
		if (again.rows.empty() || again.Get(0, 2) == "t" || !again.rows[0][1] ||
		    std::stoull(again.Get(0, 1)) >= *mine) {
			return;
		}
		catalog::RequestReinit(id, reason);
		std::string name =
		    SpiExec("SELECT pg_catalog.quote_ident(pgt_schema) || '.' || "
		            "pg_catalog.quote_ident(pgt_name) FROM pgtrickle.pgt_stream_tables "
		            "WHERE pgt_id = $1::bigint",
		            {std::to_string(id)})
		        .Get(0, 0, std::to_string(id));
		const char *who = name.c_str();
		const char *why = reason.c_str();
		PgCall([&] {
			ereport(LOG,
			        (errmsg("pg_trickle: stream table %s will be rebuilt in full: %s", who, why)));
		});
		std::uint64_t next = i + 1 < laggards.size() ? laggards[i + 1].floor : *mine;
		DeleteBelow(buffer, next, plan.cap);
		if (CountBelow(buffer, *mine, limit) <= limit) {
			return;
		}
	}
}

} // namespace

void TrimBuffers(const std::vector<Oid> &tables, const std::vector<std::int64_t> &refreshed) {
	if (tables.empty()) {
		return;
	}
	bridge::AsExtensionOwner as_owner;
	// Why no consumer is missed. A consumer is registered (AttachConsumer, also DetachConsumer
	// and CollectGarbage) by an UPDATE of the tracking row, which row-locks it until that
	// transaction ends, and a consumer's first frontier is a snapshot taken after that UPDATE.
	// The trim locks the tracking row first (FOR UPDATE SKIP LOCKED), then reads the consumers'
	// frontiers in later statements (PlanTrim):
	//  * a consumer whose transaction is still open holds the row lock: the row is skipped, this
	//    buffer is not trimmed this time (trimming is housekeeping; the next refresh trims);
	//  * one that committed before the lock: READ COMMITTED locks the newest row version (so the
	//    consumers list includes it) and the next statement's snapshot sees its catalog row and
	//    frontier; in REPEATABLE READ, if it committed after the transaction snapshot, locking
	//    the row fails with a serialization error, caught here: nothing is trimmed;
	//  * one that attaches after the lock waits for this transaction to end, then takes its
	//    first snapshot: every row deleted here (older than some committed frontier's xmin, or
	//    than the cap, so written by transactions finished before that) is visible to it.
	// Two trimmers never delete from the same buffer at once, and a trim waits for no one.
	std::vector<bridge::Row> locked;
	auto lock = [&] {
		locked = SpiExec("SELECT buffer_schema, buffer_name, consumers::text, "
		                 "source_relid::pg_catalog.regclass::text "
		                 "FROM pgtrickle.pgt_change_tracking WHERE source_relid = ANY ($1::oid[]) "
		                 "ORDER BY source_relid FOR UPDATE SKIP LOCKED",
		                 {OidList(tables)}, bridge::CachedPlan())
		             .rows;
	};
	// Only REPEATABLE READ can fail here; READ COMMITTED saves the subtransaction (and its xid).
	bool snapshot_per_transaction = PgCall([] { return IsolationUsesXactSnapshot(); });
	std::optional<core::Error> error;
	if (snapshot_per_transaction) {
		error = bridge::RunInSubtransaction(lock);
	} else {
		lock();
	}
	if (error) {
		const char *what = error->what();
		PgCall(
		    [&] { ereport(DEBUG1, (errmsg("pg_trickle: change buffers not trimmed: %s", what))); });
		return;
	}
	for (const auto &row : locked) {
		std::string buffer = QuoteIdent(*row[0]) + "." + QuoteIdent(*row[1]);
		auto plan = PlanTrim(*row[2]);
		if (!plan || (plan->holders.empty() && !plan->cap)) {
			continue;
		}
		// Rows older than every holder's floor are visible to all of them: consumed.
		DeleteBelow(buffer, plan->holders.empty() ? *plan->cap : plan->holders.front().floor,
		            plan->cap);
		// Marking laggards writes their catalog rows, which REPEATABLE READ may refuse
		// (serialization failure): then the buffer just stays over the limit until a later trim.
		auto bound_error =
		    bridge::RunInSubtransaction([&] { BoundBuffer(buffer, *row[3], *plan, refreshed); });
		if (bound_error) {
			const char *source = row[3]->c_str();
			const char *what = bound_error->what();
			PgCall([&] {
				ereport(DEBUG1,
				        (errmsg("pg_trickle: change buffer of %s not bounded: %s", source, what)));
			});
		}
	}
}

std::optional<std::string> BufferOf(Oid relid) {
	auto t = SpiExec("SELECT buffer_schema, buffer_name FROM pgtrickle.pgt_change_tracking "
	                 "WHERE source_relid = $1::oid",
	                 {std::to_string(relid)});
	if (t.rows.empty()) {
		return std::nullopt;
	}
	return QuoteIdent(*t.rows[0][0]) + "." + QuoteIdent(*t.rows[0][1]);
}

} // namespace pgtrickle::capture

// pgtrickle._pending_changes(source oid, snapshot text, own_xid text, own_cid text)
// RETURNS SETOF record: the row changes (actions 'I' and 'D') in the buffer of `source` not
// consumed by the given frontier, as
// (__pgt_xid, __pgt_action, source columns...). DIFFERENTIAL refreshes read buffers through this
// function as the stream table's owner: it requires SELECT on the whole source table and no row
// level security on it (the buffer would otherwise reveal columns or rows the caller cannot see),
// then reads the private buffer as the extension owner.
PGT_FUNCTION(pgtrickle_pending_changes) {
	using namespace pgtrickle;
	using bridge::PgCall;
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) {
		throw core::Error("22004", "source and snapshot must not be null");
	}
	Oid relid = PG_GETARG_OID(0);
	bool allowed = PgCall([&] {
		return pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
		       check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED;
	});
	if (!allowed) {
		throw core::Error(
		    "42501", "permission denied to read the changes of relation " + std::to_string(relid),
		    "Reading captured changes requires SELECT on the whole table and no row "
		    "level security on it.");
	}
	auto arg = [&](int i) -> bridge::Value {
		if (PG_ARGISNULL(i)) {
			return std::nullopt;
		}
		char *s = PgCall([&] { return text_to_cstring(PG_GETARG_TEXT_PP(i)); });
		return std::string(s);
	};
	std::vector<bridge::Value> params{arg(1), arg(2), arg(3)};
	std::optional<std::string> buffer;
	{
		bridge::SpiScope spi;
		// The change history is for the stream tables reading the source: their owners only.
		auto consumer = bridge::SpiExec(
		    "SELECT EXISTS (SELECT 1 FROM pgtrickle.pgt_change_tracking t "
		    "JOIN pgtrickle.pgt_stream_tables s ON s.pgt_id = ANY (t.consumers) "
		    "JOIN pg_catalog.pg_class c ON c.oid = s.pgt_relid WHERE t.source_relid = $1::oid "
		    "AND pg_catalog.pg_has_role(c.relowner, 'USAGE')), $1::oid::pg_catalog.regclass::text",
		    {std::to_string(relid)});
		if (consumer.Get(0, 0) != "t") {
			throw core::Error(
			    "42501", "permission denied to read the changes of relation " + consumer.Get(0, 1),
			    "Only the owners of stream tables reading it may.");
		}
		bridge::AsExtensionOwner as_owner;
		buffer = capture::BufferOf(relid);
	}
	if (!buffer) {
		throw core::Error("55000", "relation " + std::to_string(relid) + " has no change capture");
	}
	PgCall([&] { InitMaterializedSRF(fcinfo, 0); });
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	// Row changes only: the TRUNCATE and rebuild markers ('T', 'R') make the refresh FULL before
	// any delta reads this (capture::CountPending finds them). Filtered here rather than by the
	// caller, whose filter the planner would estimate at 1 % of the rows the support function
	// below announces.
	std::string sql = "SELECT * FROM " + *buffer + " b WHERE " + capture::PendingPredicate("b") +
	                  " AND b.__pgt_action IN ('I', 'D')";
	bridge::SpiScope spi;
	bridge::AsExtensionOwner as_owner;
	const char *query = sql.c_str();
	PgCall([&] {
		Oid types[3] = {TEXTOID, TEXTOID, TEXTOID};
		Datum values[3];
		char nulls[3];
		for (int i = 0; i < 3; i++) {
			nulls[i] = params[i] ? ' ' : 'n';
			values[i] = params[i] ? PointerGetDatum(cstring_to_text(params[i]->c_str())) : (Datum)0;
		}
		SPIPlanPtr plan = SPI_prepare(query, 3, types);
		if (plan == NULL) {
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		}
		Portal portal = SPI_cursor_open(NULL, plan, values, nulls, true);
		// The caller's column definition list must describe the buffer's tuples exactly (a domain
		// for its base type): they are returned as they are, and a wrong type would make the
		// server read memory as something else.
		TupleDesc have = portal->tupDesc;
		TupleDesc want = rsinfo->setDesc;
		bool same = have->natts == want->natts;
		for (int i = 0; same && i < have->natts; i++) {
			same = getBaseType(TupleDescAttr(have, i)->atttypid) ==
			       getBaseType(TupleDescAttr(want, i)->atttypid);
		}
		if (!same) {
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
			                errmsg("column definition list does not match the change buffer")));
		}
		for (;;) {
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0) {
				break;
			}
			for (uint64 i = 0; i < SPI_processed; i++) {
				tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
	});
	return (Datum)0;
}

// Planner support of pgtrickle._pending_changes (SupportRequestRows): the estimated number of rows
// is the count of pending changes that this transaction's mode decision took for the source
// (CountPending), or else the size of the source's change buffer (as the planner estimates a table:
// its pages times the tuple density of its statistics), not the default 1,000 of a set-returning
// function. The buffer is trimmed after every refresh, so its size is close to the pending changes;
// an estimate that was far too low put the change set on the inner side of nested loops, netted
// again for every outer row. Only the size is read (no rows), under AccessShareLock; when the
// buffer is not where the current pg_trickle.change_buffer_schema says, the default estimate stays.
PGT_FUNCTION(pgtrickle_pending_changes_support) {
	using namespace pgtrickle;
	using bridge::PgCall;
	Node *raw = (Node *)PG_GETARG_POINTER(0);
	if (!IsA(raw, SupportRequestRows)) {
		PG_RETURN_POINTER(nullptr);
	}
	SupportRequestRows *req = (SupportRequestRows *)raw;
	if (req->node == nullptr || !IsA(req->node, FuncExpr)) {
		PG_RETURN_POINTER(nullptr);
	}
	FuncExpr *call = (FuncExpr *)req->node;
	if (list_length(call->args) < 1 || !IsA(linitial(call->args), Const) ||
	    ((Const *)linitial(call->args))->constisnull) {
		PG_RETURN_POINTER(nullptr);
	}
	Oid source = DatumGetObjectId(((Const *)linitial(call->args))->constvalue);
	// Counted by this transaction's mode decision (CountPending): exact for the refresh it plans.
	if (auto known = capture::KnownPendingRows(source)) {
		req->rows = *known < 1 ? 1 : *known;
		PG_RETURN_POINTER(req);
	}
	std::string schema =
	    config::change_buffer_schema ? config::change_buffer_schema : "pgtrickle_changes";
	std::string name = "changes_" + std::to_string(source);
	double rows = PgCall([&] {
		Oid nsp = get_namespace_oid(schema.c_str(), true);
		Oid buffer = OidIsValid(nsp) ? get_relname_relid(name.c_str(), nsp) : InvalidOid;
		if (!OidIsValid(buffer)) {
			return -1.0;
		}
		Relation rel = try_table_open(buffer, AccessShareLock);
		if (rel == NULL) {
			return -1.0;
		}
		BlockNumber pages = 0;
		double tuples = 0;
		double allvisfrac = 0;
		estimate_rel_size(rel, NULL, &pages, &tuples, &allvisfrac);
		table_close(rel, AccessShareLock);
		return tuples;
	});
	if (rows < 0) {
		PG_RETURN_POINTER(nullptr);
	}
	req->rows = rows < 1 ? 1 : rows;
	PG_RETURN_POINTER(req);
}
