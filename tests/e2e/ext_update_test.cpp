// End-to-end tests of ALTER EXTENSION pg_trickle UPDATE (docs/operations.md, "Extension
// updates"): stream tables created under 0.1.0 (FULL, DIFFERENTIAL, an atomic diamond) keep
// refreshing and capturing after the update to 0.2.0 with the new library, and a fresh 0.2.0
// install and an upgraded 0.1.0 install have identical catalogs (every object the extension
// owns, compared through catalog queries; negative controls prove the comparison can fail).
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <string>
#include <vector>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

// One text line per property of every object pg_trickle owns in the current database: extension
// members, schemas, relations, columns (in order), defaults, constraints, indexes, view
// definitions, sequences, triggers, rules, policies, functions (full definition: signature,
// body, language, volatility, strictness, security, parallel, SET options), types, event
// triggers, privileges (ACLs and pg_init_privs), comments and the extension's config tables.
// Object identities are names, never OIDs, so two databases compare line by line.
const char *const kCatalogSnapshot = R"SQL(
WITH ext AS (
    SELECT e.oid, e.extnamespace FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_trickle'),
members AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
    WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid
      AND d.deptype = 'e'),
nsps AS (
    SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
    WHERE n.oid = (SELECT extnamespace FROM ext)
       OR n.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_namespace'::regclass)),
rels AS (
    SELECT c.* FROM pg_catalog.pg_class c WHERE c.relnamespace IN (SELECT oid FROM nsps)),
procs AS (
    SELECT p.* FROM pg_catalog.pg_proc p WHERE p.pronamespace IN (SELECT oid FROM nsps)),
lines(line) AS (
    SELECT 'extension ' || e.extname || ' version=' || e.extversion || ' relocatable='
           || e.extrelocatable || ' schema=' || e.extnamespace::regnamespace::text
           || ' config=' || coalesce((SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
                                      FROM unnest(e.extconfig) c), '')
           || ' conditions=' || coalesce(array_to_string(e.extcondition, ','), '')
    FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_trickle'
    UNION ALL
    SELECT 'member ' || pg_catalog.pg_describe_object(m.classid, m.objid, 0) FROM members m
    UNION ALL
    SELECT 'schema ' || n.nspname || ' owner=' || pg_catalog.pg_get_userbyid(n.nspowner)
           || ' acl=' || coalesce(n.nspacl::text, '-')
           || ' comment=' || coalesce(pg_catalog.obj_description(n.oid, 'pg_namespace'), '-')
    FROM pg_catalog.pg_namespace n WHERE n.oid IN (SELECT oid FROM nsps)
    UNION ALL
    SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text
           || ' persistence=' || c.relpersistence::text || ' owner=' || pg_catalog.pg_get_userbyid(c.relowner)
           || ' acl=' || coalesce(c.relacl::text, '-')
           || ' options=' || coalesce(c.reloptions::text, '-')
           || ' rls=' || c.relrowsecurity || ' replident=' || c.relreplident::text
           || ' comment=' || coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '-')
    FROM rels c
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass::text || ' #'
           || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) || ' ' || a.attname
           || ' type=' || pg_catalog.format_type(a.atttypid, a.atttypmod)
           || ' notnull=' || a.attnotnull
           || ' default=' || coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '-')
           || ' collation=' || coalesce(co.collname, '-')
           || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text
           || ' acl=' || coalesce(a.attacl::text, '-')
           || ' comment=' || coalesce(pg_catalog.col_description(a.attrelid, a.attnum), '-')
    FROM pg_catalog.pg_attribute a
    JOIN rels c ON c.oid = a.attrelid
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_catalog.pg_collation co
           ON co.oid = a.attcollation AND a.attcollation <> 'pg_catalog.default'::regcollation
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || con.conrelid::regclass::text || ' ' || con.conname || ' '
           || pg_catalog.pg_get_constraintdef(con.oid)
           || ' deferrable=' || con.condeferrable || ' validated=' || con.convalidated
    FROM pg_catalog.pg_constraint con WHERE con.conrelid IN (SELECT oid FROM rels)
    UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
           || ' primary=' || i.indisprimary || ' unique=' || i.indisunique
    FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT oid FROM rels)
    UNION ALL
    SELECT 'view ' || c.oid::regclass::text || ' ' || pg_catalog.pg_get_viewdef(c.oid)
    FROM rels c WHERE c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence ' || s.seqrelid::regclass::text || ' type=' || s.seqtypid::regtype::text
           || ' start=' || s.seqstart || ' increment=' || s.seqincrement || ' min=' || s.seqmin
           || ' max=' || s.seqmax || ' cache=' || s.seqcache || ' cycle=' || s.seqcycle
           || ' owned_by=' || coalesce((SELECT d.refobjid::regclass::text || '.' || a.attname
                                        FROM pg_catalog.pg_depend d
                                        JOIN pg_catalog.pg_attribute a
                                          ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                        WHERE d.classid = 'pg_catalog.pg_class'::regclass
                                          AND d.objid = s.seqrelid AND d.deptype IN ('a', 'i')
                                          AND d.refclassid = 'pg_catalog.pg_class'::regclass
                                          AND d.refobjsubid > 0), '-')
    FROM pg_catalog.pg_sequence s WHERE s.seqrelid IN (SELECT oid FROM rels)
    UNION ALL
    SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
    FROM pg_catalog.pg_trigger t WHERE t.tgrelid IN (SELECT oid FROM rels) AND NOT t.tgisinternal
    UNION ALL
    SELECT 'rule ' || pg_catalog.pg_get_ruledef(r.oid)
    FROM pg_catalog.pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM rels)
      AND r.rulename <> '_RETURN'
    UNION ALL
    SELECT 'policy ' || pol.polrelid::regclass::text || ' ' || pol.polname || ' cmd='
           || pol.polcmd::text || ' permissive=' || pol.polpermissive
           || ' using=' || coalesce(pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), '-')
           || ' check=' || coalesce(pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid), '-')
    FROM pg_catalog.pg_policy pol WHERE pol.polrelid IN (SELECT oid FROM rels)
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text || ' kind=' || p.prokind::text
           || ' owner=' || pg_catalog.pg_get_userbyid(p.proowner)
           || ' acl=' || coalesce(p.proacl::text, '-')
           || ' comment=' || coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '-')
           || ' leakproof=' || p.proleakproof || ' cost=' || p.procost || ' rows=' || p.prorows
           || ' definition=' || CASE WHEN p.prokind IN ('f', 'p', 'w')
                                     THEN pg_catalog.pg_get_functiondef(p.oid) ELSE '-' END
    FROM procs p
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text || ' type=' || t.typtype::text
           || ' relation=' || coalesce(NULLIF(t.typrelid, 0)::regclass::text, '-')
           || ' owner=' || pg_catalog.pg_get_userbyid(t.typowner)
           || ' acl=' || coalesce(t.typacl::text, '-')
           || ' comment=' || coalesce(pg_catalog.obj_description(t.oid, 'pg_type'), '-')
    FROM pg_catalog.pg_type t WHERE t.typnamespace IN (SELECT oid FROM nsps)
    UNION ALL
    SELECT 'event_trigger ' || et.evtname || ' on=' || et.evtevent
           || ' function=' || et.evtfoid::regprocedure::text || ' enabled=' || et.evtenabled::text
           || ' tags=' || coalesce(et.evttags::text, '-')
           || ' owner=' || pg_catalog.pg_get_userbyid(et.evtowner)
           || ' comment=' || coalesce(pg_catalog.obj_description(et.oid, 'pg_event_trigger'), '-')
    FROM pg_catalog.pg_event_trigger et
    WHERE et.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_event_trigger'::regclass)
    UNION ALL
    SELECT 'init_privs ' || pg_catalog.pg_describe_object(ip.classoid, ip.objoid, ip.objsubid)
           || ' type=' || ip.privtype::text || ' privs=' || ip.initprivs::text
    FROM pg_catalog.pg_init_privs ip
    WHERE (ip.classoid = 'pg_catalog.pg_class'::regclass AND ip.objoid IN (SELECT oid FROM rels))
       OR (ip.classoid = 'pg_catalog.pg_proc'::regclass AND ip.objoid IN (SELECT oid FROM procs))
       OR (ip.classoid = 'pg_catalog.pg_namespace'::regclass AND ip.objoid IN (SELECT oid FROM nsps))
)
SELECT line FROM lines ORDER BY line COLLATE "C"
)SQL";

std::vector<std::string> CatalogSnapshot(Conn &conn) {
	// Names print schema-qualified whatever the session's search_path was.
	conn.Exec("SET search_path = pg_catalog");
	std::vector<std::string> out;
	for (const auto &row : conn.Query(kCatalogSnapshot))
		out.push_back(row[0].value_or("<NULL>"));
	conn.Exec("RESET search_path");
	return out;
}

// Lines only in `a`, then lines only in `b` ("" when the snapshots are equal).
std::string SnapshotDiff(const std::vector<std::string> &a, const std::vector<std::string> &b,
                         const std::string &a_name, const std::string &b_name) {
	std::vector<std::string> only_a, only_b;
	std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
	std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_b));
	std::string out;
	for (const auto &line : only_a)
		out += "only in " + a_name + ": " + line + "\n";
	for (const auto &line : only_b)
		out += "only in " + b_name + ": " + line + "\n";
	return out;
}

// Rows of `table` not in `query` and the other way round (0 when equal as multisets).
long long Mismatches(Conn &conn, const std::string &table, const std::string &query) {
	return std::stoll(conn.Scalar("SELECT (SELECT count(*) FROM ((TABLE " + table + " EXCEPT ALL " +
	                              query + ") UNION ALL (" + query + " EXCEPT ALL TABLE " + table +
	                              ")) x)"));
}

class ExtensionUpdateTest : public ClusterTest {};

TEST_F(ExtensionUpdateTest, StreamTablesOf010KeepRefreshingAfterUpdate) {
	const std::string db = "e2e_ext_update_old";
	cluster().CreateDatabase(db);
	auto conn = cluster().Connect(db);
	conn->Exec("CREATE EXTENSION pg_trickle VERSION '0.1.0'");
	ASSERT_EQ(conn->Scalar("SELECT extversion FROM pg_extension WHERE extname = 'pg_trickle'"),
	          "0.1.0");

	conn->Exec("CREATE TABLE src (id int PRIMARY KEY, grp int NOT NULL, val int NOT NULL)");
	conn->Exec("INSERT INTO src SELECT g, g % 4, g * 10 FROM generate_series(1, 2000) g");
	conn->Exec("ANALYZE src");
	const std::string q_full = "SELECT grp, count(*) AS n, sum(val) AS total FROM src GROUP BY grp";
	const std::string q_diff = "SELECT id, val FROM src WHERE val % 20 = 0";
	const std::string q_b = "SELECT id, val FROM src";
	const std::string q_c = "SELECT id, grp FROM src";
	const std::string q_d = "SELECT b.id, b.val, c.grp FROM b JOIN c ON b.id = c.id";
	const std::string truth_d = "SELECT id, val, grp FROM src";
	// FULL refreshed by hand only; the others by the scheduler.
	conn->Exec("SELECT pgtrickle.create_stream_table('st_full', $$" + q_full +
	           "$$, schedule => '1h', refresh_mode => 'FULL')");
	conn->Exec("SELECT pgtrickle.create_stream_table('st_diff', $$" + q_diff +
	           "$$, schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
	conn->Exec("SELECT pgtrickle.create_stream_table('b', $$" + q_b +
	           "$$, schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
	conn->Exec("SELECT pgtrickle.create_stream_table('c', $$" + q_c +
	           "$$, schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
	conn->Exec("SELECT pgtrickle.create_stream_table('d', $$" + q_d +
	           "$$, refresh_mode => 'AUTO', diamond_consistency => 'atomic')");
	ASSERT_EQ(conn->Scalar("SELECT count(*) FROM pgtrickle.diamond_groups()"), "3");
	const long long epoch_before =
	    std::stoll(conn->Scalar("SELECT epoch FROM pgtrickle.diamond_groups() LIMIT 1"));

	// The readers of src equal their queries (the scheduler refreshes them), and st_diff was
	// refreshed DIFFERENTIAL after history row `since`.
	auto caught_up = [&] {
		return Mismatches(*conn, "st_diff", q_diff) == 0 && Mismatches(*conn, "d", truth_d) == 0;
	};
	auto differential_since = [&](long long since) {
		return conn->Scalar("SELECT count(*) > 0 FROM pgtrickle.pgt_refresh_history h "
		                    "JOIN pgtrickle.pgt_stream_tables st USING (pgt_id) "
		                    "WHERE st.pgt_name = 'st_diff' AND h.action = 'DIFFERENTIAL' "
		                    "AND h.status = 'COMPLETED' AND h.refresh_id > " +
		                    std::to_string(since));
	};
	auto history_since = [&](long long since) {
		return Format(conn->Query("SELECT pgt_id, action, status, error_message FROM "
		                          "pgtrickle.pgt_refresh_history WHERE refresh_id > " +
		                          std::to_string(since)));
	};
	auto last_refresh_id = [&] {
		return std::stoll(conn->Scalar("SELECT coalesce(max(refresh_id), 0) FROM "
		                               "pgtrickle.pgt_refresh_history"));
	};

	conn->Exec("ALTER EXTENSION pg_trickle UPDATE");
	ASSERT_EQ(conn->Scalar("SELECT extversion FROM pg_extension WHERE extname = 'pg_trickle'"),
	          "0.2.0");
	const long long mark = last_refresh_id();

	// Capture still runs: changes land in the buffers, pending for their readers.
	conn->Exec("BEGIN");
	// A small change (DIFFERENTIAL is chosen below pg_trickle.differential_max_change_ratio).
	conn->Exec("INSERT INTO src SELECT g, g % 4, g * 10 FROM generate_series(2001, 2004) g");
	conn->Exec("UPDATE src SET val = val + 20 WHERE id <= 3");
	conn->Exec("DELETE FROM src WHERE id BETWEEN 30 AND 32");
	EXPECT_GT(std::stoll(conn->Scalar("SELECT coalesce(sum(pending_rows), 0) FROM "
	                                  "pgtrickle.pending_changes() WHERE name = 'public.st_diff'")),
	          0);
	conn->Exec("COMMIT");

	// The scheduler refreshes DIFFERENTIAL tables and the diamond from the captured changes.
	ASSERT_TRUE(WaitFor(caught_up, 30s, 100ms))
	    << "stream tables created under 0.1.0 did not catch up after the update\n"
	    << Format(conn->Query("SELECT * FROM pgtrickle.stream_tables")) << history_since(mark);
	EXPECT_EQ(differential_since(mark), "t")
	    << Format(conn->Query("SELECT st.pgt_name, h.action, h.status, h.initiated_by, "
	                          "h.error_message FROM pgtrickle.pgt_refresh_history h JOIN "
	                          "pgtrickle.pgt_stream_tables st USING (pgt_id) ORDER BY refresh_id"));
	EXPECT_GT(std::stoll(conn->Scalar("SELECT epoch FROM pgtrickle.diamond_groups() LIMIT 1")),
	          epoch_before);

	// A manual refresh of the FULL table, and the 0.2.0 API on tables made by 0.1.0.
	EXPECT_NE(Mismatches(*conn, "st_full", q_full), 0);
	conn->Exec("SELECT pgtrickle.refresh_stream_tables(ARRAY['st_full'])");
	EXPECT_EQ(Mismatches(*conn, "st_full", q_full), 0);
	const std::string updated = conn->Scalar(
	    "SELECT updated_at::text FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'st_full'");
	conn->Exec("SELECT pgtrickle.create_or_replace_stream_table('st_full', $$" + q_full +
	           "$$, schedule => '1h', refresh_mode => 'FULL')");
	EXPECT_EQ(conn->Scalar("SELECT updated_at::text FROM pgtrickle.pgt_stream_tables "
	                       "WHERE pgt_name = 'st_full'"),
	          updated);
	// Fresh: the 1s tables are refreshed (NO_DATA passes) within twice their schedule.
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return conn->Scalar("SELECT count(*) FROM pgtrickle.stream_tables WHERE fresh") == "5";
	    },
	    20s, 100ms))
	    << Format(conn->Query("SELECT * FROM pgtrickle.stream_tables"));

	// Capture installed under 0.1.0 runs its PL/pgSQL function per table until the table's
	// capture is regenerated: any ALTER TABLE of it (here one that changes nothing) replaces the
	// function and its triggers by triggers running pgtrickle._capture, in the DDL's transaction.
	// Changes keep reaching every reader, before and after.
	auto capture_functions = [&](const std::string &table) {
		return conn->Scalar("SELECT string_agg(DISTINCT tgfoid::regproc::text, ',') "
		                    "FROM pg_trigger WHERE tgrelid = '" +
		                    table + "'::regclass AND tgname LIKE '\\_\\_pgt\\_capture%'");
	};
	const std::string legacy = capture_functions("src");
	EXPECT_NE(legacy, "pgtrickle._capture");
	EXPECT_EQ(legacy, "pgtrickle_changes.capture_" + conn->Scalar("SELECT 'src'::regclass::oid"));
	conn->Exec("ALTER TABLE src ENABLE TRIGGER __pgt_capture_ins");
	EXPECT_EQ(capture_functions("src"), "pgtrickle._capture");
	EXPECT_EQ(conn->Scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'src'::regclass "
	                       "AND tgname LIKE '\\_\\_pgt\\_capture%'"),
	          "5");
	EXPECT_EQ(conn->Scalar("SELECT to_regprocedure('pgtrickle_changes.capture_' || "
	                       "'src'::regclass::oid || '()') IS NULL"),
	          "t");
	// The stream tables b and c (read by d) keep their 0.1.0 capture meanwhile.
	EXPECT_NE(capture_functions("b"), "pgtrickle._capture");
	const long long switched = last_refresh_id();
	conn->Exec("BEGIN");
	conn->Exec("INSERT INTO src VALUES (5000, 1, 100)");
	conn->Exec("UPDATE src SET val = val + 20 WHERE id BETWEEN 10 AND 12");
	conn->Exec("DELETE FROM src WHERE id = 40");
	conn->Exec("COMMIT");
	ASSERT_TRUE(WaitFor(caught_up, 30s, 100ms)) << history_since(switched);
	EXPECT_EQ(differential_since(switched), "t");

	conn.reset();
	cluster().DropDatabase(db);
}

TEST_F(ExtensionUpdateTest, UpgradedCatalogEqualsFreshInstall) {
	cluster().CreateDatabase("e2e_ext_fresh");
	cluster().CreateDatabase("e2e_ext_upgraded");
	auto fresh = cluster().Connect("e2e_ext_fresh");
	auto upgraded = cluster().Connect("e2e_ext_upgraded");
	fresh->Exec("CREATE EXTENSION pg_trickle");
	upgraded->Exec("CREATE EXTENSION pg_trickle VERSION '0.1.0'");
	upgraded->Exec("ALTER EXTENSION pg_trickle UPDATE");

	const auto fresh_lines = CatalogSnapshot(*fresh);
	const auto upgraded_lines = CatalogSnapshot(*upgraded);
	// Sanity: the snapshot sees every kind of object.
	for (const char *kind : {"extension ", "member ", "schema ", "relation ", "column ",
	                         "constraint ", "index ", "view ", "sequence ", "trigger ", "function ",
	                         "type ", "event_trigger ", "init_privs "}) {
		SCOPED_TRACE(kind);
		if (std::string(kind) == "trigger ")
			continue; // the extension's own tables carry no triggers (yet)
		EXPECT_TRUE(std::any_of(fresh_lines.begin(), fresh_lines.end(),
		                        [&](const std::string &l) { return l.rfind(kind, 0) == 0; }));
	}
	const std::string diff =
	    SnapshotDiff(fresh_lines, upgraded_lines, "fresh 0.2.0", "0.1.0 updated to 0.2.0");
	EXPECT_TRUE(diff.empty())
	    << "the upgrade script pg_trickle--0.1.0--0.2.0.sql does not produce the catalog of "
	       "pg_trickle--0.2.0.sql:\n"
	    << diff;

	// Negative controls: each change an upgrade script could miss shows up in the comparison.
	std::vector<std::string> misses = {
	    "ALTER FUNCTION pgtrickle.pgt_status() VOLATILE",
	    "ALTER FUNCTION pgtrickle.refresh_stream_tables(text[]) SET work_mem = '1MB'",
	    "ALTER FUNCTION pgtrickle.pause_stream_tables(text[]) SECURITY DEFINER",
	    "CREATE OR REPLACE FUNCTION pgtrickle._sees_details(relid oid) RETURNS boolean "
	    "LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$ SELECT true $$",
	    "REVOKE EXECUTE ON FUNCTION pgtrickle.pending_changes() FROM PUBLIC",
	    "COMMENT ON VIEW pgtrickle.stream_tables IS 'other'",
	    "ALTER VIEW pgtrickle.refresh_history SET (security_barrier = true)",
	    "REVOKE SELECT ON pgtrickle.stream_tables FROM PUBLIC",
	    "ALTER TABLE pgtrickle.pgt_stream_tables ALTER COLUMN schedule SET DEFAULT 'calculated'",
	    "ALTER TABLE pgtrickle.pgt_change_tracking ADD COLUMN extra int",
	    "ALTER TABLE pgtrickle.pgt_refresh_history DROP CONSTRAINT "
	    "pgt_refresh_history_action_check",
	    "DROP INDEX pgtrickle.pgt_refresh_history_running_idx",
	    "ALTER EVENT TRIGGER pgtrickle_ddl_end ENABLE",
	    "ALTER EXTENSION pg_trickle DROP FUNCTION pgtrickle.create_stream_table_if_not_exists("
	    "text, text, text, text, boolean, text, text); DROP FUNCTION "
	    "pgtrickle.create_stream_table_if_not_exists(text, text, text, text, boolean, text, text)",
	    "ALTER EXTENSION pg_trickle DROP VIEW pgtrickle.stream_tables",
	};
	// A view whose definition differs (same columns).
	{
		upgraded->Exec("SET search_path = pg_catalog");
		std::string def = upgraded->Scalar("SELECT pg_get_viewdef('pgtrickle.stream_tables')");
		upgraded->Exec("RESET search_path");
		while (!def.empty() && (def.back() == ';' || def.back() == ' ' || def.back() == '\n'))
			def.pop_back();
		misses.push_back("CREATE OR REPLACE VIEW pgtrickle.stream_tables AS SELECT * FROM (" + def +
		                 ") v WHERE v.name IS NOT NULL");
	}
	for (const auto &miss : misses) {
		SCOPED_TRACE(miss);
		upgraded->Exec("BEGIN");
		upgraded->Exec(miss);
		EXPECT_NE(SnapshotDiff(fresh_lines, CatalogSnapshot(*upgraded), "fresh", "changed"), "");
		upgraded->Exec("ROLLBACK");
	}
	EXPECT_EQ(SnapshotDiff(fresh_lines, CatalogSnapshot(*upgraded), "fresh", "upgraded"), "");

	fresh.reset();
	upgraded.reset();
	cluster().DropDatabase("e2e_ext_fresh");
	cluster().DropDatabase("e2e_ext_upgraded");
}

} // namespace
} // namespace pgt::e2e
