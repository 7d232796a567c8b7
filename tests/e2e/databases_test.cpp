// Many databases, few worker slots: the launcher runs a scheduler only in databases that have
// stream tables, a database gains one when its first stream table is created and gives it up when
// its last is dropped, and health_check() says when a database with stream tables has none and
// why. A private cluster with max_worker_processes = 3 (the launcher plus two schedulers; no
// logical replication launcher, no parallel workers) and five databases with the extension.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <iostream>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

class ManyDatabasesTest : public ::testing::Test {
  protected:
	void SetUp() override {
		cluster_ = std::make_unique<Cluster>(
		    std::map<std::string, std::string>{{"port", std::to_string(GlobalCluster().port() + 3)},
		                                       {"max_worker_processes", "3"},
		                                       {"max_logical_replication_workers", "0"},
		                                       {"max_parallel_workers", "0"},
		                                       {"max_parallel_workers_per_gather", "0"},
		                                       {"log_min_messages", "warning"}});
		cluster_->Start();
		conn_ = cluster_->Connect("postgres");
		for (const char *db : {"md1", "md2", "md3", "md4", "md5"}) {
			cluster_->CreateDatabase(db);
			cluster_->Connect(db)->Exec("CREATE EXTENSION pg_trickle;"
			                            "CREATE TABLE src (id int PRIMARY KEY, v int);"
			                            "INSERT INTO src VALUES (1, 1)");
		}
	}

	void TearDown() override {
		if (HasFailure()) {
			std::cerr << "---- server log (tail) ----\n" << cluster_->LogTail(120) << "\n";
		}
		conn_.reset();
		cluster_->Stop();
	}

	// Databases (sorted) with a running scheduler.
	std::string Schedulers() {
		return conn_->Scalar("SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') "
		                     "FROM pg_stat_activity WHERE backend_type = 'pg_trickle scheduler'");
	}

	void CreateStreamTable(const std::string &db) {
		cluster_->Connect(db)->Exec("SELECT pgtrickle.create_stream_table('st', "
		                            "'SELECT id, v FROM src', '1s', 'FULL')");
	}

	std::pair<std::string, std::string> Health(const std::string &db) {
		Rows rows = cluster_->Connect(db)->Query(
		    "SELECT severity, detail FROM pgtrickle.health_check() WHERE check_name = 'scheduler'");
		return {*rows.at(0)[0], *rows.at(0)[1]};
	}

	std::unique_ptr<Cluster> cluster_;
	std::unique_ptr<Conn> conn_;
};

TEST_F(ManyDatabasesTest, SchedulersOnlyWhereStreamTablesAreAndHealthCheckSaysWhyNot) {
	// Five databases with the extension, none with a stream table: after the probes, no
	// scheduler holds a slot, and health_check is content.
	EXPECT_TRUE(WaitFor([&] { return Schedulers().empty(); }, 30s, 100ms)) << Schedulers();
	auto [severity, detail] = Health("md3");
	EXPECT_EQ(severity, "OK") << detail;
	EXPECT_NE(detail.find("no stream table"), std::string::npos) << detail;

	// Stream tables in md1 and md2: each gets a scheduler, which refreshes.
	CreateStreamTable("md1");
	CreateStreamTable("md2");
	EXPECT_TRUE(WaitFor([&] { return Schedulers() == "md1,md2"; }, 30s, 100ms)) << Schedulers();
	auto md1 = cluster_->Connect("md1");
	md1->Exec("INSERT INTO src VALUES (2, 2)");
	EXPECT_TRUE(WaitFor([&] { return md1->Scalar("SELECT count(*) FROM st") == "2"; }, 30s, 100ms));
	EXPECT_EQ(Health("md1").first, "OK");

	// md5 gets a stream table but no slot is free: health_check says so and what to do, and
	// the launcher logs it.
	CreateStreamTable("md5");
	std::pair<std::string, std::string> h;
	EXPECT_TRUE(WaitFor(
	    [&] {
		    h = Health("md5");
		    return h.first == "ERROR";
	    },
	    30s, 200ms))
	    << h.first << ": " << h.second;
	EXPECT_NE(h.second.find("no background worker slot"), std::string::npos) << h.second;
	EXPECT_NE(h.second.find("max_worker_processes = 3"), std::string::npos) << h.second;
	EXPECT_NE(h.second.find("Raise max_worker_processes"), std::string::npos) << h.second;
	EXPECT_EQ(Schedulers(), "md1,md2");
	EXPECT_NE(cluster_->Log().find("could not start a scheduler for database"), std::string::npos);

	// Dropping md1's last stream table ends its scheduler cleanly; the freed slot goes to md5,
	// whose stream table is then refreshed.
	md1->Exec("SELECT pgtrickle.drop_stream_table('st')");
	EXPECT_TRUE(WaitFor([&] { return Schedulers() == "md2,md5"; }, 30s, 100ms)) << Schedulers();
	EXPECT_NE(cluster_->Log().find("no stream tables left in this database"), std::string::npos);
	auto md5 = cluster_->Connect("md5");
	md5->Exec("INSERT INTO src VALUES (2, 2)");
	EXPECT_TRUE(WaitFor([&] { return md5->Scalar("SELECT count(*) FROM st") == "2"; }, 30s, 100ms));
	EXPECT_EQ(Health("md5").first, "OK");

	// md2's last stream table dropped: only md5's scheduler runs, one slot is free.
	cluster_->Connect("md2")->Exec("SELECT pgtrickle.drop_stream_table('st')");
	EXPECT_TRUE(WaitFor([&] { return Schedulers() == "md5"; }, 30s, 100ms)) << Schedulers();

	// A restarted launcher adopts the running schedulers: it starts no second one (which would
	// exit at once, "already running") and the schedulers keep their processes.
	const std::string pids =
	    conn_->Scalar("SELECT string_agg(pid::text, ',' ORDER BY datname) FROM pg_stat_activity "
	                  "WHERE backend_type = 'pg_trickle scheduler'");
	const std::string launcher = conn_->Scalar(
	    "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_trickle launcher'");
	const std::size_t log_offset = cluster_->LogSize();
	conn_->Exec("SELECT pg_terminate_backend(" + launcher + ")");
	EXPECT_TRUE(WaitFor(
	    [&] {
		    auto pid = conn_->ScalarOpt("SELECT max(pid)::text FROM pg_stat_activity "
		                                "WHERE backend_type = 'pg_trickle launcher'");
		    return pid && *pid != launcher;
	    },
	    30s, 100ms));
	cluster_->Connect("md5")->Exec("SELECT pgtrickle.create_stream_table('st2', "
	                               "'SELECT id FROM src', '1s', 'FULL')"); // wakes it
	EXPECT_FALSE(WaitFor(
	    [&] { return cluster_->LogSince(log_offset).find("already running") != std::string::npos; },
	    8s, 200ms))
	    << cluster_->LogSince(log_offset);
	EXPECT_EQ(conn_->Scalar("SELECT string_agg(pid::text, ',' ORDER BY datname) FROM "
	                        "pg_stat_activity WHERE backend_type = 'pg_trickle scheduler'"),
	          pids);

	// A new first stream table in md1 takes the free slot.
	CreateStreamTable("md1");
	EXPECT_TRUE(WaitFor([&] { return Schedulers() == "md1,md5"; }, 30s, 100ms)) << Schedulers();

	// After a restart the launcher finds the databases with stream tables again.
	conn_.reset();
	md1.reset();
	md5.reset();
	cluster_->Restart();
	conn_ = cluster_->Connect("postgres");
	EXPECT_TRUE(WaitFor([&] { return Schedulers() == "md1,md5"; }, 60s, 200ms)) << Schedulers();
}

} // namespace
} // namespace pgt::e2e
