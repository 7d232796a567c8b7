// Capture of partitioned sources (see partitions.hpp).
#include "capture/partitions.hpp"

#include "bridge/guard.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"
#include "core/error.hpp"

#include <optional>
#include <string>

extern "C" {
#include "postgres.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
}

namespace pgtrickle::capture {

using bridge::QuoteIdent;
using bridge::QuoteLiteral;
using bridge::SpiExec;

namespace {

struct CaptureTrigger {
	const char *op;
	const char *event;
	const char *referencing;
};

// The same events and transition table names as a table's own capture triggers (capture.cpp).
constexpr CaptureTrigger kTriggers[] = {
    {"ins", "INSERT", " REFERENCING NEW TABLE AS __pgt_new"},
    {"upd", "UPDATE", " REFERENCING OLD TABLE AS __pgt_old NEW TABLE AS __pgt_new"},
    {"del", "DELETE", " REFERENCING OLD TABLE AS __pgt_old"},
    {"trunc", "TRUNCATE", ""},
};

// Member triggers (on the partitions of a tracked table) and routed triggers (on the ancestors
// of a tracked partition). A TRUNCATE of an ancestor fires the TRUNCATE triggers of every
// partition, so routed triggers need none.
enum class Kind { kMember, kRouted };

std::string TriggerName(Kind kind, Oid table, const char *op) {
	return std::string(kind == Kind::kMember ? "__pgt_member_" : "__pgt_routed_") +
	       std::to_string(table) + "_" + op;
}

// The trigger names of one kind for table as a name[] literal.
std::string TriggerNames(Kind kind, Oid table) {
	std::string out = "{";
	for (const auto &t : kTriggers) {
		out += (out.size() > 1 ? "," : "") + TriggerName(kind, table, t.op);
	}
	return out + "}";
}

// The capture function (qualified, quoted) and buffer of a tracked table, or nullopt.
struct Capture {
	std::string schema; // quoted
	std::string call;   // the member triggers' pgtrickle._capture(buffer)
	std::string buffer;
};
std::optional<Capture> CaptureOf(Oid table) {
	auto t = SpiExec("SELECT buffer_schema, buffer_name FROM pgtrickle.pgt_change_tracking "
	                 "WHERE source_relid = $1::oid",
	                 {std::to_string(table)});
	if (t.rows.empty()) {
		return std::nullopt;
	}
	std::string schema = QuoteIdent(t.Get(0, 0));
	std::string buffer = schema + "." + QuoteIdent(t.Get(0, 1));
	return Capture{schema, CaptureTargetOf(table, t.Get(0, 0), buffer).Call(), buffer};
}

// The function the routed triggers of a tracked partition run.
std::string RoutedFunction(const std::string &schema, Oid table) {
	return schema + "." + QuoteIdent("capture_" + std::to_string(table) + "_routed");
}

// Whether a trigger of this kind exists for this operation.
bool Placed(Kind kind, const CaptureTrigger &t) {
	return kind == Kind::kMember || std::string(t.op) != "trunc";
}

void DropTriggers(Kind kind, Oid table, const std::string &on) {
	InternalDdlScope internal; // our own drops pass RefusePartitionTriggerDrop
	for (const auto &t : kTriggers) {
		if (!Placed(kind, t)) {
			continue;
		}
		SpiExec("DROP TRIGGER IF EXISTS " + QuoteIdent(TriggerName(kind, table, t.op)) + " ON " +
		        on);
	}
}

// Relations (relid, qualified name) that carry table's triggers of one kind.
std::vector<bridge::Row> Installed(Kind kind, Oid table) {
	return SpiExec("SELECT DISTINCT t.tgrelid, t.tgrelid::pg_catalog.regclass::text "
	               "FROM pg_catalog.pg_trigger t WHERE t.tgname = ANY ($1::name[]) ORDER BY 1",
	               {TriggerNames(kind, table)})
	    .rows;
}

// Makes exactly `wanted` (relid, qualified name) carry table's triggers of one kind, running
// `call` (a function call: name and arguments).
void PlaceTriggers(Kind kind, Oid table, const std::vector<bridge::Row> &wanted,
                   const std::string &call) {
	auto installed = Installed(kind, table);
	auto contains = [](const std::vector<bridge::Row> &rows, const bridge::Value &relid) {
		for (const auto &row : rows) {
			if (row[0] == relid) {
				return true;
			}
		}
		return false;
	};
	for (const auto &row : installed) {
		if (!contains(wanted, row[0])) {
			DropTriggers(kind, table, *row[1]);
		}
	}
	for (const auto &row : wanted) {
		if (contains(installed, row[0])) {
			continue;
		}
		for (const auto &t : kTriggers) {
			if (!Placed(kind, t)) {
				continue;
			}
			SpiExec("CREATE TRIGGER " + QuoteIdent(TriggerName(kind, table, t.op)) + " AFTER " +
			        t.event + " ON " + *row[1] + t.referencing +
			        " FOR EACH STATEMENT EXECUTE FUNCTION " + call);
			if (std::string(t.op) == "trunc") {
				// Also under session_replication_role = replica (logical replication applies
				// TRUNCATE to the partition it names), like the table's own TRUNCATE trigger.
				InternalDdlScope internal;
				SpiExec("ALTER TABLE " + *row[1] + " ENABLE ALWAYS TRIGGER " +
				        QuoteIdent(TriggerName(kind, table, t.op)));
			}
		}
	}
}

// Writes a TRUNCATE marker into table's buffer: its contents changed without DML, every consumer
// that has not consumed the marker rebuilds FULL.
void MarkRebuild(Oid table) {
	auto capture = CaptureOf(table);
	if (!capture) {
		return;
	}
	SpiExec("INSERT INTO " + capture->buffer +
	        " (__pgt_xid, __pgt_action) VALUES (pg_catalog.pg_current_xact_id(), 'T')");
}

void DropRoutedFunction(const std::string &function) {
	if (SpiExec("SELECT pg_catalog.to_regprocedure($1) IS NOT NULL", {function + "()"}).Get(0, 0) ==
	    "t") {
		SpiExec("DROP FUNCTION " + function + "()");
	}
}

bool IsUserFunction(Oid func_id, void *) {
	return func_id >= FirstNormalObjectId;
}

// A type created after initdb, other than an enum (whose functions are built in): its domain
// constraints, I/O or comparison functions may be a user's code.
bool IsUserType(Oid type) {
	return type >= FirstNormalObjectId && get_typtype(type) != TYPTYPE_ENUM;
}

bool CallsUserFunctionWalker(Node *node, void *context) {
	if (node == nullptr) {
		return false;
	}
	if (check_functions_in_node(node, IsUserFunction, context) || IsA(node, CoerceToDomain) ||
	    (IsA(node, Var) && IsUserType(castNode(Var, node)->vartype)) ||
	    (IsA(node, Const) && IsUserType(castNode(Const, node)->consttype))) {
		return true;
	}
	return expression_tree_walker(node, reinterpret_cast<bool (*)()>(CallsUserFunctionWalker),
	                              context);
}

// Whether table's partition constraint may run a user's code: a function created after initdb
// (a partition key expression, an operator class) or a value of a user's type (a domain's
// CHECK). May raise: call through PgCall.
bool ConstraintCallsUserFunction(Oid table) {
	Expr *qual = get_partition_qual_relid(table);
	return qual != nullptr && CallsUserFunctionWalker(reinterpret_cast<Node *>(qual), nullptr);
}

// Members of table's partition tree (all but table itself): its member triggers copy the rows
// DML addressed to them changes into table's buffer. Foreign tables cannot have triggers with
// transition tables: they are skipped with a warning.
void SyncMembers(Oid table, const Capture &capture) {
	auto members = SpiExec("SELECT p.relid, p.relid::pg_catalog.regclass::text, c.relkind, "
	                       "$1::oid::pg_catalog.regclass::text "
	                       "FROM pg_catalog.pg_partition_tree($1::oid::pg_catalog.regclass) p "
	                       "JOIN pg_catalog.pg_class c ON c.oid = p.relid "
	                       "WHERE p.relid <> $1::oid ORDER BY p.level, 1",
	                       {std::to_string(table)});
	std::vector<bridge::Row> wanted;
	for (const auto &m : members.rows) {
		if (*m[2] != "f") {
			wanted.push_back(m);
			continue;
		}
		// DML through the root into a foreign partition is refused by PostgreSQL while the root
		// has triggers with transition tables.
		std::string message = "changes made directly to foreign table " + *m[1] +
		                      ", a partition of " + *m[3] + ", are not captured";
		const char *text = message.c_str();
		bridge::PgCall([&] {
			ereport(WARNING, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("%s", text),
			                  errhint("Stream tables reading it should use FULL refresh mode.")));
		});
	}
	PlaceTriggers(Kind::kMember, table, wanted, capture.call);
}

// Ancestors of table (when it is a partition): DML addressed to them fires only their triggers,
// so they carry routed triggers that copy the rows falling in table's partition constraint into
// table's buffer. The constraint is evaluated with CHECK semantics (NULL passes), as PostgreSQL
// does. When it may run a user's code (which would run as the extension owner), the routed
// function writes a TRUNCATE marker instead: sound, and FULL for table's readers.
void SyncRouted(Oid table, const Capture &capture) {
	std::string id = std::to_string(table);
	std::string function = RoutedFunction(capture.schema, table);
	auto ancestors =
	    SpiExec("SELECT a.relid, a.relid::pg_catalog.regclass::text "
	            "FROM pg_catalog.pg_partition_ancestors($1::oid::pg_catalog.regclass) a "
	            "WHERE a.relid <> $1::oid",
	            {id});
	if (ancestors.rows.empty()) {
		PlaceTriggers(Kind::kRouted, table, {}, function + "()");
		DropRoutedFunction(function);
		return;
	}
	bool user_code = bridge::PgCall([&] { return ConstraintCallsUserFunction(table); });
	std::string body;
	if (user_code) {
		body = "BEGIN\n  INSERT INTO " + capture.buffer +
		       " (__pgt_xid, __pgt_action) VALUES (pg_catalog.pg_current_xact_id(), 'T');\n"
		       "  RETURN NULL;\nEND\n";
	} else {
		std::string constraint =
		    SpiExec("SELECT coalesce(pg_catalog.pg_get_partition_constraintdef($1::oid), 'true')",
		            {id})
		        .Get(0, 0);
		auto cols =
		    SpiExec("SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1::oid "
		            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
		            {id});
		std::string target = "__pgt_xid, __pgt_action";
		std::string values;
		for (const auto &row : cols.rows) {
			target += ", " + QuoteIdent(*row[0]);
			values += ", " + QuoteIdent(*row[0]);
		}
		// The constraint names columns unqualified: each SELECT reads one transition table.
		std::string insert = "INSERT INTO " + capture.buffer + " (" + target + ") ";
		auto copy = [&](const char *action, const char *transition) {
			return "    " + insert + "SELECT pg_catalog.pg_current_xact_id(), '" + action + "'" +
			       values + " FROM " + transition + " WHERE (" + constraint + ") IS NOT FALSE;\n";
		};
		body = "#variable_conflict use_column\nBEGIN\n  IF TG_OP = 'INSERT' THEN\n" +
		       copy("I", "__pgt_new") + "  ELSIF TG_OP = 'UPDATE' THEN\n" + copy("D", "__pgt_old") +
		       copy("I", "__pgt_new") + "  ELSIF TG_OP = 'DELETE' THEN\n" + copy("D", "__pgt_old") +
		       "  END IF;\n  RETURN NULL;\nEND\n";
	}
	SpiExec("CREATE OR REPLACE FUNCTION " + function +
	        "() RETURNS trigger LANGUAGE plpgsql "
	        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS " +
	        QuoteLiteral(body));
	SpiExec("REVOKE ALL ON FUNCTION " + function + "() FROM PUBLIC");
	PlaceTriggers(Kind::kRouted, table, ancestors.rows, function + "()");
}

} // namespace

void SyncPartitionCaptures(Oid table) {
	auto capture = CaptureOf(table);
	if (!capture) {
		return;
	}
	SyncMembers(table, *capture);
	SyncRouted(table, *capture);
}

void DropPartitionCaptures(Oid table, const std::string &schema) {
	for (Kind kind : {Kind::kMember, Kind::kRouted}) {
		for (const auto &row : Installed(kind, table)) {
			DropTriggers(kind, table, *row[1]);
		}
	}
	DropRoutedFunction(RoutedFunction(QuoteIdent(schema), table));
}

void OnPartitionDdl(bool membership_changed) {
	// Tracked tables in the partition trees of the created or altered relations, and whether
	// each is one of them or their ancestor (its contents change when a partition is attached or
	// detached below it).
	auto tracked = SpiExec(
	    "WITH objs AS (SELECT DISTINCT cmd.objid FROM pg_catalog.pg_event_trigger_ddl_commands() "
	    "cmd JOIN pg_catalog.pg_class c ON c.oid = cmd.objid AND c.relkind IN ('r', 'p') "
	    "WHERE cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass), "
	    "tops AS (SELECT DISTINCT pg_catalog.pg_partition_root(objid) AS top FROM objs) "
	    "SELECT t.source_relid, EXISTS (SELECT 1 FROM objs, "
	    "pg_catalog.pg_partition_ancestors(objs.objid) a WHERE a.relid = t.source_relid) "
	    "FROM tops CROSS JOIN LATERAL pg_catalog.pg_partition_tree(tops.top) p "
	    "JOIN pgtrickle.pgt_change_tracking t ON t.source_relid = p.relid "
	    "WHERE tops.top IS NOT NULL "
	    // A detached tracked partition: its routed triggers sit on its former ancestors.
	    "UNION SELECT t.source_relid, false FROM pgtrickle.pgt_change_tracking t "
	    "WHERE $1::bool AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g "
	    "WHERE g.tgname = '__pgt_routed_' || t.source_relid::text || '_ins') ORDER BY 1, 2 DESC",
	    {membership_changed ? "t" : "f"});
	Oid last = InvalidOid;
	for (const auto &row : tracked.rows) {
		Oid table = static_cast<Oid>(std::stoul(*row[0]));
		if (table == last) {
			continue;
		}
		last = table;
		// An ALTER on an ancestor may have propagated column changes to it: evolve its buffer
		// in place (keeping pending changes), then bring the partition triggers up to date.
		EvolveCapture(table);
		SyncPartitionCaptures(table);
		if (membership_changed && *row[1] == "t") {
			MarkRebuild(table);
		}
	}
}

void OnPartitionDrop() {
	// A dropped member trigger whose relation was dropped by the same command (not a DROP
	// TRIGGER of our own, as SyncMembers does after a DETACH).
	auto roots = SpiExec(
	    "SELECT DISTINCT t.source_relid FROM pg_catalog.pg_event_trigger_dropped_objects() trg "
	    "JOIN pg_catalog.pg_event_trigger_dropped_objects() rel "
	    "ON rel.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND rel.objsubid = 0 "
	    "AND rel.address_names = trg.address_names[1:2] "
	    "JOIN pgtrickle.pgt_change_tracking t "
	    "ON trg.address_names[3] = '__pgt_member_' || t.source_relid::text || '_ins' "
	    "WHERE trg.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass "
	    "AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.source_relid) "
	    "ORDER BY 1");
	for (const auto &row : roots.rows) {
		MarkRebuild(static_cast<Oid>(std::stoul(*row[0])));
	}
}

void RefusePartitionTriggerDrop() {
	if (InInternalDdl()) {
		return;
	}
	// A member or routed trigger dropped on its own (its table still exists): DML addressed to
	// that table would no longer be captured.
	auto dropped = SpiExec(
	    "SELECT d.address_names[3], pg_catalog.quote_ident(d.address_names[1]) || '.' || "
	    "pg_catalog.quote_ident(d.address_names[2]), t.source_relid::pg_catalog.regclass::text "
	    "FROM pg_catalog.pg_event_trigger_dropped_objects() d "
	    "JOIN pgtrickle.pgt_change_tracking t ON d.address_names[3] LIKE ANY (ARRAY["
	    "'\\_\\_pgt\\_member\\_' || t.source_relid::text || '\\_%', "
	    "'\\_\\_pgt\\_routed\\_' || t.source_relid::text || '\\_%']) "
	    "WHERE d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass "
	    "AND pg_catalog.to_regclass(pg_catalog.quote_ident(d.address_names[1]) || '.' || "
	    "pg_catalog.quote_ident(d.address_names[2])) IS NOT NULL LIMIT 1");
	if (!dropped.rows.empty()) {
		throw core::Error("2BP01",
		                  "cannot drop trigger " + dropped.Get(0, 0) + " on table " +
		                      dropped.Get(0, 1) + " because pg_trickle captures its changes",
		                  "Stream tables read " + dropped.Get(0, 2) +
		                      "; without this trigger changes made through " + dropped.Get(0, 1) +
		                      " would be lost.",
		                  "Drop the stream tables that read it first.");
	}
}

void CheckConcurrentDetach(Oid parent) {
	auto tracked =
	    SpiExec("SELECT t.source_relid::pg_catalog.regclass::text "
	            "FROM pg_catalog.pg_partition_ancestors($1::oid::pg_catalog.regclass) a "
	            "JOIN pgtrickle.pgt_change_tracking t ON t.source_relid = a.relid ORDER BY a.relid "
	            "LIMIT 1",
	            {std::to_string(parent)});
	if (!tracked.rows.empty()) {
		throw core::Error(
		    "0A000",
		    "cannot detach a partition concurrently from a table whose changes are captured",
		    "Stream tables read " + tracked.Get(0, 0) +
		        "; a concurrent detach changes its contents in two transactions, between which "
		        "writers with older snapshots may still route rows into the partition.",
		    "Use DETACH PARTITION without CONCURRENTLY.");
	}
}

} // namespace pgtrickle::capture
