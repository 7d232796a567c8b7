// Randomized DIFFERENTIAL-vs-FULL oracles: for every supported query shape, cycles of random
// INSERT/UPDATE/DELETE on several sources at once, DIFFERENTIAL refreshes, then a comparison of
// each stream table with its defining query BY IDENTITY, as a multiset.
//
// Identity: every row is turned into its text form under extra_float_digits = 3 (numeric keeps
// its scale, float8 prints the shortest exact digits and -0, text is its bytes whatever the
// collation, jsonb keeps the scale of its numbers, NULL differs from ''), and the two sides are
// grouped by that text with counts. A type's `=` is never used (EXCEPT ALL would be: it calls
// 1.0 and 1.00, 'a' and 'A' under a case-insensitive collation, -0 and 0 the same).
// OracleComparator.* checks that the comparison sees each of these differences.
//
// Types: int, numeric of varying scale, float8 (17-digit values, -0, NaN, ±Infinity, subnormals),
// text under a nondeterministic ICU collation, citext, jsonb, and NULLs in every column (keys, join
// columns, group keys). A query whose result is not determined by identity (GROUP BY n over rows
// holding 1.0 and 1.00 returns either) cannot be checked, so the workload keeps, per column, one
// variant of each equality class at a time: an INSERT uses the current variant, and the
// identity-only changes switch every row of the class at once (UPDATE t SET n = 1.00 WHERE
// n = 1), which is exactly "UPDATE x = 1.00 where x was 1.0". The column t1.nx is free (any
// variant, identity-only updates row by row); it is read only where its variants cannot make
// the query ambiguous (projections, sums).
//
// Suites, one per class of bug:
//   OracleComparator      the identity comparison itself
//   OracleCollation       two bugs outside issue 8: storage columns whose type or collation is
//                         found through the search path; changed rows lose their collation
//   OracleIdentity        every supported shape over the new types, with identity-only changes
//                         (and, as a control, without)
//   OracleFloatKeys       float8 group keys refreshed under extra_float_digits = 0
//   OracleDiamondShapes   diamonds (two DIFFERENTIAL stream tables of one group over the same
//                         source) ending in every supported shape, refreshed as a group
//   OraclePartitions      a partitioned source, DML addressed to the root and to partitions,
//                         partitions created, detached and attached while stream tables read it
//   OracleAlterSource     ALTER TABLE on a source with pending changes
//   OracleConcurrentCreate  a consumer created/altered in a transaction that stays open while
//                         another consumer of the same source refreshes
//   OracleAlgebraic       aggregates maintained from partial state (numeric scales, extremes,
//                         FILTER, HAVING, no GROUP BY, over a join, under a stream table)
//   OracleOperators       every operator of the engine (outer joins, semi/anti joins, scalar
//                         subqueries, aggregates at any level and without GROUP BY, set
//                         operations, CTEs), alone and composed
//
// Seeded and reproducible: the seed is printed on failure. PGT_ORACLE_SEED picks the seed;
// PGT_ORACLE_CYCLES overrides the number of cycles of every randomized test; PGT_ORACLE_LONG=1
// runs ten times as many.
#include "cluster.hpp"
#include "identity.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace pgt::e2e {
namespace {

bool Long() {
	const char *l = std::getenv("PGT_ORACLE_LONG");
	return l != nullptr && std::string(l) == "1";
}

int Cycles(int short_run) {
	if (const char *c = std::getenv("PGT_ORACLE_CYCLES")) {
		return std::atoi(c);
	}
	return Long() ? short_run * 10 : short_run;
}

unsigned Seed() {
	if (const char *s = std::getenv("PGT_ORACLE_SEED")) {
		return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
	}
	return 20261126u;
}

std::string SeedTrace(unsigned seed) {
	return "oracle seed " + std::to_string(seed) +
	       " (rerun with PGT_ORACLE_SEED=" + std::to_string(seed) + ")";
}

// The collation lives in a schema outside the search path, so that the stream tables' column
// definitions name it qualified (see OracleComparator.CollationOnTheSearchPath for why).
const char *kCollation = "CREATE SCHEMA IF NOT EXISTS oc;"
                         "CREATE COLLATION IF NOT EXISTS oc.ci (provider = icu, "
                         "locale = 'und-u-ks-level2', deterministic = false);";

// Equality classes of one type; each class lists the literals of its identity variants.
struct Domain {
	std::string type;
	std::vector<std::vector<std::string>> classes;
	std::string eq = "="; // the type's equality operator
};

const Domain &Numeric() {
	static const Domain d{"numeric",
	                      {{"1", "1.0", "1.00"},
	                       {"2.5", "2.50"},
	                       {"0", "0.000"},
	                       {"-7.125", "-7.1250"},
	                       {"12345678901234567890.5", "12345678901234567890.50"},
	                       {"0.1", "0.10", "0.1000"}}};
	return d;
}

const Domain &Float() {
	static const Domain d{"float8",
	                      {{"0", "-0"},
	                       {"0.30000000000000004"},
	                       {"0.1"},
	                       {"1.0000000000000002"},
	                       {"NaN"},
	                       {"Infinity"},
	                       {"-Infinity"},
	                       {"2.2250738585072014e-308"},
	                       {"5e-324"},
	                       {"123456789.12345679"}}};
	return d;
}

const Domain &Text() {
	static const Domain d{"text",
	                      {{"a", "A"},
	                       {"b", "B"},
	                       {"ab", "Ab", "AB", "aB"},
	                       {""},
	                       {"strasse", "STRASSE", "Strasse"},
	                       {"Émile", "émile", "ÉMILE"}}};
	return d;
}

// citext compares lower() under the database's collation (C here): ASCII classes only. It lives
// in the schema oc, off the search path like the collation, so its operator is named.
const Domain &Citext() {
	static const Domain d{
	    "oc.citext",
	    {{"a", "A"}, {"b", "B"}, {"ab", "Ab", "AB", "aB"}, {""}, {"strasse", "STRASSE", "Strasse"}},
	    "OPERATOR(oc.=)"};
	return d;
}

const Domain &Json() {
	static const Domain d{
	    "jsonb",
	    {{"{\"a\": 1}", "{\"a\": 1.0}", "{\"a\": 1.00}"},
	     {"[1, 2]", "[1.0, 2.00]"},
	     {"null"},
	     {"\"x\""},
	     {"{\"a\": 1, \"b\": [true, 0.5]}", "{\"a\": 1.0, \"b\": [true, 0.50]}"}}};
	return d;
}

std::string Lit(const Domain &d, const std::string &text) {
	std::string out = "'";
	for (char c : text) {
		out += c;
		if (c == '\'') {
			out += '\'';
		}
	}
	return out + "'::" + d.type;
}

int Rand(std::mt19937 &rng, int lo, int hi) {
	return std::uniform_int_distribution<int>(lo, hi)(rng);
}

// Random statements that keep one variant per equality class in each tracked column.
class Workload {
  public:
	Workload(std::mt19937 &rng, bool identity_changes)
	    : rng_(rng), identity_changes_(identity_changes) {
	}

	// A value of `column` (tracked: its class's current variant), NULL `null_percent` % of the
	// time.
	std::string Value(const std::string &column, const Domain &d, int null_percent = 10) {
		if (Rand(rng_, 1, 100) <= null_percent) {
			return "NULL";
		}
		int cls = Rand(rng_, 0, static_cast<int>(d.classes.size()) - 1);
		return Lit(d, d.classes[cls][Variant(column, d, cls)]);
	}

	// Any variant (for the free column), when identity changes are on; else like Value.
	std::string FreeValue(const std::string &column, const Domain &d, int null_percent = 10) {
		if (!identity_changes_) {
			return Value(column, d, null_percent);
		}
		if (Rand(rng_, 1, 100) <= null_percent) {
			return "NULL";
		}
		const auto &cls = d.classes[Rand(rng_, 0, static_cast<int>(d.classes.size()) - 1)];
		return Lit(d, cls[Rand(rng_, 0, static_cast<int>(cls.size()) - 1)]);
	}

	std::string Int(int lo, int hi, int null_percent = 10) {
		if (Rand(rng_, 1, 100) <= null_percent) {
			return "NULL";
		}
		return std::to_string(Rand(rng_, lo, hi));
	}

	// An identity-only change: every row of one class of `table.column` switches to another
	// variant (e.g. UPDATE t1 SET n = '1.00' WHERE n = '1': 1.0 and 1 become 1.00).
	std::string Flip(const std::string &table, const std::string &column, const Domain &d) {
		return FlipAll({{table, column}}, d);
	}

	// The same in several columns sharing their variants (text: see VariantRef).
	std::string FlipAll(const std::vector<std::pair<std::string, std::string>> &columns,
	                    const Domain &d) {
		std::vector<int> multi;
		for (int i = 0; i < static_cast<int>(d.classes.size()); i++) {
			if (d.classes[i].size() > 1) {
				multi.push_back(i);
			}
		}
		int cls = multi[Rand(rng_, 0, static_cast<int>(multi.size()) - 1)];
		const auto &[table0, column0] = columns.front();
		int &variant = VariantRef(table0 + "." + column0, d, cls);
		variant = (variant + Rand(rng_, 1, static_cast<int>(d.classes[cls].size()) - 1)) %
		          static_cast<int>(d.classes[cls].size());
		std::string out;
		for (const auto &[table, column] : columns) {
			out += (out.empty() ? "" : "; ") + std::string("UPDATE ") + table + " SET " + column +
			       " = " + Lit(d, d.classes[cls][variant]) + " WHERE " + column + " " + d.eq + " " +
			       Lit(d, d.classes[cls][0]);
		}
		return out;
	}

	bool identity_changes() const {
		return identity_changes_;
	}
	std::mt19937 &rng() {
		return rng_;
	}

  private:
	// Text columns share their variants: a join or filter on them then never depends on the
	// collation it runs under (see OracleCollation.DeltaKeepsTheSourceCollation). Without
	// identity changes, every column of a type does: no two equal values differ anywhere (not
	// even in one output column of a UNION ALL over two columns), so `=` and identity agree.
	int &VariantRef(const std::string &column, const Domain &d, int cls) {
		auto &v = variants_[d.type == "text" || !identity_changes_ ? d.type : column];
		if (v.empty()) {
			// Each column starts with a random variant of each class (-0, 1.00, 'A' appear even
			// without identity-only changes).
			for (const auto &variants : d.classes) {
				v.push_back(Rand(rng_, 0, static_cast<int>(variants.size()) - 1));
			}
		}
		return v[cls];
	}
	int Variant(const std::string &column, const Domain &d, int cls) {
		return VariantRef(column, d, cls);
	}

	std::mt19937 &rng_;
	bool identity_changes_;
	std::map<std::string, std::vector<int>> variants_;
};

struct Shape {
	std::string name;
	std::string query;
};

class OracleBase : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
		// Force DIFFERENTIAL whatever the share of changed rows, to test the engine.
		conn_->Exec("ALTER DATABASE " + db() +
		            " SET pg_trickle.differential_max_change_ratio = 1000");
		conn_ = Connect();
		// Tests of a suite share the database: drop what an earlier test left, one transaction per
		// stream table (several drops in one transaction hold the locks of the first ones while the
		// next waits, which can deadlock with the scheduler: 40P01 seen once in this SetUp).
		conn_->Exec("DO $$ DECLARE r record; BEGIN LOOP "
		            "SELECT pgt_schema, pgt_name INTO r FROM pgtrickle.pgt_stream_tables "
		            "ORDER BY pgt_id DESC LIMIT 1; "
		            "EXIT WHEN NOT FOUND; PERFORM pgtrickle.drop_stream_table("
		            "quote_ident(r.pgt_schema) || '.' || quote_ident(r.pgt_name), true); "
		            "COMMIT; END LOOP; END $$");
		cmp_ = Connect();
		cmp_->Exec("SET extra_float_digits = 3");
	}

	void TearDown() override {
		cmp_.reset();
		ClusterTest::TearDown();
	}

	void Create(const std::string &st, const std::string &query,
	            const std::string &mode = "DIFFERENTIAL") {
		conn_->Exec("SELECT pgtrickle.create_stream_table('" + st + "', $q$" + query +
		            "$q$, schedule => '24h', refresh_mode => '" + mode + "')");
	}

	void Refresh(const std::string &st) {
		conn_->Exec("SELECT pgtrickle.refresh_stream_table('" + st + "')");
	}

	// The rows whose number of occurrences differs between the stream table and its query, by
	// identity, readably ("" when they are equal).
	std::string IdentityDiff(const std::string &st, const std::string &query) {
		return IdentityDiff(*cmp_, "SELECT * FROM " + st, query);
	}

	static std::string IdentityDiff(Conn &conn, const std::string &left, const std::string &right) {
		return pgt::e2e::IdentityDiff(conn, left, right);
	}

	// Refreshes every table in order, then compares each one not yet failed with its query;
	// records the first failure of each table in failures_.
	void RefreshAndCheck(const std::vector<Shape> &tables, const std::string &context) {
		for (const auto &t : tables) {
			if (failures_.count(t.name) != 0) {
				continue;
			}
			std::optional<SqlError> err;
			// 55P03: the scheduler is refreshing it (e.g. rebuilding it after a DDL): wait.
			WaitFor(
			    [&] {
				    err = conn_->TryExec("SELECT pgtrickle.refresh_stream_table('" + t.name + "')");
				    return !err || err->sqlstate != "55P03";
			    },
			    std::chrono::seconds(60), std::chrono::milliseconds(100));
			if (err) {
				failures_[t.name] = "refresh failed: " + err->sqlstate + " " + err->message +
				                    (err->detail.empty() ? "" : " (" + err->detail + ")") + "\n" +
				                    context;
			}
		}
		for (const auto &t : tables) {
			if (failures_.count(t.name) != 0) {
				continue;
			}
			std::string diff = IdentityDiff(t.name, t.query);
			if (!diff.empty()) {
				failures_[t.name] = "differs from its query (" + t.query + ")\n" + diff + context;
			}
		}
	}

	// One gtest failure listing every table that went wrong, with the seed.
	void ReportFailures(unsigned seed) {
		if (failures_.empty()) {
			return;
		}
		std::ostringstream out;
		out << failures_.size() << " stream table(s) went wrong; " << SeedTrace(seed) << "\n";
		for (const auto &[st, what] : failures_) {
			out << "--- " << st << ": " << what << "\n";
		}
		ADD_FAILURE() << out.str();
	}

	// Number of refreshes of `tables` that ran DIFFERENTIAL, and of those that fell back to a
	// FULL rebuild after the initial one.
	std::pair<int, int> RefreshActions(const std::vector<Shape> &tables) {
		std::string names;
		for (const auto &t : tables) {
			names += (names.empty() ? "'" : ", '") + t.name + "'";
		}
		Rows rows = cmp_->Query(
		    "SELECT count(*) FILTER (WHERE h.action = 'DIFFERENTIAL'), "
		    "count(*) FILTER (WHERE h.action IN ('FULL', 'REINITIALIZE') AND h.initiated_by <> "
		    "'INITIAL') FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s "
		    "USING (pgt_id) WHERE s.pgt_name IN (" +
		    names + ")");
		return {std::stoi(*rows[0][0]), std::stoi(*rows[0][1])};
	}

	// Runs a cycle's statements in one transaction; returns them for the failure report.
	std::string RunCycle(const std::vector<std::string> &statements, int cycle) {
		std::string context = "cycle " + std::to_string(cycle) + " ran:\n";
		conn_->Exec("BEGIN");
		for (const auto &s : statements) {
			context += "  " + s + ";\n";
			conn_->Exec(s);
		}
		conn_->Exec("COMMIT");
		return context;
	}

	std::unique_ptr<Conn> cmp_; // extra_float_digits = 3, for comparisons
	std::map<std::string, std::string> failures_;
};

// ------------------------------------------------------------------------------------------------
// The sources t1, t2, t3 and the view v12 over the new types.

const char *kSources =
    "DROP VIEW IF EXISTS v12; DROP TABLE IF EXISTS t1, t2, t3 CASCADE;"
    "CREATE TABLE t1 (id int, k int, n numeric, f float8, s text COLLATE oc.ci, j jsonb, "
    "nx numeric, c oc.citext);"
    "CREATE TABLE t2 (k int, n numeric, f float8, s text COLLATE oc.ci, w int);"
    "CREATE TABLE t3 (k int, tag text COLLATE oc.ci);"
    "CREATE VIEW v12 AS SELECT t1.id, t1.n, t1.f, t2.s AS s2, t1.nx FROM t1 JOIN t2 USING (k);";

std::string RandomChange(Workload &w) {
	std::mt19937 &rng = w.rng();
	int table = Rand(rng, 1, 10);
	int op = Rand(rng, 1, 12);
	std::string id = std::to_string(Rand(rng, 1, 30));
	if (table <= 5) {
		if (op <= 4) {
			return "INSERT INTO t1 VALUES (" + id + ", " + w.Int(1, 5) + ", " +
			       w.Value("t1.n", Numeric()) + ", " + w.Value("t1.f", Float()) + ", " +
			       w.Value("t1.s", Text()) + ", " + w.Value("t1.j", Json()) + ", " +
			       w.FreeValue("t1.nx", Numeric()) + ", " + w.Value("t1.c", Citext()) + ")";
		}
		if (op == 5) {
			return "INSERT INTO t1 SELECT * FROM t1 WHERE id = " + id; // duplicates
		}
		if (op <= 8) {
			switch (Rand(rng, 0, 6)) {
			case 6:
				return "UPDATE t1 SET c = " + w.Value("t1.c", Citext()) + " WHERE id = " + id;
			case 0:
				return "UPDATE t1 SET k = " + w.Int(1, 5) + " WHERE id = " + id;
			case 1:
				return "UPDATE t1 SET n = " + w.Value("t1.n", Numeric()) + " WHERE id = " + id;
			case 2:
				return "UPDATE t1 SET f = " + w.Value("t1.f", Float()) + " WHERE id = " + id;
			case 3:
				return "UPDATE t1 SET s = " + w.Value("t1.s", Text()) + " WHERE id = " + id;
			case 4:
				return "UPDATE t1 SET j = " + w.Value("t1.j", Json()) + " WHERE id = " + id;
			default:
				return "UPDATE t1 SET nx = " + w.FreeValue("t1.nx", Numeric()) +
				       " WHERE id = " + id;
			}
		}
		if (op <= 10) {
			return "DELETE FROM t1 WHERE id = " + id;
		}
		if (!w.identity_changes()) {
			return "UPDATE t1 SET k = " + w.Int(1, 5) + " WHERE id = " + id;
		}
		switch (Rand(rng, 0, 6)) {
		case 6:
			return w.Flip("t1", "c", Citext());
		case 0:
			return w.Flip("t1", "n", Numeric());
		case 1:
			return w.Flip("t1", "f", Float());
		case 2:
			return w.FlipAll({{"t1", "s"}, {"t2", "s"}, {"t3", "tag"}}, Text());
		case 3:
			return w.Flip("t1", "j", Json());
		case 4: // identity-only, row by row, on the free column
			return "UPDATE t1 SET nx = trim_scale(nx) WHERE id = " + id;
		default:
			return "UPDATE t1 SET nx = nx::numeric(40, " + std::to_string(Rand(rng, 4, 6)) +
			       ") WHERE id = " + id;
		}
	}
	std::string k = w.Int(1, 5);
	if (table <= 8) {
		if (op <= 5) {
			return "INSERT INTO t2 VALUES (" + k + ", " + w.Value("t2.n", Numeric()) + ", " +
			       w.Value("t2.f", Float()) + ", " + w.Value("t2.s", Text()) + ", " +
			       w.Int(0, 100) + ")";
		}
		if (op <= 8) {
			return "UPDATE t2 SET w = " + w.Int(0, 100) + ", s = " + w.Value("t2.s", Text()) +
			       ", f = " + w.Value("t2.f", Float()) + " WHERE k = " + k;
		}
		if (op <= 10 || !w.identity_changes()) {
			return "DELETE FROM t2 WHERE k = " + k + " AND w < 50";
		}
		switch (Rand(rng, 0, 2)) {
		case 0:
			return w.Flip("t2", "n", Numeric());
		case 1:
			return w.Flip("t2", "f", Float());
		default:
			return w.FlipAll({{"t2", "s"}, {"t3", "tag"}, {"t1", "s"}}, Text());
		}
	}
	if (op <= 6) {
		return "INSERT INTO t3 VALUES (" + k + ", " + w.Value("t3.tag", Text()) + ")";
	}
	if (op <= 10 || !w.identity_changes()) {
		return "DELETE FROM t3 WHERE k = " + k;
	}
	return w.FlipAll({{"t3", "tag"}, {"t1", "s"}, {"t2", "s"}}, Text());
}

// Every shape DIFFERENTIAL supports (select-project-join with inner joins, views, top-level
// UNION ALL, top-level GROUP BY/DISTINCT/HAVING), with group keys of each type.
const std::vector<Shape> &IdentityShapes() {
	static const std::vector<Shape> shapes = {
	    {"i_scan", "SELECT id, k, n, f, s, j, nx, c FROM t1"},
	    {"i_filter", "SELECT id, n, s, f FROM t1 WHERE n > 1 OR s IS NULL OR f < 0.5 OR k IS NULL"},
	    {"i_project", "SELECT id, n * 2 AS n2, f * 2 AS f2, j -> 'a' AS ja, nx + 0 AS nx0, "
	                  "s || '!' AS sx, length(s) AS ls FROM t1"},
	    {"i_join_num",
	     "SELECT t1.id, t1.n, t2.n AS n2, t1.nx, t2.w FROM t1 JOIN t2 ON t1.n = t2.n"},
	    {"i_join_ci", "SELECT t1.id, t1.s, t2.s AS s2, t2.f FROM t1 JOIN t2 ON t1.s = t2.s"},
	    {"i_join_float", "SELECT t1.id, t1.f, t2.f AS f2 FROM t1 JOIN t2 ON t1.f = t2.f"},
	    {"i_join3", "SELECT t1.id, t2.s, t3.tag, t1.j FROM t1 JOIN t2 ON t1.k = t2.k "
	                "JOIN t3 ON t3.tag = t2.s WHERE t1.n IS NOT NULL"},
	    {"i_selfjoin", "SELECT a.id, b.id AS other, a.s, b.s AS s2 FROM t1 a JOIN t1 b "
	                   "ON a.s = b.s AND a.id < b.id"},
	    {"i_view", "SELECT id, n, f, s2, nx FROM v12 WHERE id % 2 = 0"},
	    {"i_union_all", "SELECT n, s, f FROM t1 UNION ALL SELECT n, s, f FROM t2 "
	                    "UNION ALL SELECT nx, tag, NULL FROM t1 JOIN t3 USING (k)"},
	    {"i_group_int", "SELECT k, count(*) AS c, count(n) AS cn, sum(n) AS sn, sum(nx) AS snx, "
	                    "avg(n) AS an, min(n) AS mn, max(f) AS mf, min(f) AS lf, min(s) AS ms, "
	                    "max(s) AS xs FROM t1 GROUP BY k"},
	    {"i_group_num", "SELECT n, count(*) AS c, sum(nx) AS snx, min(s) AS ms, max(f) AS mf "
	                    "FROM t1 GROUP BY n"},
	    {"i_group_float", "SELECT f, count(*) AS c, sum(n) AS sn, max(s) AS xs FROM t1 GROUP BY f"},
	    {"i_group_text", "SELECT s, count(*) AS c, sum(n) AS sn, min(f) AS mf, max(n) AS xn "
	                     "FROM t1 GROUP BY s"},
	    {"i_group_jsonb", "SELECT j, count(*) AS c, sum(nx) AS snx FROM t1 GROUP BY j"},
	    {"i_group_citext", "SELECT c, count(*) AS cnt, sum(n) AS sn, max(s) AS xs FROM t1 "
	                       "GROUP BY c"},
	    {"i_distinct_citext", "SELECT DISTINCT c, k FROM t1"},
	    {"i_group_multi", "SELECT k, s, n, f, count(*) AS c FROM t1 GROUP BY k, s, n, f"},
	    {"i_having", "SELECT s, sum(n) AS sn, count(*) AS c FROM t1 GROUP BY s "
	                 "HAVING count(*) > 1"},
	    {"i_agg_join", "SELECT t2.s, t2.f, count(*) AS c, sum(t1.n) AS sn, min(t1.f) AS mf, "
	                   "max(t1.s) AS xs FROM t1 JOIN t2 ON t1.k = t2.k GROUP BY t2.s, t2.f"},
	    {"i_distinct", "SELECT DISTINCT n, s, f FROM t1"},
	    {"i_distinct_j", "SELECT DISTINCT j, k FROM t1"},
	    {"i_view_agg", "SELECT s2, count(*) AS c, sum(n) AS sn, sum(nx) AS snx FROM v12 "
	                   "GROUP BY s2"},
	    {"i_nonequi", "SELECT t1.id, t2.s, t2.n FROM t1 JOIN t2 ON t1.n < t2.n AND t1.k <> t2.k"},
	    // A stream table over a stream table (created earlier, refreshed earlier in a cycle).
	    {"i_over", "SELECT id, n, s FROM i_filter WHERE f IS DISTINCT FROM 0.1"},
	    {"i_over_agg", "SELECT s, count(*) AS c, sum(n) AS sn FROM i_filter GROUP BY s"},
	};
	return shapes;
}

class OracleIdentity : public OracleBase {
  protected:
	void SetUp() override {
		OracleBase::SetUp();
		conn_->Exec(std::string(kCollation) + "CREATE EXTENSION IF NOT EXISTS citext SCHEMA oc;" +
		            kSources);
	}

  public:
	void Run(unsigned seed, int cycles, bool identity_changes, const std::vector<Shape> &shapes) {
		std::mt19937 rng(seed);
		Workload w(rng, identity_changes);
		for (int i = 0; i < 60; i++) {
			conn_->Exec(RandomChange(w));
		}
		for (const auto &s : shapes) {
			Create(s.name, s.query);
		}
		for (int cycle = 0; cycle < cycles && failures_.size() < shapes.size(); cycle++) {
			std::vector<std::string> statements;
			int changes = Rand(rng, 1, 10);
			for (int i = 0; i < changes; i++) {
				statements.push_back(RandomChange(w));
			}
			RefreshAndCheck(shapes, RunCycle(statements, cycle));
		}
		ReportFailures(seed);
		if (failures_.empty()) {
			// The engine really ran: every refresh was differential, none fell back to FULL.
			auto [differential, full] = RefreshActions(shapes);
			EXPECT_GE(differential, cycles) << "too few DIFFERENTIAL refreshes";
			EXPECT_EQ(full, 0) << "some refreshes fell back to FULL";
		}
	}
};

// ------------------------------------------------------------------------------------------------

using OracleComparator = OracleIdentity;

// The comparison sees every identity difference the workloads generate, and only those.
TEST_F(OracleComparator, SeesEveryIdentityDifference) {
	const std::vector<std::pair<std::string, std::string>> differ = {
	    {"SELECT 1.0::numeric", "SELECT 1.00::numeric"},
	    {"SELECT 1::numeric", "SELECT 1.0::numeric"},
	    {"SELECT '12345678901234567890.5'::numeric", "SELECT '12345678901234567890.50'::numeric"},
	    {"SELECT '0.30000000000000004'::float8", "SELECT '0.3'::float8"},
	    {"SELECT '1.0000000000000002'::float8", "SELECT '1'::float8"},
	    {"SELECT '-0'::float8", "SELECT '0'::float8"},
	    {"SELECT '5e-324'::float8", "SELECT '0'::float8"},
	    {"SELECT 'a' COLLATE oc.ci", "SELECT 'A' COLLATE oc.ci"},
	    {"SELECT 'a'::oc.citext", "SELECT 'A'::oc.citext"},
	    {"SELECT 'Émile' COLLATE oc.ci", "SELECT 'émile' COLLATE oc.ci"},
	    {"SELECT ''::text", "SELECT NULL::text"},
	    {"SELECT 'null'::jsonb", "SELECT NULL::jsonb"},
	    {"SELECT '{\"a\": 1.0}'::jsonb", "SELECT '{\"a\": 1.00}'::jsonb"},
	    {"SELECT 1, NULL::text", "SELECT 1, ''"},
	    {"SELECT 1 UNION ALL SELECT 1", "SELECT 1"},
	};
	for (const auto &[left, right] : differ) {
		// The comparison connection's extra_float_digits is 3; the type's `=` calls them equal.
		EXPECT_NE(IdentityDiff(*cmp_, left, right), "") << left << " vs " << right;
	}
	const std::vector<std::string> same = {
	    "SELECT 'NaN'::float8", "SELECT 'Infinity'::float8, '-Infinity'::float8",
	    "SELECT 1.00::numeric, 'AB' COLLATE oc.ci, '[1.0, 2.00]'::jsonb, NULL::int",
	    "SELECT 1 UNION ALL SELECT 1"};
	for (const auto &q : same) {
		EXPECT_EQ(IdentityDiff(*cmp_, q, q), "") << q;
	}
	// Every literal the workload generates is read back as exactly that value.
	for (const Domain *d : {&Numeric(), &Float(), &Text(), &Json(), &Citext()}) {
		for (const auto &cls : d->classes) {
			for (size_t i = 0; i < cls.size(); i++) {
				for (size_t j = i + 1; j < cls.size(); j++) {
					std::string a = "SELECT " + Lit(*d, cls[i]);
					std::string b = "SELECT " + Lit(*d, cls[j]);
					EXPECT_NE(IdentityDiff(*cmp_, a, b), "") << cls[i] << " vs " << cls[j];
					// ...while the type's `=` (with the column's collation) calls them equal.
					std::string eq =
					    d->type == "text"
					        ? "SELECT (" + Lit(*d, cls[i]) + " COLLATE oc.ci) = " + Lit(*d, cls[j])
					        : "SELECT " + Lit(*d, cls[i]) + " " + d->eq + " " + Lit(*d, cls[j]);
					EXPECT_EQ(cmp_->Scalar(eq), "t") << eq;
				}
			}
		}
	}
}

// Not an item of issue 8, found while writing this oracle: a column under a collation or of a type
// found through the search path (here: public; a domain, or citext installed there) is declared in
// the storage table with an unqualified name, which the storage table's creation (under a
// restricted search path) does not resolve: create_stream_table fails with 42704.
using OracleCollation = OracleIdentity;

TEST_F(OracleCollation, StorageTypesFoundThroughTheSearchPath) {
	conn_->Exec("DROP TABLE IF EXISTS cs; DROP COLLATION IF EXISTS public.ci_pub;"
	            "CREATE COLLATION public.ci_pub (provider = icu, locale = 'und-u-ks-level2', "
	            "deterministic = false);"
	            "CREATE TABLE cs (id int, s text COLLATE public.ci_pub);"
	            "INSERT INTO cs VALUES (1, 'a')");
	auto err = conn_->TryExec("SELECT pgtrickle.create_stream_table('cs_st', "
	                          "'SELECT id, s FROM cs', '24h', 'DIFFERENTIAL')");
	EXPECT_FALSE(err.has_value()) << err->sqlstate << " " << err->message;
	if (!err) {
		conn_->Exec("UPDATE cs SET s = 'A'");
		Refresh("cs_st");
		EXPECT_EQ(IdentityDiff("cs_st", "SELECT id, s FROM cs"), "");
		conn_->Exec("SELECT pgtrickle.drop_stream_table('cs_st')");
	}
	conn_->Exec("DROP TABLE cs; DROP COLLATION public.ci_pub;"
	            "DROP TABLE IF EXISTS ds; DROP DOMAIN IF EXISTS public.dom_pub;"
	            "CREATE DOMAIN public.dom_pub AS numeric CHECK (VALUE > 0);"
	            "CREATE TABLE ds (id int, d dom_pub)");
	err = conn_->TryExec("SELECT pgtrickle.create_stream_table('ds_st', "
	                     "'SELECT id, d FROM ds', '24h', 'DIFFERENTIAL')");
	EXPECT_FALSE(err.has_value()) << err->sqlstate << " " << err->message;
	if (!err) {
		conn_->Exec("SELECT pgtrickle.drop_stream_table('ds_st')");
	}
	conn_->Exec("DROP TABLE ds; DROP DOMAIN public.dom_pub");
}

// Not an item of issue 8, found by this oracle: the change rows of a leaf come from
// pgtrickle._pending_changes(...) AS b(col type, ...), whose column definitions carry no COLLATE,
// so DIFFERENTIAL evaluates the query's expressions on changed rows under the default collation:
// WHERE s = 'a' drops 'A', lower('Émile') gives 'Émile', where FULL (and the query) use the
// column's collation.
TEST_F(OracleCollation, DeltaKeepsTheSourceCollation) {
	conn_->Exec("DROP TABLE IF EXISTS cj; CREATE TABLE cj (id int, s text COLLATE oc.ci);"
	            "INSERT INTO cj VALUES (1, 'Émile')");
	const std::vector<Shape> shapes = {
	    {"cj_filter", "SELECT id, s FROM cj WHERE s = 'a'"},
	    {"cj_lower", "SELECT id, lower(s) AS l, upper(s) AS u FROM cj"},
	    {"cj_join", "SELECT cj.id, c2.id AS id2 FROM cj JOIN cj c2 ON cj.s = c2.s"},
	    {"cj_group", "SELECT s, count(*) AS c FROM cj WHERE s > 'a' GROUP BY s"},
	};
	for (const auto &t : shapes) {
		Create(t.name, t.query);
	}
	conn_->Exec("INSERT INTO cj VALUES (2, 'Émile'), (3, 'A'), (4, 'b'), (5, 'a')");
	for (const auto &t : shapes) {
		Refresh(t.name);
		EXPECT_EQ(IdentityDiff(t.name, t.query), "") << t.name << ": " << t.query;
	}
	conn_->Exec("DROP TABLE cj CASCADE");
}

// Item 9: netting, matching and group keys by identity, over every supported shape.
TEST_F(OracleIdentity, EveryShapeByIdentity) {
	const unsigned seed = Seed();
	SCOPED_TRACE(SeedTrace(seed));
	Run(seed, Cycles(20), /*identity_changes=*/true, IdentityShapes());
}

// The same shapes and types without identity-only changes (and t1.nx kept to one variant per
// class like the other columns): what must hold once NULLs, -0, NaN, 1.00, 'A', collations and
// jsonb are merely present. A control: passes on code that still nets and matches with `=`.
TEST_F(OracleIdentity, EveryShapeWithoutIdentityOnlyChanges) {
	const unsigned seed = Seed() + 1;
	SCOPED_TRACE(SeedTrace(seed));
	Run(seed, Cycles(10), /*identity_changes=*/false, IdentityShapes());
}

// Issue 9: every operator of the engine (src/ivm), alone and composed. Shapes whose result is
// determined by identity even with identity-only changes (keys of int and text, whose variants
// are shared by every text column; sums; counts).
const std::vector<Shape> &OperatorShapes() {
	static const std::vector<Shape> shapes = {
	    // Outer joins (recompute), chains, NULL-producing sides changing in the same refresh.
	    {"o_left", "SELECT t1.id, t1.n, t2.w, t2.s AS s2 FROM t1 LEFT JOIN t2 ON t1.k = t2.k"},
	    {"o_right", "SELECT t1.id, t2.k, t2.w FROM t1 RIGHT JOIN t2 ON t1.k = t2.k AND t1.id > 10"},
	    {"o_full", "SELECT t1.id, t1.k, t2.k AS k2, t2.w FROM t1 FULL JOIN t2 ON t1.k = t2.k"},
	    {"o_chain", "SELECT t1.id, t2.w, t3.tag FROM t1 LEFT JOIN t2 ON t1.k = t2.k "
	                "LEFT JOIN t3 ON t3.k = t2.k"},
	    {"o_left_agg", "SELECT t1.k, count(t2.w) AS c, sum(t2.w) AS sw FROM t1 LEFT JOIN t2 "
	                   "ON t1.k = t2.k GROUP BY t1.k"},
	    // Semi/anti joins and scalar subqueries (recompute).
	    {"o_exists",
	     "SELECT id, n FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.k = t1.k AND t2.w > 20)"},
	    {"o_not_exists",
	     "SELECT id, s FROM t1 WHERE NOT EXISTS (SELECT 1 FROM t3 WHERE t3.tag = t1.s)"},
	    {"o_in", "SELECT id, k FROM t1 WHERE k IN (SELECT k FROM t3)"},
	    {"o_exists_join", "SELECT t1.id, t2.w FROM t1 JOIN t2 ON t1.k = t2.k WHERE EXISTS "
	                      "(SELECT 1 FROM t3 WHERE t3.k = t1.k) AND t2.w > 10"},
	    {"o_in_agg", "SELECT k, count(*) AS c FROM t1 WHERE id IN (SELECT k FROM t2 WHERE w > 30) "
	                 "GROUP BY k"},
	    {"o_in_grouped", "SELECT id, n FROM t1 WHERE k IN (SELECT k FROM t2 GROUP BY k "
	                     "HAVING count(*) > 1)"},
	    {"o_not_in", "SELECT id, k FROM t1 WHERE k NOT IN (SELECT k FROM t2 WHERE w > 50)"},
	    {"o_scalar", "SELECT id, n FROM t1 WHERE k > (SELECT avg(k) FROM t2)"},
	    {"o_scalar_select", "SELECT id, (SELECT max(w) FROM t2 WHERE t2.k = t1.k) AS mw FROM t1"},
	    // Decorrelated (src/ivm/rw_*.cpp): scalar aggregate subqueries joined as a one-row level
	    // or as the subquery grouped by its correlation columns (one and two columns, one under a
	    // nondeterministic collation), under an aggregate; count() (0 over no rows) stays
	    // recomputed.
	    {"o_scalar_having", "SELECT k, sum(w) AS sw FROM t2 GROUP BY k HAVING sum(w) > "
	                        "(SELECT avg(w) FROM t2)"},
	    {"o_scalar_list", "SELECT id, k - (SELECT min(k) FROM t3) AS dk FROM t1"},
	    {"o_corr_avg", "SELECT id, n FROM t1 WHERE id < (SELECT avg(w) FROM t2 WHERE t2.k = t1.k)"},
	    {"o_corr_two", "SELECT id, k FROM t1 WHERE id * 10 >= (SELECT sum(w) FROM t2 "
	                   "WHERE t2.k = t1.k AND t2.s = t1.s)"},
	    {"o_corr_agg", "SELECT k, count(*) AS c FROM t1 WHERE id > (SELECT min(w) FROM t2 "
	                   "WHERE t2.k = t1.k) GROUP BY k"},
	    {"o_corr_count",
	     "SELECT id FROM t1 WHERE id >= (SELECT count(*) FROM t2 WHERE t2.k = t1.k)"},
	    // Aggregates without GROUP BY (one row, also over an empty input), FILTER, DISTINCT
	    // aggregates, other aggregate functions, GROUP BY expressions, keys not selected.
	    {"o_total", "SELECT count(*) AS c, sum(n) AS sn, count(DISTINCT k) AS dk, "
	                "sum(nx) AS snx FROM t1"},
	    {"o_total_empty", "SELECT count(*) AS c, sum(w) AS sw FROM t2 WHERE w > 90"},
	    {"o_filter_agg",
	     "SELECT k, count(*) FILTER (WHERE t1.n > 1) AS c1, count(DISTINCT t1.s) AS ds, "
	     "string_agg(id::text, ',' ORDER BY id) AS ids, bool_or(w > 50) AS bo, "
	     "array_agg(w ORDER BY w) AS ws FROM t2 JOIN t1 USING (k) GROUP BY k"},
	    {"o_group_expr",
	     "SELECT k % 2 AS parity, sum(w) AS sw FROM t2 GROUP BY k % 2 HAVING count(*) > 1"},
	    {"o_group_hidden", "SELECT sum(w) AS sw, count(*) AS c FROM t2 GROUP BY k"},
	    // Aggregation below the top: joined, aggregated again, over DISTINCT, over UNION ALL.
	    {"o_agg_join", "SELECT g.k, g.c, t2.w FROM (SELECT k, count(*) AS c FROM t1 GROUP BY k) g "
	                   "JOIN t2 ON t2.k = g.k"},
	    {"o_agg_agg", "SELECT c, count(*) AS groups FROM (SELECT k, count(*) AS c FROM t1 "
	                  "GROUP BY k) g GROUP BY c"},
	    {"o_distinct_sub",
	     "SELECT d.k, count(*) AS c FROM (SELECT DISTINCT k, s FROM t1) d GROUP BY d.k"},
	    {"o_union_all_sub", "SELECT u.k, count(*) AS c FROM (SELECT k FROM t1 UNION ALL "
	                        "SELECT k FROM t2) u GROUP BY u.k"},
	    {"o_deep", "SELECT s.k, s.c FROM (SELECT x.k, count(*) AS c FROM (SELECT t1.k FROM t1 "
	               "JOIN t3 ON t1.s = t3.tag) x GROUP BY x.k) s WHERE s.c > 1"},
	    {"o_sum_join", "SELECT t2.k, sum(t1.nx) AS snx, count(*) AS c FROM t1 JOIN t2 "
	                   "ON t1.k = t2.k GROUP BY t2.k"},
	    // Set operations (per-row counts) on int and text, over joins.
	    {"o_union", "SELECT k, s FROM t1 UNION SELECT k, s FROM t2"},
	    {"o_union_join",
	     "SELECT t1.k, t2.w FROM t1 JOIN t2 ON t1.k = t2.k UNION SELECT k, w FROM t2"},
	    {"o_intersect", "SELECT k FROM t1 INTERSECT SELECT k FROM t3"},
	    {"o_intersect_all", "SELECT k, s FROM t1 INTERSECT ALL SELECT k, tag FROM t3"},
	    {"o_except", "SELECT k FROM t2 EXCEPT SELECT k FROM t1"},
	    {"o_except_all", "SELECT k, s FROM t1 EXCEPT ALL SELECT k, s FROM t2"},
	    // CTEs: one referenced twice, a chain of them.
	    {"o_cte_twice", "WITH x AS (SELECT k, sum(w) AS sw FROM t2 GROUP BY k) SELECT a.k, a.sw, "
	                    "b.sw AS sw2 FROM x a JOIN x b ON a.k = b.k + 1"},
	    {"o_cte_chain", "WITH a AS (SELECT k, n FROM t1 WHERE n IS NOT NULL), b AS (SELECT k, "
	                    "count(*) AS c FROM a GROUP BY k) SELECT b.k, b.c, t3.tag FROM b "
	                    "JOIN t3 USING (k)"},
	    // ORDER BY … LIMIT (top-K) over a total order, with promotion when a top row leaves.
	    {"o_topk", "SELECT id, k, n FROM t1 WHERE id IS NOT NULL ORDER BY id DESC, k, n "
	               "LIMIT 5"},
	    {"o_topk_agg", "SELECT k, count(*) AS c FROM t1 GROUP BY k ORDER BY c DESC, k NULLS FIRST "
	                   "LIMIT 2"},
	    {"o_topk_join", "SELECT t1.id, t2.w FROM t1 JOIN t2 ON t1.k = t2.k ORDER BY t2.w DESC, "
	                    "t1.id LIMIT 4"},
	    // Over a stream table built from another operator.
	    {"o_over", "SELECT id, count(*) AS c FROM o_left GROUP BY id"},
	};
	return shapes;
}

// Set operations and groupings across columns (t1.n with t2.n, floats): determined by identity
// only when equal values are identical in every column (no identity-only changes).
const std::vector<Shape> &OperatorShapesEqualityOnly() {
	static const std::vector<Shape> shapes = {
	    {"oe_union_num", "SELECT n, f FROM t1 UNION SELECT n, f FROM t2"},
	    {"oe_intersect_f", "SELECT f FROM t1 INTERSECT ALL SELECT f FROM t2"},
	    {"oe_except_n", "SELECT n FROM t1 EXCEPT SELECT n FROM t2"},
	    {"oe_left_num", "SELECT t1.n, t2.f, t2.w FROM t1 LEFT JOIN t2 ON t1.n = t2.n"},
	    {"oe_agg_float", "SELECT f, count(*) AS c FROM (SELECT f FROM t1 UNION ALL SELECT f "
	                     "FROM t2) u GROUP BY f"},
	    {"oe_distinct_in", "SELECT DISTINCT n FROM t1 WHERE s IN (SELECT tag FROM t3)"},
	};
	return shapes;
}

class OracleOperators : public OracleIdentity {};

TEST_F(OracleOperators, EveryOperatorByIdentity) {
	const unsigned seed = Seed() + 6;
	SCOPED_TRACE(SeedTrace(seed));
	Run(seed, Cycles(20), /*identity_changes=*/true, OperatorShapes());
}

TEST_F(OracleOperators, EveryOperatorWithoutIdentityOnlyChanges) {
	const unsigned seed = Seed() + 7;
	SCOPED_TRACE(SeedTrace(seed));
	std::vector<Shape> shapes = OperatorShapes();
	const auto &more = OperatorShapesEqualityOnly();
	shapes.insert(shapes.end(), more.begin(), more.end());
	Run(seed, Cycles(12), /*identity_changes=*/false, shapes);
}

// Algebraic aggregates (src/delta/apply_algebraic.cpp): COUNT, SUM and AVG over integers and
// numeric (t1.n flips between 1.0 and 1.00 for a whole class at once, t1.nx row by row, so
// display scales rise and fall), MIN/MAX over integers (extremes deleted and updated away),
// FILTER, HAVING over aggregates not selected, expressions over aggregates, NULL keys, groups
// emptied and refilled, key updates, no GROUP BY (also over an empty input), a join below, and
// a stream table over one of them.
const std::vector<Shape> &AlgebraicShapes() {
	static const std::vector<Shape> shapes = {
	    {"a_int", "SELECT k, count(*) AS c, count(n) AS cn, sum(id) AS si, avg(id) AS ai, "
	              "min(id) AS mi, max(id) AS xi FROM t1 GROUP BY k"},
	    {"a_num", "SELECT k, sum(n) AS sn, avg(n) AS an, sum(nx) AS snx, avg(nx) AS anx, "
	              "count(nx) AS cnx FROM t1 GROUP BY k"},
	    {"a_filter_having",
	     "SELECT k, sum(nx) FILTER (WHERE id > 10) AS sf, count(*) FILTER (WHERE n IS NULL) AS cn "
	     "FROM t1 GROUP BY k HAVING max(id) > 5 AND sum(nx) IS NOT NULL"},
	    {"a_total", "SELECT count(*) AS c, sum(nx) AS snx, avg(n) AS an, min(id) AS mi, "
	                "max(k) AS xk FROM t1"},
	    {"a_total_empty", "SELECT count(*) AS c, sum(n) AS sn, max(w) AS mw FROM t2 WHERE w > 95"},
	    {"a_join", "SELECT t2.w, count(*) AS c, sum(t1.nx) AS snx, min(t1.id) AS mi FROM t1 "
	               "JOIN t2 ON t1.k = t2.k GROUP BY t2.w"},
	    {"a_two_keys", "SELECT k, id % 3 AS r, count(*) AS c, sum(n) AS sn, max(id) AS mx "
	                   "FROM t1 GROUP BY k, id % 3"},
	    {"a_expr", "SELECT k, sum(id) * 2 + count(*) AS e, avg(nx) - 1 AS a1 FROM t1 GROUP BY k"},
	    {"a_bigint", "SELECT k, sum(id::bigint * 1000000000000) AS sb, avg(id::bigint) AS ab, "
	                 "sum(id::smallint) AS ss FROM t1 GROUP BY k"},
	    {"a_over", "SELECT cn, count(*) AS g, sum(si) AS ssi, max(xi) AS mxi FROM a_int "
	               "GROUP BY cn"},
	};
	return shapes;
}

class OracleAlgebraic : public OracleIdentity {};

TEST_F(OracleAlgebraic, EveryAlgebraicAggregateByIdentity) {
	const unsigned seed = Seed() + 11;
	SCOPED_TRACE(SeedTrace(seed));
	Run(seed, Cycles(25), /*identity_changes=*/true, AlgebraicShapes());
	// They were maintained algebraically (explain_st says so).
	for (const auto &s : AlgebraicShapes()) {
		EXPECT_EQ(conn_->Scalar("SELECT value FROM pgtrickle.explain_st('" + s.name +
		                        "') WHERE property = 'differential_support'"),
		          "supported: algebraic aggregates")
		    << s.name;
	}
}

TEST_F(OracleAlgebraic, EveryAlgebraicAggregateWithoutIdentityOnlyChanges) {
	const unsigned seed = Seed() + 12;
	SCOPED_TRACE(SeedTrace(seed));
	Run(seed, Cycles(15), /*identity_changes=*/false, AlgebraicShapes());
}

// Decorrelation over NOT NULL columns (primary keys and NOT NULL): NOT IN as the anti-join,
// next to the correlated and uncorrelated scalar aggregates of TPC-H's shapes, while rows move
// between keys, whole key groups are deleted, and the subqueries' inputs empty and refill.
class OracleDecorrelate : public OracleIdentity {};

TEST_F(OracleDecorrelate, NotNullKeysAndScalarAggregates) {
	const unsigned seed = Seed() + 8;
	SCOPED_TRACE(SeedTrace(seed));
	std::mt19937 rng(seed);
	conn_->Exec("DROP TABLE IF EXISTS dn_a, dn_b CASCADE;"
	            "CREATE TABLE dn_a (id int PRIMARY KEY, k int NOT NULL, v numeric);"
	            "CREATE TABLE dn_b (id int PRIMARY KEY, k int NOT NULL, k2 int, w int NOT NULL)");
	auto change = [&]() -> std::string {
		std::string id = std::to_string(Rand(rng, 1, 40));
		std::string k = std::to_string(Rand(rng, 0, 6));
		std::string v = Rand(rng, 1, 6) == 1 ? "NULL" : std::to_string(Rand(rng, 0, 200)) + ".5";
		std::string w = std::to_string(Rand(rng, 0, 120));
		std::string k2 = Rand(rng, 1, 5) == 1 ? "NULL" : std::to_string(Rand(rng, 0, 3));
		switch (Rand(rng, 1, 9)) {
		case 1:
		case 2:
			return "INSERT INTO dn_a VALUES (" + id + ", " + k + ", " + v +
			       ") ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v";
		case 3:
			return "UPDATE dn_a SET k = " + k + " WHERE id = " + id;
		case 4:
			return "DELETE FROM dn_a WHERE id = " + id;
		case 5:
		case 6:
			return "INSERT INTO dn_b VALUES (" + id + ", " + k + ", " + k2 + ", " + w +
			       ") ON CONFLICT (id) DO UPDATE SET w = EXCLUDED.w";
		case 7:
			return "UPDATE dn_b SET k = " + k + ", k2 = " + k2 + " WHERE id = " + id;
		case 8:
			return "DELETE FROM dn_b WHERE k = " + k; // a whole key group
		default:
			return Rand(rng, 1, 4) == 1 ? "DELETE FROM dn_b" : "DELETE FROM dn_a WHERE k = " + k;
		}
	};
	for (int i = 0; i < 50; i++) {
		conn_->Exec(change());
	}
	const std::vector<Shape> shapes = {
	    {"dn_not_in", "SELECT id, v FROM dn_a WHERE k NOT IN (SELECT k FROM dn_b WHERE w > 60)"},
	    {"dn_not_in_pk",
	     "SELECT a.id, a.k FROM dn_a a WHERE a.id NOT IN (SELECT b.id FROM dn_b b)"},
	    {"dn_not_in_agg", "SELECT k, count(*) AS c, sum(v) AS sv FROM dn_a WHERE id NOT IN "
	                      "(SELECT k FROM dn_b) GROUP BY k"},
	    {"dn_corr", "SELECT a.id, a.v FROM dn_a a WHERE a.v < (SELECT 0.2 * avg(b.w) * 10 "
	                "FROM dn_b b WHERE b.k = a.k)"},
	    {"dn_corr_total", "SELECT sum(a.v) / 7.0 AS t FROM dn_a a WHERE a.v > (SELECT max(b.w) "
	                      "FROM dn_b b WHERE b.k = a.k AND b.id = a.id)"},
	    {"dn_scalar", "SELECT k, count(*) AS c FROM dn_a WHERE v > (SELECT avg(w) FROM dn_b) "
	                  "AND NOT EXISTS (SELECT 1 FROM dn_b WHERE dn_b.id = dn_a.id) GROUP BY k"},
	    {"dn_top", "WITH r AS (SELECT k, sum(w) AS sw FROM dn_b GROUP BY k) SELECT a.id, r.sw "
	               "FROM dn_a a, r WHERE a.k = r.k AND r.sw = (SELECT max(sw) FROM r)"},
	};
	for (const auto &s : shapes) {
		Create(s.name, s.query);
		EXPECT_EQ(cmp_->Scalar("SELECT value FROM pgtrickle.explain_st('" + s.name +
		                       "') WHERE property = 'differential_operators'")
		              .find("recompute("),
		          std::string::npos)
		    << s.name << " is not decorrelated";
	}
	const int cycles = Cycles(15);
	for (int cycle = 0; cycle < cycles && failures_.size() < shapes.size(); cycle++) {
		std::vector<std::string> statements;
		int changes = Rand(rng, 1, 8);
		for (int i = 0; i < changes; i++) {
			statements.push_back(change());
		}
		RefreshAndCheck(shapes, RunCycle(statements, cycle));
	}
	ReportFailures(seed);
	if (failures_.empty()) {
		auto [differential, full] = RefreshActions(shapes);
		EXPECT_GE(differential, cycles) << "too few DIFFERENTIAL refreshes";
		EXPECT_EQ(full, 0) << "some refreshes fell back to FULL";
	}
}

// Item 10: float8 group keys survive a refreshing session with extra_float_digits = 0 (a key
// printed with 15 digits no longer matches its group).
class OracleFloatKeys : public OracleIdentity {};

TEST_F(OracleFloatKeys, ExtraFloatDigitsZero) {
	const unsigned seed = Seed() + 2;
	SCOPED_TRACE(SeedTrace(seed));
	conn_->Exec("SET extra_float_digits = 0");
	const std::vector<Shape> shapes = {
	    {"fk_group", "SELECT f, count(*) AS c, sum(n) AS sn FROM t1 GROUP BY f"},
	    {"fk_group2", "SELECT k, f, count(*) AS c FROM t1 GROUP BY k, f"},
	    {"fk_distinct", "SELECT DISTINCT f, s FROM t1"},
	    {"fk_agg_join", "SELECT t2.f, count(*) AS c, max(t1.f) AS mf FROM t1 JOIN t2 "
	                    "ON t1.k = t2.k GROUP BY t2.f"},
	    {"fk_having", "SELECT f, count(*) AS c FROM t1 GROUP BY f HAVING count(*) > 1"},
	};
	Run(seed, Cycles(15), /*identity_changes=*/false, shapes);
}

// ------------------------------------------------------------------------------------------------
// Item 11: diamonds ending in every supported shape. da and db are DIFFERENTIAL stream tables
// over t1; each tip reads both, so a refresh refreshes the whole group at once.

class OracleDiamondShapes : public OracleIdentity {};

TEST_F(OracleDiamondShapes, IssueExample) {
	conn_->Exec("DROP TABLE IF EXISTS r CASCADE;"
	            "CREATE TABLE r (id int PRIMARY KEY, val int, grp text);"
	            "INSERT INTO r VALUES (1, 1, 'x')");
	Create("ra", "SELECT id, val AS va, grp FROM r");
	Create("rb", "SELECT id, val * 2 AS vb, grp FROM r");
	const std::string q = "SELECT ra.grp, count(*) AS n FROM ra JOIN rb ON ra.id = rb.id "
	                      "GROUP BY ra.grp";
	Create("rtip", q);
	conn_->Exec("INSERT INTO r VALUES (2, 2, 'y')");
	Refresh("ra");
	EXPECT_EQ(IdentityDiff("rtip", q), "");
	conn_->Exec("SELECT pgtrickle.drop_stream_table('rtip'); "
	            "SELECT pgtrickle.drop_stream_table('rb'); "
	            "SELECT pgtrickle.drop_stream_table('ra'); DROP TABLE r");
}

TEST_F(OracleDiamondShapes, EveryShapeAsTip) {
	const unsigned seed = Seed() + 3;
	SCOPED_TRACE(SeedTrace(seed));
	std::mt19937 rng(seed);
	Workload w(rng, /*identity_changes=*/false);
	for (int i = 0; i < 60; i++) {
		conn_->Exec(RandomChange(w));
	}
	const std::vector<Shape> branches = {
	    {"da", "SELECT id, k, n, f, s, j FROM t1 WHERE id % 3 <> 0 OR k IS NULL"},
	    {"db", "SELECT id, k, n * 2 AS n2, f, s FROM t1 WHERE id IS NOT NULL"},
	};
	for (const auto &b : branches) {
		Create(b.name, b.query);
	}
	conn_->Exec("DROP VIEW IF EXISTS vd; CREATE VIEW vd AS SELECT da.id, da.s, db.n2, db.f "
	            "FROM da JOIN db ON da.id = db.id");
	const std::string j = " FROM da JOIN db ON da.id = db.id";
	const std::vector<Shape> tips = {
	    {"dt_join", "SELECT da.id, da.n, db.n2, db.s, da.j" + j},
	    {"dt_join_ci", "SELECT da.id, db.id AS id2, da.s FROM da JOIN db ON da.s = db.s"},
	    {"dt_view", "SELECT id, s, n2 FROM vd WHERE f IS NOT NULL"},
	    {"dt_union_all", "SELECT id, n FROM da UNION ALL SELECT id, n2 FROM db"},
	    {"dt_group_int",
	     "SELECT da.k, count(*) AS c, sum(db.n2) AS sn, min(db.f) AS mf" + j + " GROUP BY da.k"},
	    {"dt_group_num", "SELECT da.n, count(*) AS c, min(db.s) AS ms" + j + " GROUP BY da.n"},
	    {"dt_group_float", "SELECT db.f, count(*) AS c, sum(da.n) AS sn" + j + " GROUP BY db.f"},
	    {"dt_group_text", "SELECT da.s, count(*) AS c, max(db.n2) AS xn" + j + " GROUP BY da.s"},
	    {"dt_group_jsonb", "SELECT da.j, count(*) AS c" + j + " GROUP BY da.j"},
	    {"dt_having", "SELECT da.s, count(*) AS c" + j + " GROUP BY da.s HAVING count(*) > 1"},
	    {"dt_distinct", "SELECT DISTINCT da.k, db.s" + j},
	    {"dt_view_agg", "SELECT s, count(*) AS c, sum(n2) AS sn FROM vd GROUP BY s"},
	    // Operators of the engine (issue 9) as tips of a consistency group.
	    {"dt_left", "SELECT da.id, da.k, db.n2 FROM da LEFT JOIN db ON da.id = db.id"},
	    {"dt_exists", "SELECT id, s FROM da WHERE EXISTS (SELECT 1 FROM db WHERE db.id = da.id "
	                  "AND db.f > 0)"},
	    {"dt_total", "SELECT count(*) AS c, sum(db.n2) AS sn" + j},
	    {"dt_union", "SELECT id, k FROM da UNION SELECT id, k FROM db"},
	    {"dt_agg_sub", "SELECT g.k, g.c, db.id FROM (SELECT k, count(*) AS c FROM da GROUP BY k) g "
	                   "JOIN db ON db.k = g.k"},
	};
	for (const auto &t : tips) {
		Create(t.name, t.query);
		EXPECT_EQ(cmp_->Scalar("SELECT count(*) > 0 FROM pgtrickle.diamond_groups() a "
		                       "JOIN pgtrickle.diamond_groups() b USING (group_id) "
		                       "WHERE a.member_name = 'da' AND b.member_name = '" +
		                       t.name + "'"),
		          "t")
		    << t.name << " is not in da's consistency group";
	}
	std::vector<Shape> all = branches;
	all.insert(all.end(), tips.begin(), tips.end());
	const int cycles = Cycles(12);
	for (int cycle = 0; cycle < cycles && failures_.size() < all.size(); cycle++) {
		std::vector<std::string> statements;
		int changes = Rand(rng, 1, 8);
		for (int i = 0; i < changes; i++) {
			statements.push_back(RandomChange(w));
		}
		// Refreshing one tip refreshes the whole group (da, db and every tip).
		std::string context = RunCycle(statements, cycle);
		Refresh(tips[cycle % tips.size()].name);
		RefreshAndCheck(all, context);
	}
	ReportFailures(seed);
	if (failures_.empty()) {
		auto [differential, full] = RefreshActions(all);
		EXPECT_GE(differential, cycles) << "too few DIFFERENTIAL refreshes";
		EXPECT_EQ(full, 0) << "some refreshes fell back to FULL";
	}
}

// ------------------------------------------------------------------------------------------------
// Item 3: a partitioned source; DML addressed to the root and to each partition, row movement
// between partitions, TRUNCATE of a partition, a partition created, detached (its rows leave the
// source) and attached again (they come back) while stream tables read the root.

class OraclePartitions : public OracleIdentity {
  protected:
	void SetUp() override {
		OracleIdentity::SetUp();
		conn_->Exec("DROP TABLE IF EXISTS m, m_as CASCADE;"
		            "CREATE TABLE m (id int, region text, n numeric, s text COLLATE oc.ci, "
		            "f float8) PARTITION BY LIST (region);"
		            "CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');"
		            "CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us');"
		            "CREATE TABLE m_rest PARTITION OF m DEFAULT;");
	}
};

TEST_F(OraclePartitions, DmlOnRootAndPartitions) {
	const unsigned seed = Seed() + 4;
	SCOPED_TRACE(SeedTrace(seed));
	std::mt19937 rng(seed);
	Workload w(rng, /*identity_changes=*/false);
	// 0: no m_as yet; 1: m_as attached; 2: m_as detached.
	int as_state = 0;
	auto region = [&] {
		std::vector<std::string> r = {"'eu'", "'us'", "'xx'", "NULL"};
		if (as_state == 1) {
			r.push_back("'as'");
		}
		return r[Rand(rng, 0, static_cast<int>(r.size()) - 1)];
	};
	auto change = [&]() -> std::string {
		std::string id = std::to_string(Rand(rng, 1, 30));
		std::string vals = w.Value("m.n", Numeric()) + ", " + w.Value("m.s", Text()) + ", " +
		                   w.Value("m.f", Float());
		switch (Rand(rng, 0, 15)) {
		case 0:
		case 1:
			return "INSERT INTO m VALUES (" + id + ", " + region() + ", " + vals + ")";
		case 2:
			return "INSERT INTO m_eu VALUES (" + id + ", 'eu', " + vals + ")";
		case 3:
			return "INSERT INTO m_us VALUES (" + id + ", 'us', " + vals + ")";
		case 4:
			return "INSERT INTO m_rest VALUES (" + id + ", 'xx', " + vals + ")";
		case 5:
			return "UPDATE m SET region = " + region() + " WHERE id = " + id; // row movement
		case 6:
			return "UPDATE m_eu SET n = " + w.Value("m.n", Numeric()) + " WHERE id = " + id;
		case 7:
			return "UPDATE m_us SET s = " + w.Value("m.s", Text()) +
			       ", f = " + w.Value("m.f", Float()) + " WHERE id = " + id;
		case 8:
			return "UPDATE m_rest SET n = " + w.Value("m.n", Numeric()) + " WHERE id = " + id;
		case 9:
			return "DELETE FROM m_eu WHERE id = " + id;
		case 10:
			return "DELETE FROM m_us WHERE id = " + id;
		case 11:
			return "DELETE FROM m WHERE id = " + id;
		case 12:
			return Rand(rng, 0, 5) == 0 ? "TRUNCATE m_us" : "DELETE FROM m_rest WHERE id = " + id;
		case 13:
			if (as_state != 0) {
				// While detached, m_as is not part of m: these rows must appear only on attach.
				return "INSERT INTO m_as VALUES (" + id + ", 'as', " + vals + ")";
			}
			return "INSERT INTO m VALUES (" + id + ", 'eu', " + vals + ")";
		default:
			return "INSERT INTO t2 VALUES (" + w.Int(1, 5) + ", " + w.Value("t2.n", Numeric()) +
			       ", " + w.Value("t2.f", Float()) + ", " + w.Value("t2.s", Text()) + ", 1)";
		}
	};
	for (int i = 0; i < 40; i++) {
		conn_->Exec(change());
	}
	const std::vector<Shape> shapes = {
	    {"p_scan", "SELECT id, region, n, s, f FROM m"},
	    {"p_filter", "SELECT id, n FROM m WHERE region = 'eu' OR n > 1"},
	    {"p_join", "SELECT m.id, m.region, t2.w FROM m JOIN t2 ON m.s = t2.s"},
	    {"p_group_region", "SELECT region, count(*) AS c, sum(n) AS sn, max(f) AS mf FROM m "
	                       "GROUP BY region"},
	    {"p_group_num", "SELECT n, count(*) AS c FROM m GROUP BY n"},
	    {"p_distinct", "SELECT DISTINCT s FROM m"},
	    {"p_union_all", "SELECT id, n FROM m UNION ALL SELECT k, n FROM t2"},
	};
	for (const auto &s : shapes) {
		Create(s.name, s.query);
	}
	const int cycles = Cycles(12);
	for (int cycle = 0; cycle < cycles && failures_.size() < shapes.size(); cycle++) {
		std::vector<std::string> statements;
		if (cycle == cycles / 4) {
			statements.push_back("CREATE TABLE m_as PARTITION OF m FOR VALUES IN ('as')");
			as_state = 1;
		} else if (cycle == cycles / 2) {
			statements.push_back("ALTER TABLE m DETACH PARTITION m_as");
			as_state = 2;
		} else if (cycle == 3 * cycles / 4) {
			statements.push_back("ALTER TABLE m ATTACH PARTITION m_as FOR VALUES IN ('as')");
			as_state = 1;
		}
		int changes = Rand(rng, 1, 8);
		for (int i = 0; i < changes; i++) {
			statements.push_back(change());
		}
		RefreshAndCheck(shapes, RunCycle(statements, cycle));
	}
	ReportFailures(seed);
}

// ------------------------------------------------------------------------------------------------
// Item 1: ALTER TABLE on a source with pending changes (before and in the same transaction as
// the ALTER). Nothing may be lost; a FULL rebuild is an acceptable answer, a silent skip is not.

class OracleAlterSource : public OracleIdentity {};

TEST_F(OracleAlterSource, PendingChangesSurvive) {
	const unsigned seed = Seed() + 5;
	SCOPED_TRACE(SeedTrace(seed));
	std::mt19937 rng(seed);
	Workload w(rng, /*identity_changes=*/false);
	conn_->Exec("DROP TABLE IF EXISTS a_src CASCADE;"
	            "CREATE TABLE a_src (id int, k int, n numeric, s text COLLATE oc.ci, "
	            "extra1 int, extra2 text);"
	            "DO $$ BEGIN CREATE ROLE oracle_alter_owner; "
	            "EXCEPTION WHEN duplicate_object THEN NULL; END $$;");
	auto change = [&]() -> std::string {
		std::string id = std::to_string(Rand(rng, 1, 25));
		switch (Rand(rng, 0, 5)) {
		case 0:
		case 1:
		case 2:
			return "INSERT INTO a_src (id, k, n, s) VALUES (" + id + ", " + w.Int(1, 4) + ", " +
			       w.Value("a.n", Numeric()) + ", " + w.Value("a.s", Text()) + ")";
		case 3:
			return "UPDATE a_src SET n = " + w.Value("a.n", Numeric()) + " WHERE id = " + id;
		case 4:
			return "UPDATE a_src SET k = " + w.Int(1, 4) + " WHERE id = " + id;
		default:
			return "DELETE FROM a_src WHERE id = " + id;
		}
	};
	for (int i = 0; i < 30; i++) {
		conn_->Exec(change());
	}
	const std::vector<Shape> shapes = {
	    {"a_scan", "SELECT id, k, n, s FROM a_src"},
	    {"a_group", "SELECT k, count(*) AS c, sum(n) AS sn FROM a_src GROUP BY k"},
	    {"a_join", "SELECT a_src.id, t2.w FROM a_src JOIN t2 ON a_src.k = t2.k"},
	    {"a_distinct", "SELECT DISTINCT s FROM a_src"},
	};
	conn_->Exec("INSERT INTO t2 SELECT g % 5, g, g, 'a', g FROM generate_series(1, 10) g");
	for (const auto &s : shapes) {
		Create(s.name, s.query);
	}
	const std::vector<std::string> alters = {
	    "ALTER TABLE a_src ADD COLUMN note text",
	    "ALTER TABLE a_src ADD COLUMN d int DEFAULT 7",
	    "ALTER TABLE a_src DROP COLUMN extra1",
	    "ALTER TABLE a_src RENAME COLUMN extra2 TO extra2b",
	    // Renames of the table and of a read column, undone in the same transaction.
	    "ALTER TABLE a_src RENAME TO a_src_renamed; ALTER TABLE a_src_renamed RENAME TO a_src",
	    "ALTER TABLE a_src RENAME COLUMN n TO n_tmp; ALTER TABLE a_src RENAME COLUMN n_tmp TO n",
	    "ALTER TABLE a_src SET (fillfactor = 70)",
	    "ALTER TABLE a_src OWNER TO oracle_alter_owner",
	    "ALTER TABLE a_src ALTER COLUMN note TYPE varchar(40)",
	    "ALTER TABLE a_src DROP COLUMN note",
	};
	const int rounds = Long() ? 5 : 1;
	int cycle = 0;
	for (int round = 0; round < rounds; round++) {
		for (const auto &alter : alters) {
			// Pending changes committed before the ALTER...
			std::vector<std::string> before;
			for (int i = 0; i < 4; i++) {
				before.push_back(change());
			}
			std::string context = RunCycle(before, cycle++);
			// ...and in the ALTER's own transaction, before and after it.
			std::vector<std::string> same = {change(), alter, change()};
			context += RunCycle(same, cycle++);
			if (round + 1 < rounds && alter == alters.back()) {
				context += RunCycle({"ALTER TABLE a_src ADD COLUMN extra1 int, ADD COLUMN "
				                     "extra2 text, DROP COLUMN d, DROP COLUMN extra2b, "
				                     "OWNER TO CURRENT_USER"},
				                    cycle++);
			}
			RefreshAndCheck(shapes, "after " + alter + "\n" + context);
		}
	}
	ReportFailures(seed);
	conn_->Exec("DROP TABLE a_src CASCADE");
}

// ------------------------------------------------------------------------------------------------
// Item 5: a consumer created (or altered) in a transaction that stays open while a write commits
// and another consumer of the same source refreshes (and trims the shared buffer); the new
// consumer must see the write after its creation commits.

class OracleConcurrentCreate : public OracleIdentity {
  protected:
	void SetUp() override {
		OracleIdentity::SetUp();
		conn_->Exec("DROP TABLE IF EXISTS c_src CASCADE;"
		            "CREATE TABLE c_src (id int, n numeric, s text COLLATE oc.ci);"
		            "INSERT INTO c_src VALUES (1, 1.0, 'a'), (2, 2.50, 'B')");
		Create("c_old", "SELECT id, n FROM c_src");
		creator_ = Connect();
		writer_ = Connect();
		creator_->Exec("SET lock_timeout = '5s'");
		// A refresh that waits for the open transaction is no race: give up after a while.
		conn_->Exec("SET lock_timeout = '5s'");
	}
	void TearDown() override {
		creator_.reset();
		writer_.reset();
		OracleIdentity::TearDown();
	}

	// Runs `open` in a transaction on creator_ while two writes commit (one from a transaction
	// that began before it, so its xid is older than the creator's, one after it began) and
	// c_old refreshes (and trims the shared buffer); then commits it, refreshes `st` and
	// compares it with `query`.
	void Race(const std::string &open, const std::string &st, const std::string &query, int round) {
		SCOPED_TRACE("round " + std::to_string(round));
		std::string id = std::to_string(100 + 2 * round);
		std::string id2 = std::to_string(101 + 2 * round);
		writer_->Exec("BEGIN");
		writer_->Exec("INSERT INTO c_src VALUES (" + id + ", " + id + ".50, 'w'); " +
		              "UPDATE c_src SET n = n + 1 WHERE id = 1");
		creator_->Exec("BEGIN");
		auto create_err = creator_->TryExec(open);
		writer_->Exec("COMMIT");
		if (create_err) {
			creator_->Exec("ROLLBACK");
			FAIL() << "the create waited for the writer: " << create_err->sqlstate << " "
			       << create_err->message;
		}
		writer_->Exec("INSERT INTO c_src VALUES (" + id2 + ", " + id2 +
		              ".5, 'W'); DELETE FROM c_src WHERE id = 2; "
		              "INSERT INTO c_src VALUES (2, 2.50, 'b')");
		auto err = conn_->TryExec("SELECT pgtrickle.refresh_stream_table('c_old')");
		creator_->Exec("COMMIT");
		if (err) {
			// The refresh waited for the creating transaction: it could not trim under it.
			EXPECT_EQ(err->sqlstate, "55P03") << err->message;
		}
		Refresh("c_old");
		Refresh(st);
		EXPECT_EQ(IdentityDiff(st, query), "") << st << " lost writes of round " << round;
		EXPECT_EQ(IdentityDiff("c_old", "SELECT id, n FROM c_src"), "");
	}

	std::unique_ptr<Conn> creator_;
	std::unique_ptr<Conn> writer_;
};

TEST_F(OracleConcurrentCreate, CreateInOpenTransaction) {
	const int rounds = Long() ? 10 : 2;
	for (int round = 0; round < rounds; round++) {
		std::string st = "c_new" + std::to_string(round);
		std::string query = "SELECT id, n, s FROM c_src WHERE id > " + std::to_string(round);
		Race("SELECT pgtrickle.create_stream_table('" + st + "', $q$" + query +
		         "$q$, schedule => '24h', refresh_mode => 'DIFFERENTIAL')",
		     st, query, round);
	}
}

// The altered stream table starts to read c_src with the new query: until the ALTER commits, the
// buffer's trimming does not know it as a consumer.
TEST_F(OracleConcurrentCreate, AlterInOpenTransaction) {
	const int rounds = Long() ? 10 : 2;
	conn_->Exec("DROP TABLE IF EXISTS c_other; CREATE TABLE c_other (id int);"
	            "INSERT INTO c_other VALUES (1)");
	for (int round = 0; round < rounds; round++) {
		std::string st = "c_alt" + std::to_string(round);
		Create(st, "SELECT id FROM c_other");
		std::string query = "SELECT id, n, s FROM c_src WHERE id > " + std::to_string(round);
		Race("SELECT pgtrickle.alter_stream_table('" + st + "', query => $q$" + query + "$q$)", st,
		     query, round);
	}
}

} // namespace
} // namespace pgt::e2e
