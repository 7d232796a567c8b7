// Randomized DIFFERENTIAL-vs-FULL oracle: for every supported query shape, many cycles of random
// INSERT/UPDATE/DELETE on several sources at once (NULLs, duplicates, key changes), a DIFFERENTIAL
// refresh, then multiset equality of the stream table against its defining query. Seeded and
// reproducible: the seed is printed on failure. PGT_ORACLE_SEED picks the seed; the number of
// cycles is PGT_ORACLE_CYCLES (default 40), or 400 with PGT_ORACLE_LONG=1.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace pgt::e2e {
namespace {

int Cycles() {
	if (const char *c = std::getenv("PGT_ORACLE_CYCLES")) {
		return std::atoi(c);
	}
	if (const char *l = std::getenv("PGT_ORACLE_LONG"); l && std::string(l) == "1") {
		return 400;
	}
	return 40;
}

unsigned Seed() {
	if (const char *s = std::getenv("PGT_ORACLE_SEED")) {
		return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
	}
	return 20261122u;
}

struct Shape {
	std::string name;
	std::string query;
};

// Every supported shape, over keyless sources t1(id, k, v), t2(k, name, w), t3(k, tag) and a
// view; d1/d2/d3 form a diamond of DIFFERENTIAL stream tables, s2 reads a stream table.
const std::vector<Shape> &Shapes() {
	static const std::vector<Shape> shapes = {
	    {"scan", "SELECT id, k, v FROM t1"},
	    {"filter", "SELECT id, v FROM t1 WHERE v > 40 OR k IS NULL"},
	    {"project", "SELECT id, v * 2 + coalesce(k, 0) AS x, upper(coalesce(name, '?')) AS n "
	                "FROM t2 JOIN t1 USING (k)"},
	    {"join2", "SELECT t1.id, t1.v, t2.name FROM t1 JOIN t2 ON t1.k = t2.k"},
	    {"join3", "SELECT t1.id, t2.name, t3.tag FROM t1 JOIN t2 ON t1.k = t2.k "
	              "JOIN t3 ON t3.k = t2.k WHERE t1.v IS NOT NULL"},
	    {"nonequi", "SELECT t1.id, t2.name FROM t1 JOIN t2 ON t1.v < t2.w AND t1.k <> t2.k"},
	    {"selfjoin", "SELECT a.id, b.id AS other FROM t1 a JOIN t1 b ON a.k = b.k AND a.id < b.id"},
	    {"agg", "SELECT k, count(*) AS n, count(v) AS nv, sum(v) AS s, avg(v) AS a, min(v) AS mn, "
	            "max(v) AS mx FROM t1 GROUP BY k"},
	    {"having", "SELECT k, sum(v) AS s FROM t1 GROUP BY k HAVING count(*) > 1"},
	    {"agg_join", "SELECT t2.name, count(*) AS n, sum(t1.v) AS s, min(t1.v) AS mn, "
	                 "max(t2.w) AS mx FROM t1 JOIN t2 ON t1.k = t2.k GROUP BY t2.name"},
	    {"distinct", "SELECT DISTINCT k, v FROM t1"},
	    {"union_all", "SELECT id, v FROM t1 WHERE v < 30 UNION ALL SELECT k, w FROM t2"},
	    {"view", "SELECT id, name FROM v12 WHERE id % 2 = 0"},
	    {"view_agg", "SELECT name, count(*) AS n FROM v12 GROUP BY name"},
	};
	return shapes;
}

class OracleTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
		conn_->Exec("DROP VIEW IF EXISTS v12; DROP TABLE IF EXISTS t1, t2, t3 CASCADE;"
		            "CREATE TABLE t1 (id int, k int, v int);"
		            "CREATE TABLE t2 (k int, name text, w int);"
		            "CREATE TABLE t3 (k int, tag text);"
		            "CREATE VIEW v12 AS SELECT t1.id, t1.v, t2.name FROM t1 JOIN t2 USING (k);"
		            // Force DIFFERENTIAL whatever the share of changed rows, to test the engine.
		            "ALTER DATABASE " +
		            db() + " SET pg_trickle.differential_max_change_ratio = 1000;");
		conn_ = Connect();
	}

	std::string Val(std::mt19937 &rng, int lo, int hi, int null_percent = 10) {
		if (std::uniform_int_distribution<int>(1, 100)(rng) <= null_percent) {
			return "NULL";
		}
		return std::to_string(std::uniform_int_distribution<int>(lo, hi)(rng));
	}

	std::string Name(std::mt19937 &rng) {
		static const char *names[] = {"'a'", "'b'", "'c'", "'d'", "NULL"};
		return names[std::uniform_int_distribution<int>(0, 4)(rng)];
	}

	// One random statement on one of the sources.
	std::string RandomChange(std::mt19937 &rng) {
		int table = std::uniform_int_distribution<int>(1, 3)(rng);
		int op = std::uniform_int_distribution<int>(1, 10)(rng);
		std::string id = Val(rng, 1, 30, 0);
		std::string k = Val(rng, 1, 6);
		if (table == 1) {
			if (op <= 5) {
				return "INSERT INTO t1 VALUES (" + id + ", " + k + ", " + Val(rng, 0, 100) + ")";
			}
			if (op <= 7) {
				return "UPDATE t1 SET v = " + Val(rng, 0, 100) + " WHERE id = " + id;
			}
			if (op == 8) {
				return "UPDATE t1 SET k = " + k + " WHERE id = " + id; // key change
			}
			return "DELETE FROM t1 WHERE id = " + id;
		}
		if (table == 2) {
			if (op <= 5) {
				return "INSERT INTO t2 VALUES (" + k + ", " + Name(rng) + ", " + Val(rng, 0, 100) +
				       ")";
			}
			if (op <= 7) {
				return "UPDATE t2 SET w = " + Val(rng, 0, 100) + ", name = " + Name(rng) +
				       " WHERE k = " + k;
			}
			return "DELETE FROM t2 WHERE k = " + k + " AND w < 50";
		}
		if (op <= 6) {
			return "INSERT INTO t3 VALUES (" + k + ", " + Name(rng) + ")";
		}
		return "DELETE FROM t3 WHERE k = " + k;
	}

	// Rows of the stream table not in the query plus rows of the query not in the table.
	std::string Mismatches(const std::string &st, const std::string &query) {
		return conn_->Scalar("SELECT count(*) FROM ((SELECT * FROM " + st +
		                     " EXCEPT ALL SELECT * FROM (" + query +
		                     ") q) UNION ALL (SELECT * FROM (" + query +
		                     ") q EXCEPT ALL SELECT * FROM " + st + ")) d");
	}
};

TEST_F(OracleTest, DifferentialEqualsFullOnRandomWorkloads) {
	const unsigned seed = Seed();
	const int cycles = Cycles();
	SCOPED_TRACE("oracle seed " + std::to_string(seed) +
	             " (rerun with PGT_ORACLE_SEED=" + std::to_string(seed) + ")");
	std::mt19937 rng(seed);
	for (int i = 0; i < 40; i++) {
		conn_->Exec(RandomChange(rng));
	}
	std::vector<std::pair<std::string, std::string>> tables; // (stream table, query)
	for (const auto &shape : Shapes()) {
		std::string st = "o_" + shape.name;
		conn_->Exec("SELECT pgtrickle.create_stream_table('" + st + "', $q$" + shape.query +
		            "$q$, schedule => '24h', refresh_mode => 'DIFFERENTIAL')");
		tables.emplace_back(st, shape.query);
	}
	// A diamond whose branches are DIFFERENTIAL, and a stream table over a stream table.
	const std::vector<std::pair<std::string, std::string>> diamond = {
	    {"d_b", "SELECT id, k, v FROM t1 WHERE k IS NOT NULL"},
	    {"d_c", "SELECT k, sum(v) AS s, count(*) AS n FROM t1 GROUP BY k"},
	    {"d_d", "SELECT b.id, b.v, c.s, c.n FROM d_b b JOIN d_c c ON b.k = c.k"},
	    {"s_over", "SELECT id, v + 1 AS v1 FROM o_filter"},
	};
	for (const auto &[st, query] : diamond) {
		conn_->Exec("SELECT pgtrickle.create_stream_table('" + st + "', $q$" + query +
		            "$q$, schedule => '24h', refresh_mode => 'DIFFERENTIAL')");
		tables.emplace_back(st, query);
	}
	ASSERT_EQ(conn_->Scalar("SELECT count(DISTINCT group_id) FROM pgtrickle.diamond_groups() "
	                        "g WHERE g.member_name = 'd_d'"),
	          "1");

	int differential = 0;
	for (int cycle = 0; cycle < cycles; cycle++) {
		SCOPED_TRACE("cycle " + std::to_string(cycle));
		int changes = std::uniform_int_distribution<int>(1, 8)(rng);
		conn_->Exec("BEGIN");
		for (int i = 0; i < changes; i++) {
			conn_->Exec(RandomChange(rng));
		}
		conn_->Exec("COMMIT");
		// Refresh in creation order (topological for these tables); d_d refreshes its whole
		// atomic group (d_b, d_c, d_d).
		for (const auto &[st, query] : tables) {
			conn_->Exec("SELECT pgtrickle.refresh_stream_table('" + st + "')");
		}
		for (const auto &[st, query] : tables) {
			ASSERT_EQ(Mismatches(st, query), "0")
			    << st << " differs from its query after cycle " << cycle << "\nquery: " << query;
		}
	}
	differential = std::stoi(conn_->Scalar(
	    "SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE action = 'DIFFERENTIAL'"));
	std::string full_after_initial =
	    conn_->Scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history "
	                  "WHERE action IN ('FULL', 'REINITIALIZE') AND initiated_by <> 'INITIAL'");
	// The engine really ran: most refreshes were differential, none fell back to FULL.
	EXPECT_GT(differential, cycles) << "too few DIFFERENTIAL refreshes";
	EXPECT_EQ(full_after_initial, "0") << "some refreshes fell back to FULL";
}

} // namespace
} // namespace pgt::e2e
