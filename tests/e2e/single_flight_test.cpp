// Manual refreshes racing the scheduler on the same stream table: they never overlap and never
// apply a change twice. The manual call either refreshes (when the scheduler is not running that
// table) or fails at once with 55P03; the table always ends equal to its query.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

class SingleFlightTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
	}
};

TEST_F(SingleFlightTest, ManualRefreshRacingTheSchedulerNeverOverlapsOrDoubleApplies) {
	conn_->Exec("DROP TABLE IF EXISTS sf_src CASCADE;"
	            "CREATE TABLE sf_src (id int PRIMARY KEY, v int);"
	            "INSERT INTO sf_src SELECT g, g FROM generate_series(1, 200) g;"
	            // A refresh that takes a while, so that the two sides really meet.
	            "CREATE OR REPLACE FUNCTION sf_slow(int) RETURNS int LANGUAGE sql VOLATILE AS "
	            "$$ SELECT CASE WHEN $1 = 1 THEN (SELECT 1 FROM pg_sleep(0.4)) ELSE 1 END $$;");
	conn_->Exec("SELECT pgtrickle.create_stream_table('sf_diff', "
	            "'SELECT id, v FROM sf_src', schedule => '1s', refresh_mode => 'DIFFERENTIAL')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('sf_full', "
	            "'SELECT id, v * sf_slow(id) AS v FROM sf_src', schedule => '1s', "
	            "refresh_mode => 'FULL')");

	int refreshed = 0;
	int refused = 0;
	auto deadline = std::chrono::steady_clock::now() + 8s;
	int i = 0;
	while (std::chrono::steady_clock::now() < deadline) {
		conn_->Exec("UPDATE sf_src SET v = v + 1 WHERE id = " + std::to_string(1 + i % 200));
		conn_->Exec("INSERT INTO sf_src VALUES (" + std::to_string(1000 + i) + ", 0)");
		i++;
		std::this_thread::sleep_for(20ms); // a steady stream of writes
		if (i % 70 != 0) {
			continue; // manual refreshes about every 1.5 s; the schedule is 1 s
		}
		for (const char *st : {"sf_diff", "sf_full"}) {
			auto error =
			    conn_->TryExec(std::string("SELECT pgtrickle.refresh_stream_table('") + st + "')");
			if (!error) {
				refreshed++;
			} else {
				ASSERT_EQ(error->sqlstate, "55P03") << error->message;
				refused++;
			}
		}
	}
	// Both sides ran: manual refreshes succeeded and the scheduler refreshed too.
	EXPECT_GT(refreshed, 0);
	EXPECT_GT(std::stoi(conn_->Scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history "
	                                  "WHERE initiated_by = 'SCHEDULER' AND status = 'COMPLETED' "
	                                  "AND action <> 'NO_DATA'")),
	          0);
	std::cout << "manual refreshes: " << refreshed << " done, " << refused << " refused (55P03)\n";

	// No two refreshes of one stream table ever overlapped in time.
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history a "
	                        "JOIN pgtrickle.pgt_refresh_history b ON a.pgt_id = b.pgt_id "
	                        "AND a.refresh_id < b.refresh_id "
	                        "AND tstzrange(a.start_time, a.end_time) && "
	                        "tstzrange(b.start_time, b.end_time)"),
	          "0");

	// Nothing lost or applied twice: after one more refresh both equal their query.
	for (const char *st : {"sf_diff", "sf_full"}) {
		ASSERT_TRUE(WaitFor(
		    [&] {
			    return !conn_->TryExec(std::string("SELECT pgtrickle.refresh_stream_table('") + st +
			                           "')");
		    },
		    10s));
	}
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM ((SELECT * FROM sf_diff EXCEPT ALL "
	                        "SELECT id, v FROM sf_src) UNION ALL (SELECT id, v FROM sf_src "
	                        "EXCEPT ALL SELECT * FROM sf_diff)) d"),
	          "0");
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM ((SELECT * FROM sf_full EXCEPT ALL "
	                        "SELECT id, v FROM sf_src) UNION ALL (SELECT id, v FROM sf_src "
	                        "EXCEPT ALL SELECT * FROM sf_full)) d"),
	          "0");
}

} // namespace
} // namespace pgt::e2e
