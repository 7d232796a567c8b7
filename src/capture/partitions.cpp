// Capture of partitioned sources (see partitions.hpp).
#include "capture/partitions.hpp"

#include "bridge/guard.hpp"
#include "bridge/spi.hpp"
#include "core/error.hpp"

#include <optional>
#include <string>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::capture {

using bridge::QuoteIdent;
using bridge::SpiExec;

namespace {

// The same events and transition table names as the table's own capture triggers (capture.cpp).
struct MemberTrigger {
	const char *op;
	const char *event;
	const char *referencing;
};

constexpr MemberTrigger kMemberTriggers[] = {
    {"ins", "INSERT", " REFERENCING NEW TABLE AS __pgt_new"},
    {"upd", "UPDATE", " REFERENCING OLD TABLE AS __pgt_old NEW TABLE AS __pgt_new"},
    {"del", "DELETE", " REFERENCING OLD TABLE AS __pgt_old"},
    {"trunc", "TRUNCATE", ""},
};

std::string TriggerName(Oid root, const char *op) {
	return "__pgt_member_" + std::to_string(root) + "_" + op;
}

// The member trigger names of root as a name[] literal.
std::string TriggerNames(Oid root) {
	std::string out = "{";
	for (const auto &t : kMemberTriggers) {
		out += (out.size() > 1 ? "," : "") + TriggerName(root, t.op);
	}
	return out + "}";
}

// The capture function (qualified, quoted) and buffer of a tracked table, or nullopt.
struct Capture {
	std::string function;
	std::string buffer;
};
std::optional<Capture> CaptureOf(Oid root) {
	auto t = SpiExec("SELECT buffer_schema, buffer_name FROM pgtrickle.pgt_change_tracking "
	                 "WHERE source_relid = $1::oid",
	                 {std::to_string(root)});
	if (t.rows.empty()) {
		return std::nullopt;
	}
	std::string schema = QuoteIdent(t.Get(0, 0));
	return Capture{schema + "." + QuoteIdent("capture_" + std::to_string(root)),
	               schema + "." + QuoteIdent(t.Get(0, 1))};
}

void DropMemberTriggers(Oid root, const std::string &member) {
	for (const auto &t : kMemberTriggers) {
		SpiExec("DROP TRIGGER IF EXISTS " + QuoteIdent(TriggerName(root, t.op)) + " ON " + member);
	}
}

// Members (relid, qualified name) of root's tree that carry its member triggers.
std::vector<bridge::Row> InstalledMembers(Oid root) {
	return SpiExec("SELECT DISTINCT t.tgrelid, t.tgrelid::pg_catalog.regclass::text "
	               "FROM pg_catalog.pg_trigger t WHERE t.tgname = ANY ($1::name[]) ORDER BY 1",
	               {TriggerNames(root)})
	    .rows;
}

// Writes a TRUNCATE marker into root's buffer: its contents changed without DML, every consumer
// that has not consumed the marker rebuilds FULL.
void MarkRebuild(Oid root) {
	auto capture = CaptureOf(root);
	if (!capture) {
		return;
	}
	SpiExec("INSERT INTO " + capture->buffer +
	        " (__pgt_xid, __pgt_action) VALUES (pg_catalog.pg_current_xact_id(), 'T')");
}

} // namespace

void SyncMemberCaptures(Oid root) {
	auto capture = CaptureOf(root);
	if (!capture) {
		return;
	}
	std::string id = std::to_string(root);
	// Every member but root itself (a leaf's tree is itself; a plain table has no tree).
	auto members = SpiExec("SELECT p.relid, p.relid::pg_catalog.regclass::text, c.relkind, "
	                       "$1::oid::pg_catalog.regclass::text "
	                       "FROM pg_catalog.pg_partition_tree($1::oid::pg_catalog.regclass) p "
	                       "JOIN pg_catalog.pg_class c ON c.oid = p.relid "
	                       "WHERE p.relid <> $1::oid ORDER BY p.level, 1",
	                       {id});
	auto installed = InstalledMembers(root);
	for (const auto &row : installed) {
		bool still_member = false;
		for (const auto &m : members.rows) {
			still_member = still_member || m[0] == row[0];
		}
		if (!still_member) {
			DropMemberTriggers(root, *row[1]);
		}
	}
	for (const auto &m : members.rows) {
		bool has = false;
		for (const auto &row : installed) {
			has = has || row[0] == m[0];
		}
		if (has) {
			continue;
		}
		if (*m[2] == "f") {
			// Triggers on foreign tables cannot have transition tables; DML through the root
			// into a foreign partition is refused by PostgreSQL while the root is captured.
			std::string message = "changes made directly to foreign table " + *m[1] +
			                      ", a partition of " + *m[3] + ", are not captured";
			const char *text = message.c_str();
			bridge::PgCall([&] {
				ereport(WARNING,
				        (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("%s", text),
				         errhint("Stream tables reading it should use FULL refresh mode.")));
			});
			continue;
		}
		for (const auto &t : kMemberTriggers) {
			SpiExec("CREATE TRIGGER " + QuoteIdent(TriggerName(root, t.op)) + " AFTER " + t.event +
			        " ON " + *m[1] + t.referencing + " FOR EACH STATEMENT EXECUTE FUNCTION " +
			        capture->function + "()");
		}
	}
}

void DropMemberCaptures(Oid root) {
	for (const auto &row : InstalledMembers(root)) {
		DropMemberTriggers(root, *row[1]);
	}
}

void OnPartitionDdl(bool membership_changed) {
	// Tracked tables whose tree holds a created or altered relation: the relation itself or one
	// of its ancestors (pg_partition_ancestors is empty for a relation outside any tree).
	auto roots = SpiExec(
	    "SELECT DISTINCT t.source_relid FROM pg_catalog.pg_event_trigger_ddl_commands() cmd "
	    "JOIN pg_catalog.pg_class c ON c.oid = cmd.objid AND c.relkind IN ('r', 'p') "
	    "CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(cmd.objid::pg_catalog.regclass) a "
	    "JOIN pgtrickle.pgt_change_tracking t ON t.source_relid = a.relid "
	    "WHERE cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass ORDER BY 1");
	for (const auto &row : roots.rows) {
		Oid root = static_cast<Oid>(std::stoul(*row[0]));
		SyncMemberCaptures(root);
		if (membership_changed) {
			MarkRebuild(root);
		}
	}
}

void OnPartitionDrop() {
	// A dropped member trigger whose relation was dropped by the same command (not a DROP
	// TRIGGER of our own, as SyncMemberCaptures does after a DETACH).
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
