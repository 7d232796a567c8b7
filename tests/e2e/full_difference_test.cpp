// A FULL refresh of a populated stream table writes only the rows that differ from the stored
// ones (docs/architecture.md, "Refresh"): unchanged rows keep their row versions, and a
// DIFFERENTIAL stream table reading it receives only the real change in its change buffer,
// never a delete and re-insert of every row.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pgt::e2e {
namespace {

class FullDifferenceTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
	}
	std::string LastRefresh(const std::string &name) {
		return conn_->Scalar(
		    "SELECT h.action || ' -' || h.rows_deleted || ' +' || h.rows_inserted "
		    "FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables "
		    "s USING (pgt_id) WHERE s.pgt_name = '" +
		    name + "' ORDER BY h.refresh_id DESC LIMIT 1");
	}
};

TEST_F(FullDifferenceTest, DownstreamReceivesOnlyTheRealChange) {
	conn_->Exec("CREATE TABLE fd_src (id int PRIMARY KEY, v numeric NOT NULL, tag text)");
	conn_->Exec(
	    "INSERT INTO fd_src SELECT g, g % 7, 't' || (g % 3) FROM generate_series(1, 1000) g");
	// Duplicated rows in the upstream (v, tag repeat) and a value whose scale alone changes.
	conn_->Exec("SELECT pgtrickle.create_stream_table('fd_up', 'SELECT v, tag, id % 10 AS m FROM "
	            "fd_src', schedule => '1h', refresh_mode => 'FULL')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('fd_down', 'SELECT v, tag, m FROM fd_up "
	            "WHERE m < 5', schedule => '1h', refresh_mode => 'DIFFERENTIAL')");
	const std::string buffer =
	    conn_->Scalar("SELECT 'pgtrickle_changes.changes_' || 'fd_up'::regclass::oid");
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('fd_down')");
	ASSERT_EQ(conn_->Scalar("SELECT count(*) FROM " + buffer), "0");
	const std::string versions_before =
	    conn_->Scalar("SELECT count(DISTINCT xmin::text) FROM fd_up");

	// One row changes: its value keeps "=" but not its identity (3 -> 3.0).
	conn_->Exec("UPDATE fd_src SET v = 3.0 WHERE id = 3");
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('fd_up')");
	EXPECT_EQ(LastRefresh("fd_up"), "FULL -1 +1");
	// The change buffer fd_down reads holds the one row's delete and insert.
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM " + buffer), "2");
	// The other 999 rows were not rewritten.
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM fd_up WHERE xmin::text::bigint = "
	                        "(SELECT max(xmin::text::bigint) FROM fd_up)"),
	          "1");
	EXPECT_EQ(conn_->Scalar("SELECT count(DISTINCT xmin::text) FROM fd_up"),
	          std::to_string(std::stoi(versions_before) + 1));
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('fd_down')");
	EXPECT_EQ(LastRefresh("fd_down"), "DIFFERENTIAL -1 +1");
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM fd_down WHERE v::text = '3.0'"), "1");

	// Duplicates: two of the identical rows go, one new copy appears elsewhere.
	// Rows repeat every 210 ids: ids 17 and 227 are both (3, t2, 7), and id 43 (1, t1, 3)
	// becomes a copy of (0, t0, 3).
	conn_->Exec("DELETE FROM fd_src WHERE id IN (17, 227)");
	conn_->Exec("UPDATE fd_src SET v = 0, tag = 't0' WHERE id = 43");
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('fd_up')");
	EXPECT_EQ(LastRefresh("fd_up"), "FULL -3 +1");
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM " + buffer), "4");
	const char *same = "SELECT (SELECT count(*) FROM (SELECT v::text, tag, m FROM fd_up EXCEPT ALL "
	                   "SELECT v::text, tag, id % 10 FROM fd_src) a) + (SELECT count(*) FROM "
	                   "(SELECT v::text, tag, id % 10 FROM fd_src EXCEPT ALL SELECT v::text, tag, "
	                   "m FROM fd_up) b)";
	EXPECT_EQ(conn_->Scalar(same), "0");
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('fd_down')");
	EXPECT_EQ(LastRefresh("fd_down"), "DIFFERENTIAL -1 +1");
	EXPECT_EQ(conn_->Scalar("SELECT (SELECT count(*) FROM (SELECT v::text, tag, m FROM fd_down "
	                        "EXCEPT ALL SELECT v::text, tag, m FROM fd_up WHERE m < 5) a) + "
	                        "(SELECT count(*) FROM (SELECT v::text, tag, m FROM fd_up WHERE m < 5 "
	                        "EXCEPT ALL SELECT v::text, tag, m FROM fd_down) b)"),
	          "0");

	// Nothing changed in the sources: a FULL refresh writes nothing.
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('fd_up')");
	EXPECT_EQ(conn_->Scalar("SELECT count(*) FROM " + buffer), "0");

	conn_->Exec("SELECT pgtrickle.drop_stream_table('fd_down')");
	conn_->Exec("SELECT pgtrickle.drop_stream_table('fd_up')");
	conn_->Exec("DROP TABLE fd_src");
}

} // namespace
} // namespace pgt::e2e
