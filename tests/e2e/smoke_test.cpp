// Smoke tests of the end-to-end harness against the installed extension: create, query, manual
// refresh and drop of a FULL stream table, transactional create, and the default GUCs. They use
// manual refresh and long schedules, so they do not depend on the scheduler's timing.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace pgt::e2e {
namespace {

using std::chrono::milliseconds;

class SmokeTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
	}
};

TEST(HarnessTest, WaitForPollsUntilTrueOrDeadline) {
	int calls = 0;
	EXPECT_TRUE(WaitFor([&] { return ++calls == 3; }, milliseconds(2000), milliseconds(1)));
	EXPECT_EQ(calls, 3);
	EXPECT_FALSE(WaitFor([] { return false; }, milliseconds(20), milliseconds(5)));
}

TEST_F(SmokeTest, ConnErrorsCarrySqlstate) {
	auto err = conn_->TryExec("SELECT * FROM no_such_table_here");
	ASSERT_TRUE(err.has_value());
	EXPECT_EQ(err->sqlstate, "42P01");
	EXPECT_NE(err->message.find("no_such_table_here"), std::string::npos);
	try {
		conn_->Exec("SELECT 1/0");
		FAIL() << "division by zero did not throw";
	} catch (const PgError &e) {
		EXPECT_EQ(e.sqlstate(), "22012");
	}
	EXPECT_EQ(conn_->Scalar("SELECT 40 + 2"), "42");
	EXPECT_FALSE(conn_->ScalarOpt("SELECT NULL::int").has_value());
}

TEST_F(SmokeTest, CreateExtensionInFreshDatabase) {
	cluster().CreateDatabase("e2e_fresh");
	{
		auto conn = cluster().Connect("e2e_fresh");
		conn->Exec("CREATE EXTENSION pg_trickle");
		EXPECT_FALSE(conn->Scalar("SELECT pgtrickle.version()").empty());
		EXPECT_EQ(conn->Scalar("SELECT count(*) FROM pgtrickle.pgt_stream_tables"), "0");
		EXPECT_EQ(conn->Scalar("SELECT count(*) FROM pg_namespace "
		                       "WHERE nspname IN ('pgtrickle', 'pgtrickle_changes')"),
		          "2");
	}
	cluster().DropDatabase("e2e_fresh");
}

TEST_F(SmokeTest, PreloadedWithDefaultGucs) {
	EXPECT_EQ(conn_->Scalar("SHOW shared_preload_libraries"), "pg_trickle");
	EXPECT_EQ(conn_->Scalar("SHOW pg_trickle.diamond_consistency"), "atomic");
	EXPECT_EQ(conn_->Scalar("SHOW pg_trickle.diamond_schedule_policy"), "fastest");
	EXPECT_EQ(conn_->Scalar("SHOW pg_trickle.scheduler_interval_ms"), "100ms");
}

TEST_F(SmokeTest, FullStreamTableCreateQueryRefreshDrop) {
	conn_->Exec("CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount int)");
	conn_->Exec("INSERT INTO orders VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'ann', 5)");
	// A long schedule: the scheduler must not refresh it while this test runs.
	conn_->Exec("SELECT pgtrickle.create_stream_table('customer_totals', "
	            "$$SELECT customer, sum(amount) AS total, count(*) AS n "
	            "FROM orders GROUP BY customer$$, schedule => '1h', refresh_mode => 'FULL')");

	Rows rows = conn_->Query("SELECT customer, total, n FROM customer_totals ORDER BY customer");
	ASSERT_EQ(rows.size(), 2u);
	EXPECT_EQ(rows[0], (Row{"ann", "15", "2"}));
	EXPECT_EQ(rows[1], (Row{"bob", "20", "1"}));
	EXPECT_EQ(conn_->Scalar("SELECT status || ',' || refresh_mode || ',' || is_populated "
	                        "FROM pgtrickle.pgt_status() WHERE name = 'public.customer_totals'"),
	          "ACTIVE,FULL,true");

	conn_->Exec("INSERT INTO orders VALUES (4, 'cid', 7), (5, 'bob', 1)");
	// Not refreshed yet: still the old snapshot.
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM customer_totals"), "2");

	conn_->Exec("SELECT pgtrickle.refresh_stream_table('customer_totals')");
	rows = conn_->Query("SELECT customer, total, n FROM customer_totals ORDER BY customer");
	ASSERT_EQ(rows.size(), 3u);
	EXPECT_EQ(rows[0], (Row{"ann", "15", "2"}));
	EXPECT_EQ(rows[1], (Row{"bob", "21", "2"}));
	EXPECT_EQ(rows[2], (Row{"cid", "7", "1"}));
	// The stream table equals its defining query (multiset equality).
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM ("
	                        "(SELECT customer, total, n FROM customer_totals "
	                        " EXCEPT ALL SELECT customer, sum(amount), count(*) FROM orders "
	                        " GROUP BY customer) UNION ALL "
	                        "(SELECT customer, sum(amount), count(*) FROM orders GROUP BY customer "
	                        " EXCEPT ALL SELECT customer, total, n FROM customer_totals)) d"),
	          "0");

	conn_->Exec("SELECT pgtrickle.drop_stream_table('customer_totals')");
	EXPECT_FALSE(conn_->ScalarOpt("SELECT to_regclass('customer_totals')::text").has_value());
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM pgtrickle.pgt_stream_tables "
	                        "WHERE pgt_name = 'customer_totals'"),
	          "0");
	conn_->Exec("DROP TABLE orders");
}

TEST_F(SmokeTest, RollbackOfCreateLeavesNothingBehind) {
	conn_->Exec("CREATE TABLE items (id int PRIMARY KEY, price int)");
	conn_->Exec("INSERT INTO items VALUES (1, 100), (2, 200)");
	const std::string objects_sql =
	    "SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables) || ',' || "
	    "(SELECT count(*) FROM pgtrickle.pgt_dependencies) || ',' || "
	    "(SELECT count(*) FROM pgtrickle.pgt_change_tracking) || ',' || "
	    "(SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass) || ',' || "
	    "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	    " WHERE n.nspname = 'pgtrickle_changes')";
	const std::string before = conn_->Scalar(objects_sql);

	conn_->Exec("BEGIN");
	conn_->Exec("SELECT pgtrickle.create_stream_table('items_rb', "
	            "'SELECT id, price * 2 AS double_price FROM items', "
	            "schedule => '1h', refresh_mode => 'FULL')");
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM items_rb"), "2");
	conn_->Exec("ROLLBACK");

	EXPECT_FALSE(conn_->ScalarOpt("SELECT to_regclass('items_rb')::text").has_value());
	EXPECT_EQ(conn_->Scalar(objects_sql), before);
	conn_->Exec("DROP TABLE items");
}

TEST_F(SmokeTest, StreamTablesSurviveARestart) {
	conn_->Exec("CREATE TABLE kv (k int PRIMARY KEY, v text)");
	conn_->Exec("INSERT INTO kv VALUES (1, 'one'), (2, 'two')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('kv_copy', 'SELECT k, v FROM kv', "
	            "schedule => '1h', refresh_mode => 'FULL')");
	const int pid_before = cluster().ServerPid();
	ASSERT_GT(pid_before, 0);

	conn_.reset();
	cluster().Restart();
	EXPECT_NE(cluster().ServerPid(), pid_before);
	conn_ = Connect();

	EXPECT_EQ(conn_->Scalar("SELECT string_agg(v, ',' ORDER BY k) FROM kv_copy"), "one,two");
	conn_->Exec("INSERT INTO kv VALUES (3, 'three')");
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('kv_copy')");
	EXPECT_EQ(conn_->Scalar("SELECT string_agg(v, ',' ORDER BY k) FROM kv_copy"), "one,two,three");
	conn_->Exec("SELECT pgtrickle.drop_stream_table('kv_copy')");
	conn_->Exec("DROP TABLE kv");
}

TEST_F(SmokeTest, RefreshOfUnknownNameIsAProperError) {
	auto err = conn_->TryExec("SELECT pgtrickle.refresh_stream_table('no_such_stream_table')");
	ASSERT_TRUE(err.has_value());
	EXPECT_EQ(err->sqlstate.size(), 5u);
	EXPECT_NE(err->sqlstate, "XX000") << err->message;
	// The connection is usable afterwards.
	EXPECT_EQ(conn_->Scalar("SELECT 1"), "1");
}

} // namespace
} // namespace pgt::e2e
