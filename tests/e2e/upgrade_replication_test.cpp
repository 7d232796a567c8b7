// End-to-end tests of pg_upgrade (docs/operations.md "Upgrades (pg_upgrade)") and of publishing
// a stream table by logical replication (docs/operations.md "Replication"). Each test runs its
// own clusters next to the shared one.
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

// Rows of the stream table that differ from its defining query, as multisets.
std::string Diff(Conn &c, const std::string &st) {
	std::string q = c.Scalar("SELECT defining_query FROM pgtrickle.pgt_stream_tables "
	                         "WHERE pgt_schema || '.' || pgt_name = " +
	                         SqlLiteral(st));
	return c.Scalar("SELECT count(*) FROM ((SELECT * FROM " + st + " EXCEPT ALL " + q +
	                ") UNION ALL (" + q + " EXCEPT ALL SELECT * FROM " + st + ")) d");
}

const char *kProperties =
    "SELECT string_agg(concat_ws('|', pgt_id, pgt_relid, pgt_schema, pgt_name, defining_query, "
    "schedule, refresh_mode, status, diamond_consistency, group_epoch), E'\\n' "
    "ORDER BY pgt_id) FROM pgtrickle.pgt_stream_tables";

TEST(PgUpgradeTest, StreamTablesKeepWorking) {
	Cluster old_cluster({{"port", std::to_string(GlobalCluster().port() + 3)}});
	Cluster new_cluster({{"port", std::to_string(GlobalCluster().port() + 4)}});
	old_cluster.Start();
	old_cluster.CreateDatabase("up");
	std::string properties;
	{
		auto c = old_cluster.Connect("up");
		c->Exec("CREATE EXTENSION pg_trickle");
		c->Exec("CREATE SCHEMA app");
		c->Exec("CREATE TABLE app.orders (id int PRIMARY KEY, cust int NOT NULL, amt numeric)");
		c->Exec("CREATE FUNCTION app.double_it(int) RETURNS int IMMUTABLE LANGUAGE sql "
		        "AS 'SELECT $1 * 2'");
		c->Exec("INSERT INTO app.orders SELECT g, g % 5, g FROM generate_series(1, 30) g");
		c->Exec("SELECT pgtrickle.create_stream_table('app.st_agg', 'SELECT cust, sum(amt) AS s, "
		        "count(*) AS n FROM app.orders GROUP BY cust', '1h', 'DIFFERENTIAL')");
		c->Exec("SELECT pgtrickle.create_stream_table('app.st_fn', "
		        "'SELECT id, app.double_it(cust) AS d FROM app.orders WHERE amt > 3', '1h', "
		        "'DIFFERENTIAL')");
		c->Exec("SELECT pgtrickle.create_stream_table('app.st_top', "
		        "'SELECT cust, s FROM app.st_agg WHERE n > 5', '1h', 'DIFFERENTIAL')");
		// Changes pending across the upgrade: applied once, by a DIFFERENTIAL refresh (the
		// buffers and transaction ids survive pg_upgrade).
		c->Exec("INSERT INTO app.orders VALUES (31, 1, 100), (32, 2, 200)");
		c->Exec("DELETE FROM app.orders WHERE id = 5");
		properties = c->Scalar(kProperties);
	}
	new_cluster.Start(); // initdb
	new_cluster.Stop();
	old_cluster.Stop();

	std::string out;
	int rc = new_cluster.RunProgram(
	    {"pg_upgrade", "-b", old_cluster.bindir(), "-B", new_cluster.bindir(), "-d",
	     old_cluster.data_dir(), "-D", new_cluster.data_dir(), "-p",
	     std::to_string(old_cluster.port()), "-P", std::to_string(new_cluster.port()), "-s",
	     new_cluster.socket_dir(), "-U", new_cluster.user(), "--no-sync"},
	    &out);
	ASSERT_EQ(rc, 0) << out << "\n---- new cluster log ----\n" << new_cluster.LogTail(80);

	new_cluster.Start();
	{
		auto c = new_cluster.Connect("up");
		EXPECT_EQ(c->Scalar(kProperties), properties);
		for (const char *st : {"app.st_agg", "app.st_fn", "app.st_top"}) {
			c->Exec(std::string("SELECT pgtrickle.refresh_stream_table('") + st + "')");
			if (std::string(st) != "app.st_top") { // st_top: most of its source's rows changed
				EXPECT_EQ(
				    c->Scalar(std::string("SELECT action FROM pgtrickle.get_refresh_history('") +
				              st + "', 1)"),
				    "DIFFERENTIAL")
				    << st;
			}
			EXPECT_EQ(Diff(*c, st), "0") << st;
		}
		// Capture and the scheduler work in the new cluster.
		c->Exec("SELECT pgtrickle.alter_stream_table('app.st_agg', schedule => '1s')");
		c->Exec("SELECT pgtrickle.alter_stream_table('app.st_top', schedule => '1s')");
		c->Exec("INSERT INTO app.orders SELECT g, 3, g FROM generate_series(100, 120) g");
		EXPECT_TRUE(WaitFor([&] { return Diff(*c, "app.st_top") == "0"; }, 30s));
		EXPECT_EQ(c->Scalar("SELECT action FROM pgtrickle.get_refresh_history('app.st_agg', 1)"),
		          "DIFFERENTIAL");
		// A rename is followed (the stored parse tree is re-deparsed: its function OIDs must be
		// those of the new cluster).
		c->Exec("ALTER TABLE app.orders RENAME TO orders2");
		std::string query = c->Scalar("SELECT defining_query FROM pgtrickle.pgt_stream_tables "
		                              "WHERE pgt_name = 'st_fn'");
		EXPECT_NE(query.find("app.double_it("), std::string::npos) << query;
		EXPECT_NE(query.find("app.orders2"), std::string::npos) << query;
		c->Exec("UPDATE app.orders2 SET amt = amt + 1");
		c->Exec("SELECT pgtrickle.refresh_stream_table('app.st_fn')");
		EXPECT_EQ(Diff(*c, "app.st_fn"), "0");
	}
	if (HasFailure()) {
		std::cerr << "---- new cluster's log ----\n" << new_cluster.LogTail(80) << "\n";
	}
	new_cluster.Stop();
}

// A stream table's storage table is an ordinary table: it can be published, and a subscriber
// receives every refresh's result (the refresh's deletes and inserts). A publication that
// publishes deletes needs a replica identity: REPLICA IDENTITY FULL on the storage table.
TEST(PublishStreamTableTest, SubscriberReceivesRefreshes) {
	Cluster cluster({{"wal_level", "logical"},
	                 {"port", std::to_string(GlobalCluster().port() + 5)},
	                 {"wal_retrieve_retry_interval", "200ms"}});
	cluster.Start();
	cluster.CreateDatabase("pub_st");
	cluster.CreateDatabase("sub_st");
	auto pub = cluster.Connect("pub_st");
	auto sub = cluster.Connect("sub_st");
	pub->Exec("CREATE EXTENSION pg_trickle");
	pub->Exec("CREATE TABLE src (id int PRIMARY KEY, grp int, v numeric)");
	pub->Exec("INSERT INTO src SELECT g, g % 4, g FROM generate_series(1, 20) g");
	pub->Exec("SELECT pgtrickle.create_stream_table('totals', "
	          "'SELECT grp, sum(v) AS total, count(*) AS n FROM src GROUP BY grp', '1s', "
	          "'DIFFERENTIAL')");
	pub->Exec("SELECT pgtrickle.create_stream_table('wide', 'SELECT id, v FROM src', '1s', "
	          "'FULL')");
	pub->Exec("ALTER TABLE totals REPLICA IDENTITY FULL");
	pub->Exec("ALTER TABLE wide REPLICA IDENTITY FULL");
	pub->Exec("CREATE PUBLICATION st_pub FOR TABLE totals, wide");
	pub->Exec("SELECT pg_create_logical_replication_slot('st_sub', 'pgoutput')");
	sub->Exec("CREATE TABLE totals (grp int, total numeric, n bigint)");
	sub->Exec("CREATE TABLE wide (id int, v numeric)");
	sub->Exec("CREATE SUBSCRIPTION st_sub CONNECTION " + SqlLiteral(cluster.ConnInfo("pub_st")) +
	          " PUBLICATION st_pub WITH (create_slot = false, slot_name = 'st_sub')");

	auto contents = [](Conn &c, const std::string &t) {
		return c.Scalar("SELECT coalesce(string_agg(x::text, ',' ORDER BY x::text), '') FROM " + t +
		                " x");
	};
	auto caught_up = [&] {
		return contents(*sub, "totals") == contents(*pub, "totals") &&
		       contents(*sub, "wide") == contents(*pub, "wide");
	};
	EXPECT_TRUE(WaitFor(caught_up, 60s, 100ms)) << contents(*sub, "totals");

	// Refreshes (DIFFERENTIAL and FULL) reach the subscriber.
	pub->Exec("INSERT INTO src VALUES (21, 1, 5), (22, 9, 7)");
	pub->Exec("UPDATE src SET v = v * 10 WHERE id <= 4");
	pub->Exec("DELETE FROM src WHERE grp = 2");
	EXPECT_TRUE(WaitFor([&] { return Diff(*pub, "public.totals") == "0"; }, 30s));
	EXPECT_TRUE(WaitFor([&] { return Diff(*pub, "public.wide") == "0"; }, 30s));
	EXPECT_TRUE(WaitFor(caught_up, 60s, 100ms))
	    << "subscriber " << contents(*sub, "totals") << "\npublisher " << contents(*pub, "totals");
	EXPECT_EQ(pub->Scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history "
	                      "WHERE status <> 'COMPLETED'"),
	          "0");
	if (HasFailure()) {
		std::cerr << "---- server log ----\n" << cluster.LogTail(80) << "\n";
	}
	sub->Exec("DROP SUBSCRIPTION st_sub");
	pub.reset();
	sub.reset();
	cluster.Stop();
}

} // namespace
} // namespace pgt::e2e
