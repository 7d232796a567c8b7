// End-to-end test of change capture under logical replication (SPEC §9: no change is lost under
// session_replication_role = replica or logical replication into a source). A private cluster
// with wal_level = logical holds a publisher database and a subscriber database; the subscribed
// table is a source of DIFFERENTIAL stream tables. The apply worker runs with
// session_replication_role = replica and fires row triggers only (no statement triggers), and
// the initial table synchronization is a COPY: every replicated insert, update, delete and
// truncate must reach the stream tables, each exactly once.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

std::string SqlLiteral(const std::string &s) {
	std::string out = "'";
	for (char c : s) {
		out += c;
		if (c == '\'') {
			out += '\'';
		}
	}
	return out + "'";
}

// The table's rows as one text value, to compare publisher and subscriber.
const char *kContents =
    "SELECT coalesce(string_agg(id || ':' || grp || ':' || v, ',' ORDER BY id), "
    "'') FROM src";

class LogicalReplicationTest : public ::testing::Test {
  protected:
	void SetUp() override {
		cluster_ = std::make_unique<Cluster>(
		    std::map<std::string, std::string>{{"wal_level", "logical"},
		                                       {"port", std::to_string(GlobalCluster().port() + 2)},
		                                       {"wal_retrieve_retry_interval", "200ms"}});
		cluster_->Start();
		cluster_->CreateDatabase("lr_pub");
		cluster_->CreateDatabase("lr_sub");
		pub_ = cluster_->Connect("lr_pub");
		sub_ = cluster_->Connect("lr_sub");
	}

	void TearDown() override {
		if (HasFailure()) {
			std::cerr << "---- server log (tail) ----\n" << cluster_->LogTail(120) << "\n";
		}
		if (sub_) {
			sub_->TryExec("DROP SUBSCRIPTION IF EXISTS lr_s");
		}
		pub_.reset();
		sub_.reset();
		cluster_->Stop();
	}

	// Waits until the subscriber's src has the publisher's rows.
	void WaitForReplication() {
		std::string want = pub_->Scalar(kContents);
		bool caught_up = WaitFor([&] { return sub_->Scalar(kContents) == want; }, 60s, 100ms);
		ASSERT_TRUE(caught_up) << "subscriber has " << sub_->Scalar(kContents) << ", publisher "
		                       << want;
	}

	// Refreshes st on the subscriber; returns the refresh's action.
	std::string Refresh(const std::string &st) {
		sub_->Exec("SELECT pgtrickle.refresh_stream_table(" + SqlLiteral(st) + ")");
		return sub_->Scalar("SELECT action FROM pgtrickle.get_refresh_history(" + SqlLiteral(st) +
		                    ", 1)");
	}

	// Rows of st that differ from its query, as multisets (0 when equal), plus count mismatch.
	std::string Difference(const std::string &st, const std::string &query) {
		return sub_->Scalar("SELECT (SELECT count(*) FROM (SELECT * FROM " + st + " EXCEPT ALL (" +
		                    query + ")) a) || '/' || (SELECT count(*) FROM ((" + query +
		                    ") EXCEPT ALL SELECT * FROM " + st +
		                    ") b) || '/' || ((SELECT count(*) FROM " + st +
		                    ") - (SELECT count(*) FROM (" + query + ") c))");
	}

	std::unique_ptr<Cluster> cluster_;
	std::unique_ptr<Conn> pub_;
	std::unique_ptr<Conn> sub_;
};

TEST_F(LogicalReplicationTest, ReplicatedChangesReachDifferentialStreamTables) {
	const std::string rows_q = "SELECT id, grp, v FROM src";
	const std::string sums_q = "SELECT grp, count(*) AS n, sum(v) AS s FROM src GROUP BY grp";

	pub_->Exec("CREATE TABLE src (id int PRIMARY KEY, grp text NOT NULL, v int NOT NULL)");
	pub_->Exec("INSERT INTO src SELECT g, 'g' || g % 3, g FROM generate_series(1, 20) g");
	pub_->Exec("CREATE PUBLICATION lr_p FOR TABLE src");
	// CREATE SUBSCRIPTION cannot create a slot in the same cluster (it would wait for itself).
	pub_->Exec("SELECT pg_create_logical_replication_slot('lr_s', 'pgoutput')");

	sub_->Exec("CREATE EXTENSION pg_trickle");
	sub_->Exec("CREATE TABLE src (id int PRIMARY KEY, grp text NOT NULL, v int NOT NULL)");
	sub_->Exec("SELECT pgtrickle.create_stream_table('lr_rows', " + SqlLiteral(rows_q) +
	           ", '1h', 'DIFFERENTIAL')");
	sub_->Exec("SELECT pgtrickle.create_stream_table('lr_sums', " + SqlLiteral(sums_q) +
	           ", '1h', 'DIFFERENTIAL')");
	// DIFFERENTIAL whatever the share of changed rows: a FULL refresh would hide a lost change.
	sub_->Exec("SET pg_trickle.differential_max_change_ratio = 1000000");

	sub_->Exec("CREATE SUBSCRIPTION lr_s CONNECTION " + SqlLiteral(cluster_->ConnInfo("lr_pub")) +
	           " PUBLICATION lr_p WITH (create_slot = false, slot_name = 'lr_s')");

	// Initial synchronization (a COPY in the table sync worker).
	WaitForReplication();
	EXPECT_EQ(Refresh("lr_rows"), "DIFFERENTIAL");
	EXPECT_EQ(Refresh("lr_sums"), "DIFFERENTIAL");
	EXPECT_EQ(Difference("lr_rows", rows_q), "0/0/0");
	EXPECT_EQ(Difference("lr_sums", sums_q), "0/0/0");
	EXPECT_EQ(sub_->Scalar("SELECT count(*) FROM lr_rows"), "20");

	// Streamed changes, in several transactions, one of them touching a row twice.
	pub_->Exec("INSERT INTO src SELECT g, 'g' || g % 4, g * 2 FROM generate_series(21, 30) g");
	pub_->Exec("UPDATE src SET v = v + 100 WHERE id % 5 = 0");
	pub_->Exec("DELETE FROM src WHERE id % 7 = 0");
	pub_->Exec("BEGIN; UPDATE src SET grp = 'moved' WHERE id = 1; "
	           "UPDATE src SET v = -1 WHERE id = 1; INSERT INTO src VALUES (100, 'new', 1); "
	           "COMMIT");
	WaitForReplication();
	EXPECT_EQ(Refresh("lr_rows"), "DIFFERENTIAL");
	EXPECT_EQ(Difference("lr_rows", rows_q), "0/0/0");
	// The grouped one only after more changes: both kinds of pending rows are kept for it.
	pub_->Exec("UPDATE src SET grp = 'g0' WHERE grp = 'g1'");
	WaitForReplication();
	EXPECT_EQ(Refresh("lr_sums"), "DIFFERENTIAL");
	EXPECT_EQ(Difference("lr_sums", sums_q), "0/0/0");
	EXPECT_EQ(Refresh("lr_rows"), "DIFFERENTIAL");
	EXPECT_EQ(Difference("lr_rows", rows_q), "0/0/0");

	// A replicated TRUNCATE makes the next refresh FULL.
	pub_->Exec("BEGIN; TRUNCATE src; INSERT INTO src VALUES (1, 'a', 1), (2, 'b', 2); COMMIT");
	WaitForReplication();
	EXPECT_EQ(Refresh("lr_rows"), "FULL");
	EXPECT_EQ(Refresh("lr_sums"), "FULL");
	EXPECT_EQ(Difference("lr_rows", rows_q), "0/0/0");
	EXPECT_EQ(Difference("lr_sums", sums_q), "0/0/0");
	EXPECT_EQ(sub_->Scalar("SELECT count(*) FROM lr_rows"), "2");

	// And DIFFERENTIAL again afterwards.
	pub_->Exec("INSERT INTO src VALUES (3, 'a', 3)");
	pub_->Exec("DELETE FROM src WHERE id = 2");
	WaitForReplication();
	EXPECT_EQ(Refresh("lr_rows"), "DIFFERENTIAL");
	EXPECT_EQ(Refresh("lr_sums"), "DIFFERENTIAL");
	EXPECT_EQ(Difference("lr_rows", rows_q), "0/0/0");
	EXPECT_EQ(Difference("lr_sums", sums_q), "0/0/0");
}

} // namespace
} // namespace pgt::e2e
