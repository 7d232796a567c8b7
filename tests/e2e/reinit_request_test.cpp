// A rebuild request (needs_reinit) that commits while the scheduler is between its two
// transactions for a stream table (T1 loaded the table and committed a RUNNING history row; T2
// refreshes) must survive that refresh: the next refresh rebuilds (REINITIALIZE) and the table
// equals its query. Before the fix, T2 refreshed with T1's stale copy and its success
// bookkeeping cleared needs_reinit unconditionally, erasing the request.
//
// Deterministic: a test session holds the DDL (CREATE OR REPLACE VIEW on the view the stream
// table reads, which marks it needs_reinit) uncommitted until the scheduler's T1 has committed
// its RUNNING row and its T2 is waiting for a lock the DDL holds (the view, or the catalog row the
// DDL's event trigger updated); only then does it commit.
//
// Also: pg_trickle.max_buffer_rows with the scheduler. A SUSPENDED reader of a shared change buffer
// is marked for a rebuild by the scheduler's refreshes of the other reader once it lags past the
// limit, the buffer is emptied, and after resume the scheduler rebuilds it.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

class ReinitRequestTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
	}

	std::string Scalar(const std::string &sql) {
		return conn_->Scalar(sql);
	}
};

TEST_F(ReinitRequestTest, RequestCommittedBetweenSchedulerTransactionsSurvives) {
	conn_->Exec("DROP TABLE IF EXISTS rq_src CASCADE;"
	            "CREATE TABLE rq_src (id int PRIMARY KEY, v int);"
	            "INSERT INTO rq_src SELECT g, g FROM generate_series(1, 20) g;"
	            "CREATE VIEW rq_view AS SELECT id, v FROM rq_src;");
	// A duration schedule: the scheduler runs T1 every second whatever the pending changes.
	conn_->Exec("SELECT pgtrickle.create_stream_table('rq_st', 'SELECT id, v FROM rq_view', "
	            "schedule => '1s', refresh_mode => 'FULL')");
	const std::string history = "pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables "
	                            "s USING (pgt_id) WHERE s.pgt_name = 'rq_st'";
	// The scheduler of this database refreshes the table on its own.
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Scalar("SELECT count(*) FROM " + history +
		                  " AND h.initiated_by = 'SCHEDULER' AND h.status = 'COMPLETED'") != "0";
	    },
	    30s))
	    << cluster().LogTail();

	// The DDL, uncommitted: the stream table is marked needs_reinit in this open transaction.
	auto ddl = Connect();
	ddl->Exec("BEGIN");
	// The view now returns other values, with no change captured on rq_src: only the rebuild
	// the DDL requested brings the stream table to its query.
	ddl->Exec("CREATE OR REPLACE VIEW rq_view AS SELECT id, v * 10 AS v FROM rq_src");
	ASSERT_EQ(ddl->Scalar("SELECT needs_reinit FROM pgtrickle.pgt_stream_tables "
	                      "WHERE pgt_name = 'rq_st'"),
	          "t");
	std::string before = Scalar("SELECT coalesce(max(h.refresh_id), 0) FROM " + history);

	// T1 committed a RUNNING row after the DDL began (so it could not see the request) ...
	std::string running;
	ASSERT_TRUE(WaitFor(
	    [&] {
		    running = Scalar("SELECT coalesce(max(h.refresh_id), 0) FROM " + history +
		                     " AND h.status = 'RUNNING' AND h.refresh_id > " + before);
		    return running != "0";
	    },
	    30s))
	    << cluster().LogTail();
	// ... and T2 waits for a lock the DDL's transaction holds.
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
		                  "'pg_trickle scheduler' AND datname = current_database() "
		                  "AND wait_event_type = 'Lock'") == "1";
	    },
	    30s))
	    << cluster().LogTail();
	ddl->Exec("COMMIT");

	// The refresh that was waiting finishes ...
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Scalar("SELECT status FROM pgtrickle.pgt_refresh_history WHERE refresh_id = " +
		                  running) != "RUNNING";
	    },
	    30s))
	    << cluster().LogTail();
	// ... without erasing the request: a later refresh rebuilds the table for it.
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return Scalar("SELECT count(*) FROM " + history +
		                  " AND h.action = 'REINITIALIZE' AND h.status = 'COMPLETED' "
		                  "AND h.refresh_id > " +
		                  running) != "0";
	    },
	    15s))
	    << "needs_reinit = "
	    << Scalar("SELECT needs_reinit FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'rq_st'")
	    << "\n"
	    << cluster().LogTail();
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return Scalar("SELECT needs_reinit FROM pgtrickle.pgt_stream_tables "
		                  "WHERE pgt_name = 'rq_st'") == "f";
	    },
	    15s));
	EXPECT_EQ(Scalar("SELECT count(*) FROM ((SELECT * FROM rq_st EXCEPT ALL "
	                 "SELECT id, v FROM rq_view) UNION ALL (SELECT id, v FROM rq_view "
	                 "EXCEPT ALL SELECT * FROM rq_st)) d"),
	          "0");
	conn_->Exec(
	    "SELECT pgtrickle.drop_stream_table('rq_st'); DROP VIEW rq_view; DROP TABLE rq_src");
}

TEST_F(ReinitRequestTest, SchedulerMarksALaggardPastMaxBufferRowsAndRebuildsItOnResume) {
	conn_->Exec("DROP TABLE IF EXISTS lg_src CASCADE;"
	            "CREATE TABLE lg_src (id int PRIMARY KEY, v int);"
	            "INSERT INTO lg_src SELECT g, g FROM generate_series(1, 10) g;");
	conn_->Exec("SELECT pgtrickle.create_stream_table('lg_fast', 'SELECT id, v FROM lg_src', "
	            "schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('lg_slow', 'SELECT id, v + 1 AS v FROM "
	            "lg_src', schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
	conn_->Exec("SELECT pgtrickle.alter_stream_table('lg_slow', status => 'SUSPENDED')");
	struct Reset {
		Cluster &cluster;
		~Reset() {
			try {
				auto c = cluster.Connect();
				c->Exec("ALTER SYSTEM RESET pg_trickle.max_buffer_rows");
				c->Exec("SELECT pg_reload_conf()");
			} catch (...) {
			}
		}
	} reset{cluster()};
	cluster().SetAndReload("pg_trickle.max_buffer_rows", "5");
	ASSERT_TRUE(WaitFor([&] { return Scalar("SHOW pg_trickle.max_buffer_rows") == "5"; }, 10s));

	const std::string buffered = "SELECT count(*) FROM pgtrickle_changes.changes_" +
	                             Scalar("SELECT 'lg_src'::regclass::oid::text");
	conn_->Exec("INSERT INTO lg_src SELECT g, g FROM generate_series(11, 30) g");
	// The scheduler refreshes lg_fast; its trim finds 20 rows kept only for lg_slow.
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Scalar("SELECT needs_reinit FROM pgtrickle.pgt_stream_tables "
		                  "WHERE pgt_name = 'lg_slow'") == "t";
	    },
	    30s))
	    << cluster().LogTail();
	EXPECT_TRUE(WaitFor([&] { return Scalar(buffered) == "0"; }, 30s)) << Scalar(buffered);
	EXPECT_NE(Scalar("SELECT value FROM pgtrickle.explain_st('lg_slow') "
	                 "WHERE property = 'reinit_reason'")
	              .find("pg_trickle.max_buffer_rows (5)"),
	          std::string::npos);
	EXPECT_EQ(Scalar("SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'lg_slow'"),
	          "SUSPENDED");
	EXPECT_EQ(Scalar("SELECT count(*) FROM ((TABLE lg_fast EXCEPT ALL TABLE lg_src) UNION ALL "
	                 "(TABLE lg_src EXCEPT ALL TABLE lg_fast)) d"),
	          "0");

	// Resumed, it is rebuilt by the scheduler and equals its query again.
	conn_->Exec("SELECT pgtrickle.resume_stream_table('lg_slow')");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history h JOIN "
		                  "pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = "
		                  "'lg_slow' AND h.action = 'REINITIALIZE' AND h.status = 'COMPLETED'") !=
		           "0";
	    },
	    30s))
	    << cluster().LogTail();
	EXPECT_EQ(Scalar("SELECT needs_reinit FROM pgtrickle.pgt_stream_tables "
	                 "WHERE pgt_name = 'lg_slow'"),
	          "f");
	EXPECT_EQ(
	    Scalar("SELECT count(*) FROM ((TABLE lg_slow EXCEPT ALL SELECT id, v + 1 FROM "
	           "lg_src) UNION ALL (SELECT id, v + 1 FROM lg_src EXCEPT ALL TABLE lg_slow)) d"),
	    "0");
	conn_->Exec("SELECT pgtrickle.drop_stream_table('lg_slow');"
	            "SELECT pgtrickle.drop_stream_table('lg_fast'); DROP TABLE lg_src");
}

} // namespace
} // namespace pgt::e2e
