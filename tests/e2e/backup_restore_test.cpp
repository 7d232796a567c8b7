// End-to-end tests of backup and restore (docs/operations.md "Backup and restore"): pg_dump in
// plain and custom format, of the whole database and of one schema, restored with psql or
// pg_restore into a fresh database of the same cluster or of another one; data-only and
// schema-only dumps. After a restore every stream table keeps its definition, schedule, mode,
// status, consistency settings and group epoch; its rows are restored; its first refresh
// rebuilds it FULL (the change buffers and frontiers of the dumped database mean nothing in the
// new one), never NO_DATA over changes it did not apply; change capture works again.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

// What must survive a restore, per stream table (group epochs apart: the restored database's
// scheduler may refresh a group before the test reads it).
const char *kProperties =
    "SELECT string_agg(concat_ws('|', pgt_schema, pgt_name, original_query, defining_query, "
    "schedule, refresh_mode, status, diamond_consistency, diamond_schedule_policy, "
    "array_to_string(output_columns, ',')), E'\\n' ORDER BY pgt_schema, pgt_name) "
    "FROM pgtrickle.pgt_stream_tables";

const char *kEpochs = "SELECT string_agg(pgt_name || ':' || group_epoch, ',' ORDER BY pgt_name) "
                      "FROM pgtrickle.pgt_stream_tables";

// The source database: a schema `app` with two base tables, a user function and stream tables
// of every mode, a diamond (an atomic consistency group), and a suspended one.
void CreateSourceObjects(Conn &c) {
	c.Exec("CREATE EXTENSION IF NOT EXISTS pg_trickle");
	c.Exec("CREATE SCHEMA app");
	c.Exec("CREATE TABLE app.orders (id int PRIMARY KEY, cust int NOT NULL, amt numeric)");
	c.Exec("CREATE TABLE app.customers (id int PRIMARY KEY, name text)");
	c.Exec("CREATE FUNCTION app.double_it(int) RETURNS int IMMUTABLE LANGUAGE sql "
	       "AS 'SELECT $1 * 2'");
	c.Exec("INSERT INTO app.customers SELECT g, 'c' || g FROM generate_series(1, 5) g");
	c.Exec("INSERT INTO app.orders SELECT g, g % 5 + 1, g * 1.5 FROM generate_series(1, 40) g");
	c.Exec("SELECT pgtrickle.create_stream_table('app.st_filter', "
	       "'SELECT id, cust, amt FROM app.orders WHERE amt > 10', '1h', 'DIFFERENTIAL')");
	c.Exec("SELECT pgtrickle.create_stream_table('app.st_agg', "
	       "'SELECT o.cust, c.name, sum(o.amt) AS total, count(*) AS n FROM app.orders o "
	       "JOIN app.customers c ON c.id = o.cust GROUP BY o.cust, c.name', '1h', 'AUTO')");
	c.Exec("SELECT pgtrickle.create_stream_table('app.st_fn', "
	       "'SELECT id, app.double_it(cust) AS d FROM app.orders', '1h', 'FULL')");
	c.Exec("SELECT pgtrickle.create_stream_table('app.st_l', "
	       "'SELECT id, amt FROM app.st_filter', '1h', 'DIFFERENTIAL')");
	c.Exec("SELECT pgtrickle.create_stream_table('app.st_r', "
	       "'SELECT id, cust FROM app.st_filter', '1h', 'DIFFERENTIAL', "
	       "diamond_schedule_policy => 'slowest')");
	c.Exec("SELECT pgtrickle.create_stream_table('app.st_d', "
	       "'SELECT l.id, l.amt, r.cust FROM app.st_l l JOIN app.st_r r ON r.id = l.id', '1h', "
	       "'DIFFERENTIAL', diamond_schedule_policy => 'slowest')");
	c.Exec("SELECT pgtrickle.create_stream_table('app.st_susp', "
	       "'SELECT cust, count(*) AS n FROM app.orders GROUP BY cust', '1h', 'FULL')");
	// Group refreshes: the epoch must survive the restore.
	c.Exec("INSERT INTO app.orders VALUES (41, 1, 99)");
	c.Exec("SELECT pgtrickle.refresh_stream_table('app.st_d')");
	c.Exec("SELECT pgtrickle.alter_stream_table('app.st_susp', status => 'SUSPENDED')");
	// Changes no stream table has applied yet when the dump is taken: the restored tables must
	// not skip them.
	c.Exec("INSERT INTO app.orders VALUES (42, 2, 500), (43, 3, 600)");
	c.Exec("UPDATE app.orders SET amt = amt + 100 WHERE id <= 3");
	c.Exec("DELETE FROM app.orders WHERE id = 20");
}

// Rows of the stream table that differ from its defining query, as multisets.
std::string Diff(Conn &c, const std::string &st) {
	std::string q = c.Scalar("SELECT defining_query FROM pgtrickle.pgt_stream_tables "
	                         "WHERE pgt_schema || '.' || pgt_name = '" +
	                         st + "'");
	return c.Scalar("SELECT count(*) FROM ((SELECT * FROM " + st + " EXCEPT ALL " + q +
	                ") UNION ALL (" + q + " EXCEPT ALL SELECT * FROM " + st + ")) d");
}

// refresh_stream_table, retried while the scheduler refreshes the same table (55P03).
void Refresh(Conn &c, const std::string &st) {
	std::optional<SqlError> error;
	bool done = WaitFor(
	    [&] {
		    error = c.TryExec("SELECT pgtrickle.refresh_stream_table('" + st + "')");
		    return !error || error->sqlstate != "55P03";
	    },
	    30s, 100ms);
	ASSERT_TRUE(done) << "refresh of " << st << " kept waiting";
	ASSERT_FALSE(error.has_value()) << st << ": " << error->message;
}

class BackupRestoreTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		cluster().CreateDatabase("br_src");
		cluster().CreateDatabase("br_dst");
		src_ = cluster().Connect("br_src");
		CreateSourceObjects(*src_);
		properties_ = src_->Scalar(kProperties);
		epochs_ = src_->Scalar(kEpochs);
		susp_rows_ = src_->Scalar("SELECT string_agg(cust || ':' || n, ',' ORDER BY cust) "
		                          "FROM app.st_susp");
		dump_dir_ = cluster().socket_dir();
	}

	void TearDown() override {
		src_.reset();
		cluster().DropDatabase("br_src");
		cluster().DropDatabase("br_dst");
		ClusterTest::TearDown();
	}

	std::string Dump(const std::vector<std::string> &options, const std::string &file) {
		std::vector<std::string> args = {"pg_dump", "-d", cluster().ConnInfo("br_src"), "-f",
		                                 dump_dir_ + "/" + file};
		args.insert(args.end(), options.begin(), options.end());
		std::string out;
		EXPECT_EQ(cluster().RunProgram(args, &out), 0) << out;
		return dump_dir_ + "/" + file;
	}

	// Everything a restored database must satisfy (see the file comment).
	void CheckRestored(Cluster &target, const std::string &db) {
		auto c = target.Connect(db);
		EXPECT_EQ(c->Scalar(kProperties), properties_);
		// The first manual refresh rebinds every restored stream table (the scheduler does it
		// too, once the restore has been quiet for a few seconds).
		Refresh(*c, "app.st_filter");
		EXPECT_EQ(c->Scalar("SELECT count(*) FROM pgtrickle.pgt_stream_tables "
		                    "WHERE needs_rebind"),
		          "0");
		// Epochs: at least the dumped ones (the scheduler may have refreshed the group since).
		auto epochs = c->Query("SELECT pgt_name, group_epoch FROM pgtrickle.pgt_stream_tables "
		                       "ORDER BY 1");
		EXPECT_EQ(epochs.size(), 7u);
		EXPECT_NE(c->Scalar("SELECT group_epoch FROM pgtrickle.pgt_stream_tables "
		                    "WHERE pgt_name = 'st_d'"),
		          "0");
		auto groups = c->Scalar("SELECT string_agg(member_name || ':' || is_convergence || ':' "
		                        "|| schedule_policy, ',' ORDER BY member_name) "
		                        "FROM pgtrickle.diamond_groups()");
		EXPECT_EQ(groups, "st_d:true:slowest,st_l:false:slowest,st_r:false:slowest");
		// The suspended table is never refreshed: its rows are the dumped ones.
		EXPECT_EQ(c->Scalar("SELECT status FROM pgtrickle.pgt_stream_tables "
		                    "WHERE pgt_name = 'st_susp'"),
		          "SUSPENDED");
		EXPECT_EQ(c->Scalar("SELECT string_agg(cust || ':' || n, ',' ORDER BY cust) "
		                    "FROM app.st_susp"),
		          susp_rows_);

		// The first refresh after the restore rebuilds (the buffers were not carried over), and
		// each stream table then equals its query, including the changes pending at the dump.
		for (const char *st : {"app.st_agg", "app.st_fn", "app.st_d"}) {
			Refresh(*c, st);
		}
		for (const char *st : {"st_filter", "st_agg", "st_fn", "st_l", "st_r", "st_d"}) {
			auto first = c->Query("SELECT h.action, h.status FROM pgtrickle.pgt_refresh_history h "
			                      "JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) "
			                      "WHERE s.pgt_name = '" +
			                      std::string(st) + "' ORDER BY refresh_id LIMIT 1");
			ASSERT_EQ(first.size(), 1u) << st;
			EXPECT_EQ(*first[0][0], "REINITIALIZE") << st;
			EXPECT_EQ(*first[0][1], "COMPLETED") << st;
			EXPECT_EQ(Diff(*c, std::string("app.") + st), "0") << st;
		}
		EXPECT_EQ(c->Scalar("SELECT count(*) FROM app.st_filter WHERE id IN (42, 43)"), "2");

		// Capture is attached again: changes are applied DIFFERENTIALly, exactly once.
		c->Exec("INSERT INTO app.orders VALUES (100, 4, 700)");
		c->Exec("UPDATE app.orders SET amt = amt + 1 WHERE id = 42");
		c->Exec("DELETE FROM app.orders WHERE id = 43");
		Refresh(*c, "app.st_filter");
		EXPECT_EQ(c->Scalar("SELECT action FROM pgtrickle.get_refresh_history('app.st_filter', 1)"),
		          "DIFFERENTIAL");
		Refresh(*c, "app.st_d");
		Refresh(*c, "app.st_agg");
		for (const char *st : {"st_filter", "st_agg", "st_l", "st_r", "st_d"}) {
			EXPECT_EQ(Diff(*c, std::string("app.") + st), "0") << st;
		}
		// The scheduler runs them too.
		c->Exec("SELECT pgtrickle.alter_stream_table('app.st_agg', schedule => '1s')");
		c->Exec("INSERT INTO app.orders VALUES (101, 5, 1)");
		EXPECT_TRUE(WaitFor([&] { return Diff(*c, "app.st_agg") == "0"; }, 30s));

		// Exactly one set of capture objects per source, none left from the dump: a buffer per
		// tracked source (the schema also holds algebraic aggregate state tables), no capture
		// function (pgtrickle._capture serves every trigger), and every capture trigger names a
		// tracked buffer.
		EXPECT_EQ(c->Scalar("SELECT count(*) FROM pg_class r JOIN pg_namespace n "
		                    "ON n.oid = r.relnamespace WHERE n.nspname = 'pgtrickle_changes' "
		                    "AND r.relkind = 'r' AND r.relname ~ '^changes_[0-9]+$'"),
		          c->Scalar("SELECT count(*) FROM pgtrickle.pgt_change_tracking"))
		    << c->Scalar("SELECT string_agg(r.relname || ' ' || r.relpersistence::text || ' ' || "
		                 "(SELECT count(*) FROM pgtrickle.pgt_change_tracking t "
		                 "WHERE t.buffer_name = r.relname), ', ') FROM pg_class r "
		                 "JOIN pg_namespace n ON n.oid = r.relnamespace "
		                 "WHERE n.nspname = 'pgtrickle_changes' AND r.relkind = 'r'");
		EXPECT_EQ(c->Scalar("SELECT count(*) FROM pg_proc p JOIN pg_namespace n "
		                    "ON n.oid = p.pronamespace WHERE n.nspname = 'pgtrickle_changes'"),
		          "0");
		EXPECT_EQ(c->Scalar("SELECT count(*) FROM pg_trigger g "
		                    "WHERE g.tgname LIKE '\\_\\_pgt\\_capture%' AND g.tgparentid = 0 "
		                    "AND NOT (g.tgfoid = 'pgtrickle._capture'::regproc "
		                    "AND encode(g.tgargs, 'escape') IN (SELECT quote_ident(buffer_schema) "
		                    "|| '.' || quote_ident(buffer_name) || '\\000' "
		                    "FROM pgtrickle.pgt_change_tracking))"),
		          "0");
		EXPECT_NE(c->Scalar("SELECT count(*) FROM pg_trigger g "
		                    "WHERE g.tgfoid = 'pgtrickle._capture'::regproc"),
		          "0");
		EXPECT_EQ(
		    c->Scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'app.orders'::regclass "
		              "AND tgname LIKE '\\_\\_pgt\\_capture%'"),
		    "5");
		// Sources are protected again.
		auto err = c->TryExec("DROP TABLE app.customers");
		ASSERT_TRUE(err.has_value());
		EXPECT_EQ(err->sqlstate, "2BP01");
		// New stream tables get new ids.
		c->Exec(
		    "SELECT pgtrickle.create_stream_table('app.st_new', 'SELECT id FROM app.customers')");
		EXPECT_EQ(c->Scalar("SELECT count(*) FROM pgtrickle.pgt_stream_tables"), "8");
	}

	std::unique_ptr<Conn> src_;
	std::string properties_;
	std::string epochs_;
	std::string susp_rows_;
	std::string dump_dir_;
};

TEST_F(BackupRestoreTest, PlainDumpRestoredWithPsql) {
	std::string file = Dump({"-Fp"}, "br_plain.sql");
	std::string out;
	ASSERT_EQ(cluster().Psql("br_dst", {"-q", "-f", file}, &out), 0) << out;
	CheckRestored(cluster(), "br_dst");
}

TEST_F(BackupRestoreTest, PlainDumpRestoredInOneTransaction) {
	std::string file = Dump({"-Fp"}, "br_plain1.sql");
	std::string out;
	ASSERT_EQ(cluster().Psql("br_dst", {"-q", "-1", "-f", file}, &out), 0) << out;
	CheckRestored(cluster(), "br_dst");
}

TEST_F(BackupRestoreTest, CustomDumpRestoredIntoAnotherCluster) {
	std::string file = Dump({"-Fc"}, "br_custom.dump");
	Cluster other({{"port", std::to_string(cluster().port() + 3)}});
	other.Start();
	other.CreateDatabase("br_other");
	std::string out;
	int rc = other.RunProgram(
	    {"pg_restore", "--exit-on-error", "-d", other.ConnInfo("br_other"), file}, &out);
	EXPECT_EQ(rc, 0) << out;
	if (rc == 0) {
		CheckRestored(other, "br_other");
	}
	if (HasFailure()) {
		std::cerr << "---- other cluster's log ----\n" << other.LogTail(80) << "\n";
	}
	other.Stop();
}

TEST_F(BackupRestoreTest, SchemaDumpWithTheExtension) {
	// Another schema's stream table, not in the dump: its catalog row is skipped on restore.
	src_->Exec("CREATE SCHEMA other");
	src_->Exec(
	    "SELECT pgtrickle.create_stream_table('other.st_x', 'SELECT id FROM app.customers')");
	std::string file =
	    Dump({"-Fp", "-n", "app", "-n", "pgtrickle", "-n", "pgtrickle_changes", "-e", "pg_trickle"},
	         "br_schema.sql");
	std::string out;
	ASSERT_EQ(cluster().Psql("br_dst", {"-q", "-f", file}, &out), 0) << out;
	EXPECT_NE(out.find("WARNING:  stream table other.st_x is not restored"), std::string::npos)
	    << out;
	CheckRestored(cluster(), "br_dst");
}

TEST_F(BackupRestoreTest, SchemaOnlyAndDataOnly) {
	// A schema-only dump holds no catalog rows: the tables come back as plain tables, and the
	// capture triggers of the dump are dropped with their functions by the next create.
	std::string schema = Dump({"-Fp", "--schema-only"}, "br_schema_only.sql");
	std::string out;
	ASSERT_EQ(cluster().Psql("br_dst", {"-q", "-f", schema}, &out), 0) << out;
	{
		auto c = cluster().Connect("br_dst");
		EXPECT_EQ(c->Scalar("SELECT count(*) FROM pgtrickle.pgt_stream_tables"), "0");
		EXPECT_EQ(c->Scalar("SELECT count(*) FROM app.st_filter"), "0");
	}
	// Then a data-only dump brings the catalog rows and the rows (a storage table takes rows
	// while it is no stream table in use): the stream tables are back.
	std::string data = Dump({"-Fc", "--data-only"}, "br_data_only.dump");
	int rc = cluster().RunProgram(
	    {"pg_restore", "--exit-on-error", "-d", cluster().ConnInfo("br_dst"), data}, &out);
	ASSERT_EQ(rc, 0) << out;
	CheckRestored(cluster(), "br_dst");
}

} // namespace
} // namespace pgt::e2e
