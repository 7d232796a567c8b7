// Randomized DIFFERENTIAL-vs-query oracle for the operators of issue 12: window functions
// (op_window.cpp), LATERAL functions and subqueries (op_lateral.cpp), grouping sets
// (op_grouping_sets.cpp), WITH RECURSIVE (op_recursive.cpp), alone and composed with each other and
// with the engine's joins, aggregates and stream tables over stream tables.
//
// Each cycle runs random INSERT/UPDATE/DELETE statements on the sources in one transaction
// (duplicates, NULLs in every column, rows moving between partitions, whole partitions and whole
// LATERAL groups deleted, values that tie in every ORDER BY), refreshes every stream table
// DIFFERENTIAL and compares it with its defining query as a multiset of rows by identity (each
// row's text form, grouped with counts). Where the query's own result is not deterministic
// (row_number, lag, ROWS frames over rows that tie in ORDER BY: PostgreSQL numbers tied rows in
// any order), the shape lists projections that are deterministic, and each projection is
// compared as a multiset instead (e.g. per partition the multiset of numbers, and the multiset
// of rows without their numbers).
//
// Seeded: PGT_ORACLE_SEED, PGT_ORACLE_CYCLES, PGT_ORACLE_LONG=1 as in oracle_test.cpp.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace pgt::e2e {
namespace {

int WCycles(int short_run) {
	if (const char *c = std::getenv("PGT_ORACLE_CYCLES")) {
		return std::atoi(c);
	}
	const char *l = std::getenv("PGT_ORACLE_LONG");
	return l != nullptr && std::string(l) == "1" ? short_run * 10 : short_run;
}

unsigned WSeed() {
	if (const char *s = std::getenv("PGT_ORACLE_SEED")) {
		return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
	}
	return 20261126u;
}

int R(std::mt19937 &rng, int lo, int hi) {
	return std::uniform_int_distribution<int>(lo, hi)(rng);
}

struct WShape {
	std::string name;
	std::string query;
	// Deterministic projections compared instead of whole rows (empty: whole rows). Each is a
	// select list over the stream table's columns.
	std::vector<std::string> projections = {};
};

const char *kWSources =
    "DROP TABLE IF EXISTS wt, wi CASCADE;"
    "CREATE TABLE wt (id int, p int, q text, x int, v numeric, arr int[], j jsonb, s text);"
    "CREATE TABLE wi (gid int, x int, name text);";

class OracleWindowBase : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
		conn_->Exec("ALTER DATABASE " + db() +
		            " SET pg_trickle.differential_max_change_ratio = 1000");
		conn_ = Connect();
		conn_->Exec("DO $$ DECLARE r record; BEGIN LOOP "
		            "SELECT pgt_schema, pgt_name INTO r FROM pgtrickle.pgt_stream_tables "
		            "ORDER BY pgt_id DESC LIMIT 1; "
		            "EXIT WHEN NOT FOUND; PERFORM pgtrickle.drop_stream_table("
		            "quote_ident(r.pgt_schema) || '.' || quote_ident(r.pgt_name), true); "
		            "COMMIT; END LOOP; END $$");
		conn_->Exec(kWSources);
		cmp_ = Connect();
		cmp_->Exec("SET extra_float_digits = 3");
	}

	void TearDown() override {
		cmp_.reset();
		ClusterTest::TearDown();
	}

	std::string Maybe(int null_percent, const std::string &value) {
		return R(*rng_, 1, 100) <= null_percent ? "NULL" : value;
	}

	std::string Row(int id) {
		std::mt19937 &g = *rng_;
		int len = R(g, 0, 3);
		std::string arr = "ARRAY[";
		for (int i = 0; i < len; i++) {
			arr += (i ? ", " : "") + Maybe(15, std::to_string(R(g, 0, 4)));
		}
		arr += "]::int[]";
		std::string j = "jsonb_build_array(" + std::to_string(R(g, 0, 3)) + ", 'a', " +
		                "jsonb_build_object('z', " + std::to_string(R(g, 0, 2)) + "))";
		static const char *vs[] = {"1.5", "2", "2.25", "-3", "0"};
		static const char *qs[] = {"'a'", "'b'", "'c'"};
		return "(" + std::to_string(id) + ", " + Maybe(10, std::to_string(R(g, 1, 4))) + ", " +
		       Maybe(10, qs[R(g, 0, 2)]) + ", " + Maybe(10, std::to_string(R(g, 0, 5))) + ", " +
		       Maybe(10, vs[R(g, 0, 4)]) + ", " + Maybe(10, arr) + ", " + Maybe(10, j) + ", " +
		       Maybe(10,
		             "'r" + std::to_string(R(g, 0, 9)) + "x" + std::to_string(R(g, 0, 99)) + "'") +
		       ")";
	}

	std::string RandomChange() {
		std::mt19937 &g = *rng_;
		int op = R(g, 1, 20);
		std::string id = std::to_string(R(g, 1, 40));
		switch (op) {
		case 1:
		case 2:
		case 3:
		case 4:
			return "INSERT INTO wt VALUES " + Row(R(g, 1, 40));
		case 5:
			return "INSERT INTO wt SELECT * FROM wt WHERE id = " + id; // duplicates
		case 6:
			return "UPDATE wt SET p = " + Maybe(10, std::to_string(R(g, 1, 4))) +
			       " WHERE id = " + id; // moves between partitions
		case 7:
			return "UPDATE wt SET x = " + Maybe(10, std::to_string(R(g, 0, 5))) +
			       ", v = v + 1 WHERE id = " + id;
		case 8:
			return "UPDATE wt SET arr = arr || " + std::to_string(R(g, 0, 4)) +
			       ", s = s || '7', q = " + Maybe(20, "'b'") + " WHERE id = " + id;
		case 9:
		case 10:
			return "DELETE FROM wt WHERE id = " + id;
		case 11:
			return "DELETE FROM wt WHERE p " +
			       (R(g, 0, 4) == 0 ? std::string("IS NULL")
			                        : "= " + std::to_string(R(g, 1, 4))); // whole partition
		case 12:
		case 13:
		case 14:
			return "INSERT INTO wi VALUES (" + Maybe(10, std::to_string(R(g, 1, 40))) + ", " +
			       Maybe(10, std::to_string(R(g, 0, 9))) + ", " +
			       Maybe(10, "'n" + std::to_string(R(g, 0, 5)) + "'") + ")";
		case 15:
			return "INSERT INTO wi SELECT * FROM wi WHERE gid = " + id;
		case 16:
			return "UPDATE wi SET x = " + Maybe(10, std::to_string(R(g, 0, 9))) +
			       " WHERE gid = " + id + " AND name IS NOT DISTINCT FROM 'n" +
			       std::to_string(R(g, 0, 5)) + "'";
		case 17:
			return "UPDATE wi SET gid = " + std::to_string(R(g, 1, 40)) + " WHERE gid = " + id;
		case 18:
			return "DELETE FROM wi WHERE gid = " + id; // a whole LATERAL group
		case 19:
			return "DELETE FROM wi WHERE x = " + std::to_string(R(g, 0, 9));
		default:
			return "UPDATE wt SET id = " + std::to_string(R(g, 1, 40)) + " WHERE id = " + id;
		}
	}

	// Rows of `left` and `right` whose number of occurrences differ, by text identity.
	std::string Diff(const std::string &left, const std::string &right) {
		Rows rows = cmp_->Query(
		    "SELECT coalesce(l.r, r.r), coalesce(l.n, 0), coalesce(r.n, 0) FROM "
		    "(SELECT __o::text COLLATE \"C\" AS r, count(*) AS n FROM (" +
		    left +
		    ") __o GROUP BY 1) l FULL JOIN (SELECT __o::text COLLATE \"C\" AS r, count(*) AS n "
		    "FROM (" +
		    right +
		    ") __o GROUP BY 1) r ON l.r = r.r WHERE l.n IS DISTINCT FROM r.n "
		    "ORDER BY 1 LIMIT 20");
		std::ostringstream out;
		for (const auto &row : rows) {
			out << "  stream table has " << *row[1] << ", query has " << *row[2] << ": " << *row[0]
			    << "\n";
		}
		return out.str();
	}

	std::string Check(const WShape &s) {
		if (s.projections.empty()) {
			return Diff("SELECT * FROM " + s.name, s.query);
		}
		std::string out;
		for (const auto &p : s.projections) {
			std::string d = Diff("SELECT " + p + " FROM " + s.name,
			                     "SELECT " + p + " FROM (" + s.query + ") AS __q");
			if (!d.empty()) {
				out += " projection " + p + ":\n" + d;
			}
		}
		return out;
	}

	void Run(unsigned seed, int cycles, const std::vector<WShape> &shapes) {
		std::mt19937 rng(seed);
		rng_ = &rng;
		for (int i = 0; i < 50; i++) {
			conn_->Exec("INSERT INTO wt VALUES " + Row(i % 30 + 1));
		}
		for (int i = 0; i < 40; i++) {
			conn_->Exec("INSERT INTO wi VALUES (" + std::to_string(R(rng, 1, 35)) + ", " +
			            std::to_string(R(rng, 0, 9)) + ", 'n" + std::to_string(R(rng, 0, 5)) +
			            "')");
		}
		for (const auto &s : shapes) {
			auto err =
			    conn_->TryExec("SELECT pgtrickle.create_stream_table('" + s.name + "', $q$" +
			                   s.query + "$q$, schedule => '24h', refresh_mode => 'DIFFERENTIAL')");
			ASSERT_FALSE(err.has_value()) << s.name << ": " << err->message;
		}
		std::map<std::string, std::string> failures;
		for (int cycle = 0; cycle < cycles && failures.size() < shapes.size(); cycle++) {
			std::string context = "cycle " + std::to_string(cycle) + " ran:\n";
			conn_->Exec("BEGIN");
			int n = R(rng, 1, 8);
			for (int i = 0; i < n; i++) {
				std::string st = RandomChange();
				context += "  " + st + ";\n";
				conn_->Exec(st);
			}
			conn_->Exec("COMMIT");
			for (const auto &s : shapes) {
				if (failures.count(s.name)) {
					continue;
				}
				auto err =
				    conn_->TryExec("SELECT pgtrickle.refresh_stream_table('" + s.name + "')");
				if (err) {
					failures[s.name] =
					    "refresh failed: " + err->sqlstate + " " + err->message + "\n" + context;
				}
			}
			for (const auto &s : shapes) {
				if (failures.count(s.name)) {
					continue;
				}
				std::string d = Check(s);
				if (!d.empty()) {
					failures[s.name] = "differs from " + s.query + "\n" + d + context;
				}
			}
		}
		std::ostringstream out;
		for (const auto &[name, what] : failures) {
			out << "--- " << name << ": " << what << "\n";
		}
		EXPECT_TRUE(failures.empty())
		    << failures.size() << " stream table(s) went wrong; oracle seed " << seed
		    << " (rerun with PGT_ORACLE_SEED=" << seed << ")\n"
		    << out.str();
		if (failures.empty()) {
			std::string names;
			for (const auto &s : shapes) {
				names += (names.empty() ? "'" : ", '") + s.name + "'";
			}
			Rows r = cmp_->Query(
			    "SELECT count(*) FILTER (WHERE h.action = 'DIFFERENTIAL'), count(*) FILTER "
			    "(WHERE h.action IN ('FULL', 'REINITIALIZE') AND h.initiated_by <> 'INITIAL') "
			    "FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s "
			    "USING (pgt_id) WHERE s.pgt_name IN (" +
			    names + ")");
			EXPECT_GE(std::stoi(*r[0][0]), cycles) << "too few DIFFERENTIAL refreshes";
			EXPECT_EQ(*r[0][1], "0") << "some refreshes fell back to FULL";
		}
	}

	std::unique_ptr<Conn> cmp_;
	std::mt19937 *rng_ = nullptr;
};

// Window functions alone: ranking, offsets, frames, named windows, several PARTITION BYs, one
// partition, windows over aggregates, top-K per partition.
const std::vector<WShape> &WindowShapes() {
	static const std::vector<WShape> shapes = {
	    {"ow_rank", "SELECT id, p, x, rank() OVER w AS r, dense_rank() OVER w AS dr, "
	                "percent_rank() OVER w AS pr, cume_dist() OVER w AS cd FROM wt "
	                "WINDOW w AS (PARTITION BY p ORDER BY x)"},
	    // Ties in ORDER BY x: numbers of tied rows are not deterministic; compared per partition.
	    {"ow_rownum_ties",
	     "SELECT id, p, x, row_number() OVER (PARTITION BY p ORDER BY x) AS rn, "
	     "ntile(2) OVER (PARTITION BY p ORDER BY x) AS t FROM wt",
	     {"p, rn, t", "id, p, x"}},
	    {"ow_offsets", "SELECT p, x, v, lag(v) OVER w AS lg, lead(x, 2, -1) OVER w AS ld, "
	                   "first_value(v) OVER w AS fv, last_value(x) OVER w AS lv, "
	                   "nth_value(v, 2) OVER w AS nv FROM wt "
	                   "WINDOW w AS (PARTITION BY p ORDER BY x, v)"},
	    {"ow_frames",
	     "SELECT id, p, sum(v) OVER (PARTITION BY p ORDER BY x RANGE BETWEEN 1 PRECEDING AND "
	     "CURRENT ROW) AS s_range, count(*) OVER (PARTITION BY p ORDER BY x GROUPS BETWEEN 1 "
	     "PRECEDING AND 1 FOLLOWING EXCLUDE GROUP) AS c_groups, max(v) OVER (PARTITION BY p "
	     "ORDER BY x RANGE UNBOUNDED PRECEDING EXCLUDE CURRENT ROW) AS m_excl, min(x) OVER "
	     "(PARTITION BY p ORDER BY x RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE "
	     "TIES) AS m_ties FROM wt"},
	    {"ow_rows_frame",
	     "SELECT p, x, v, sum(v) OVER (PARTITION BY p ORDER BY x, v ROWS BETWEEN 1 PRECEDING AND "
	     "1 FOLLOWING) AS s_rows FROM wt"},
	    {"ow_two_partitions", "SELECT id, p, q, sum(x) OVER (PARTITION BY p, q) AS s_pq, "
	                          "count(*) OVER (PARTITION BY p) AS c_p, avg(v) OVER "
	                          "(PARTITION BY q, p ORDER BY x) AS a_qp FROM wt"},
	    {"ow_disjoint", "SELECT id, sum(x) OVER (PARTITION BY p) AS s_p, "
	                    "count(*) OVER (PARTITION BY q) AS c_q FROM wt"},
	    {"ow_whole", "SELECT id, rank() OVER (ORDER BY x) AS r, sum(v) OVER () AS total FROM wt"},
	    {"ow_over_agg",
	     "SELECT p, sum(x) AS sx, count(*) AS n, rank() OVER (ORDER BY sum(x)) AS r, "
	     "sum(count(*)) OVER (PARTITION BY p IS NULL) AS c FROM wt GROUP BY p"},
	    {"ow_topk",
	     "SELECT id, p, x, v, rn FROM (SELECT id, p, x, v, row_number() OVER "
	     "(PARTITION BY p ORDER BY v DESC, x) AS rn FROM wt) s WHERE rn <= 2",
	     {"p, rn", "p, v, x"}},
	    {"ow_expr_partition", "SELECT id, x % 2 AS parity, rank() OVER (PARTITION BY x % 2 "
	                          "ORDER BY v) AS r FROM wt"},
	};
	return shapes;
}

// LATERAL functions and subqueries alone.
const std::vector<WShape> &LateralShapes() {
	static const std::vector<WShape> shapes = {
	    {"ol_unnest", "SELECT t.id, u.v, u.o FROM wt t, unnest(t.arr) WITH ORDINALITY u(v, o)"},
	    {"ol_series", "SELECT t.id, n FROM wt t CROSS JOIN LATERAL generate_series(1, t.x) n"},
	    {"ol_jsonb", "SELECT t.id, e.value FROM wt t, jsonb_array_elements(t.j) e "
	                 "WHERE e.value <> '\"a\"'"},
	    {"ol_jsonb_each_left", "SELECT t.id, e.key, e.value FROM wt t LEFT JOIN LATERAL "
	                           "jsonb_each(t.j -> 2) e ON true"},
	    {"ol_regexp", "SELECT t.id, m FROM wt t, regexp_matches(t.s, '[0-9]+', 'g') m"},
	    {"ol_values", "SELECT t.id, v.tag, v.val FROM wt t, LATERAL (VALUES ('p', t.p), "
	                  "('x', t.x)) v(tag, val)"},
	    {"ol_topk", "SELECT t.id, t.p, k.x, k.name FROM wt t CROSS JOIN LATERAL (SELECT i.x, "
	                "i.name FROM wi i WHERE i.gid = t.id ORDER BY i.x DESC, i.name LIMIT 2) k"},
	    {"ol_left_agg", "SELECT t.id, a.n, a.mx FROM wt t LEFT JOIN LATERAL (SELECT count(*) AS "
	                    "n, max(x) AS mx FROM wi i WHERE i.gid = t.p) a ON true"},
	    {"ol_left_topk", "SELECT t.id, k.x FROM wt t LEFT JOIN LATERAL (SELECT i.x FROM wi i "
	                     "WHERE i.gid = t.x ORDER BY i.x LIMIT 1) k ON k.x > 2"},
	    {"ol_no_key", "SELECT t.id, k.c FROM wt t, LATERAL (SELECT count(*) AS c FROM wi i "
	                  "WHERE i.x > t.x) k"},
	};
	return shapes;
}

// GROUPING SETS / ROLLUP / CUBE alone.
const std::vector<WShape> &GroupingSetShapes() {
	static const std::vector<WShape> shapes = {
	    {"og_rollup", "SELECT p, q, count(*) AS n, sum(v) AS sv, grouping(p, q) AS g FROM wt "
	                  "GROUP BY ROLLUP (p, q)"},
	    {"og_cube", "SELECT p, x, count(*) AS n, max(v) AS mv, grouping(x) AS gx FROM wt "
	                "GROUP BY CUBE (p, x) HAVING count(*) > 1"},
	    {"og_sets", "SELECT p, q, x % 2 AS parity, sum(x) AS sx FROM wt GROUP BY GROUPING SETS "
	                "((p, q), (p), (x % 2), ())"},
	    {"og_mixed", "SELECT p, q, count(*) AS n FROM wt GROUP BY ROLLUP (p), q"},
	    {"og_no_aggs", "SELECT q FROM wt GROUP BY GROUPING SETS ((q), (q), ())"},
	};
	return shapes;
}

// Compositions: each operator over and under the others and the engine's operators.
const std::vector<WShape> &ComposedShapes() {
	static const std::vector<WShape> shapes = {
	    {"oc_window_join", "SELECT t.id, t.p, i.x, rank() OVER (PARTITION BY t.p ORDER BY i.x) "
	                       "AS r FROM wt t JOIN wi i ON i.gid = t.id"},
	    {"oc_window_lateral", "SELECT t.p, u.v, dense_rank() OVER (PARTITION BY t.p ORDER BY "
	                          "u.v) AS r FROM wt t, unnest(t.arr) u(v)"},
	    {"oc_window_sets", "SELECT p, q, count(*) AS n, rank() OVER (PARTITION BY grouping(p, q) "
	                       "ORDER BY count(*)) AS r FROM wt GROUP BY ROLLUP (p, q)"},
	    {"oc_agg_window", "SELECT r, count(*) AS n FROM (SELECT rank() OVER (PARTITION BY p "
	                      "ORDER BY x) AS r FROM wt) s GROUP BY r"},
	    {"oc_join_window", "SELECT w.p, w.s, i.name FROM (SELECT p, sum(v) OVER (PARTITION BY "
	                       "p) AS s FROM wt) w JOIN wi i ON i.gid = w.p"},
	    {"oc_agg_lateral", "SELECT t.p, count(*) AS n, sum(u) AS su FROM wt t, unnest(t.arr) u "
	                       "GROUP BY t.p"},
	    {"oc_sets_join", "SELECT t.p, i.name, count(*) AS n FROM wt t JOIN wi i ON "
	                     "i.gid = t.id GROUP BY CUBE (t.p, i.name)"},
	    {"oc_sets_lateral", "SELECT t.q, u, count(*) AS n FROM wt t, unnest(t.arr) u "
	                        "GROUP BY ROLLUP (t.q, u)"},
	    {"oc_lateral_over_agg", "SELECT g.p, k.x FROM (SELECT p, count(*) AS n FROM wt GROUP BY "
	                            "p) g, LATERAL (SELECT i.x FROM wi i WHERE i.gid = g.p ORDER BY "
	                            "i.x LIMIT 2) k"},
	    {"oc_lateral_outer", "SELECT t.id, i.name, u FROM wt t LEFT JOIN wi i ON i.gid = t.id, "
	                         "unnest(t.arr) u"},
	    // Stream tables over the stream tables above (created, and refreshed, after them).
	    {"oc_over_window", "SELECT p, max(r) AS mr, count(*) AS n FROM ow_rank GROUP BY p"},
	    {"oc_lateral_over_st", "SELECT o.p, u FROM og_rollup o, generate_series(1, o.n::int) u "
	                           "WHERE o.g = 0"},
	    {"oc_window_over_st", "SELECT p, q, n, rank() OVER (PARTITION BY p ORDER BY n) AS r "
	                          "FROM og_rollup"},
	};
	return shapes;
}

// WITH RECURSIVE, alone and composed: reachability over wi (gid -> x, cycles included, UNION),
// a depth-bounded hierarchy over wt (p -> id, UNION ALL, duplicates multiply the paths), roots
// and whole groups deleted by the workload.
const std::vector<WShape> &RecursiveShapes() {
	static const std::vector<WShape> shapes = {
	    {"or_reach", "WITH RECURSIVE reach(a, b) AS (SELECT gid, x FROM wi UNION SELECT r.a, i.x "
	                 "FROM reach r JOIN wi i ON i.gid = r.b) SELECT * FROM reach"},
	    {"or_tree", "WITH RECURSIVE t(id, root, depth) AS (SELECT id, id, 0 FROM wt WHERE p IS "
	                "NULL UNION ALL SELECT w.id, t.root, t.depth + 1 FROM wt w JOIN t ON w.p = "
	                "t.id WHERE t.depth < 3) SELECT * FROM t"},
	    {"or_reach_counts", "WITH RECURSIVE reach(a, b) AS (SELECT gid, x FROM wi UNION SELECT "
	                        "r.a, i.x FROM reach r JOIN wi i ON i.gid = r.b) SELECT a, count(*) "
	                        "AS n FROM reach GROUP BY a"},
	    {"or_tree_join", "WITH RECURSIVE t(id, depth) AS (SELECT id, 0 FROM wt WHERE p IS NULL "
	                     "UNION SELECT w.id, t.depth + 1 FROM wt w JOIN t ON w.p = t.id WHERE "
	                     "t.depth < 4) SELECT t.id, t.depth, i.name FROM t JOIN wi i ON i.gid = "
	                     "t.id"},
	    {"or_tree_window",
	     "WITH RECURSIVE t(id, root, depth) AS (SELECT id, id, 0 FROM wt WHERE "
	     "p IS NULL UNION SELECT w.id, t.root, t.depth + 1 FROM wt w JOIN t ON "
	     "w.p = t.id WHERE t.depth < 3) SELECT root, id, depth, dense_rank() OVER "
	     "(PARTITION BY root ORDER BY depth) AS r FROM t"},
	    {"or_cycle", "WITH RECURSIVE walk(a, b) AS (SELECT gid, x FROM wi WHERE gid < 5 UNION ALL "
	                 "SELECT i.gid, i.x FROM walk w JOIN wi i ON i.gid = w.b) CYCLE a SET looped "
	                 "USING path SELECT a, b, looped FROM walk"},
	};
	return shapes;
}

class OracleWindow : public OracleWindowBase {};

TEST_F(OracleWindow, Recursive) {
	Run(WSeed() + 104, WCycles(20), RecursiveShapes());
}

TEST_F(OracleWindow, WindowFunctions) {
	Run(WSeed() + 100, WCycles(20), WindowShapes());
}

TEST_F(OracleWindow, Lateral) {
	Run(WSeed() + 101, WCycles(20), LateralShapes());
}

TEST_F(OracleWindow, GroupingSets) {
	Run(WSeed() + 102, WCycles(20), GroupingSetShapes());
}

TEST_F(OracleWindow, Composed) {
	std::vector<WShape> shapes;
	for (const auto *list : {&WindowShapes(), &GroupingSetShapes()}) {
		for (const auto &s : *list) {
			if (s.name == "ow_rank" || s.name == "og_rollup") {
				shapes.push_back(s); // read by the stream tables over stream tables
			}
		}
	}
	const auto &more = ComposedShapes();
	shapes.insert(shapes.end(), more.begin(), more.end());
	Run(WSeed() + 103, WCycles(20), shapes);
}

} // namespace
} // namespace pgt::e2e
