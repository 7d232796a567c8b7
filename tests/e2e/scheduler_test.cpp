// End-to-end tests of the background scheduler (SPEC §2, §5, §6, §7) against a real cluster with
// pg_trickle preloaded and pg_trickle.scheduler_interval_ms = 100: stream tables refresh on their
// own; an atomic consistency group with a failing member is held at its last consistent version
// (FAILED / ROLLED_BACK history, suspension, alerts, health_check) and converges once fixed;
// 'none' lets the other members advance; fastest/slowest group policies; the group epoch; a new
// database gets its scheduler; a SIGKILLed scheduler is recovered; and a soak test in which
// concurrent readers, in READ COMMITTED and REPEATABLE READ, never see a half-refreshed group.
//
// Every suite has its own database and so its own scheduler. Waiting is done by polling with
// deadlines; fixed waits appear only where the assertion is "nothing happens for a while".
// PGT_SOAK_SECONDS sets the length of the soak test (default 60).
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/types.h>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// ------------------------------------------------------------------------------------------------
// Helpers

long long Int(Conn &conn, const std::string &sql) {
	return std::stoll(conn.Scalar(sql));
}

std::string Lit(const std::string &value) {
	std::string out = "'";
	for (char c : value) {
		out += c;
		if (c == '\'')
			out += '\'';
	}
	return out + "'";
}

// Rows of `table` not produced by `query` plus rows of `query` not in `table` (multisets).
long long Mismatches(Conn &conn, const std::string &table, const std::string &query) {
	return Int(conn, "SELECT count(*) FROM ((SELECT * FROM " + table +
	                     " EXCEPT ALL SELECT * FROM (" + query + ") q) UNION ALL (SELECT * FROM (" +
	                     query + ") q EXCEPT ALL SELECT * FROM " + table + ")) d");
}

// The whole contents of a table in a stable order.
Rows Dump(Conn &conn, const std::string &table) {
	return conn.Query("SELECT * FROM " + table + " t ORDER BY t");
}

// Number of pg_trickle schedulers connected to `db`.
long long SchedulersIn(Conn &conn, const std::string &db) {
	return Int(conn, "SELECT count(*) FROM pg_stat_activity "
	                 "WHERE backend_type = 'pg_trickle scheduler' AND datname = " +
	                     Lit(db));
}

// Highest refresh_id so far (0 when none): history rows after a mark have larger ids.
long long HistoryMark(Conn &conn) {
	return Int(conn, "SELECT coalesce(max(refresh_id), 0) FROM pgtrickle.pgt_refresh_history");
}

// Number of history rows of stream table `name` after `mark` matching `where` (SQL over the
// columns of pgt_refresh_history).
long long HistoryCount(Conn &conn, const std::string &name, long long mark,
                       const std::string &where = "true") {
	return Int(conn, "SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE pgt_id = "
	                 "(SELECT pgt_id FROM pgtrickle.pgt_stream_tables WHERE pgt_name = " +
	                     Lit(name) + ") AND refresh_id > " + std::to_string(mark) + " AND (" +
	                     where + ")");
}

std::string StatusOf(Conn &conn, const std::string &name) {
	return conn.Scalar("SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = " +
	                   Lit(name));
}

// The epoch diamond_groups() reports for the group containing `member`.
long long GroupEpoch(Conn &conn, const std::string &member) {
	return Int(conn,
	           "SELECT epoch FROM pgtrickle.diamond_groups() WHERE member_name = " + Lit(member));
}

// One value of a flat JSON object of strings (enough for the alert payloads).
std::string JsonField(const std::string &json, const std::string &key) {
	const std::string quoted = "\"" + key + "\"";
	std::size_t pos = json.find(quoted);
	if (pos == std::string::npos)
		return "";
	pos = json.find(':', pos + quoted.size());
	if (pos == std::string::npos)
		return "";
	pos = json.find('"', pos);
	if (pos == std::string::npos)
		return "";
	std::string out;
	for (++pos; pos < json.size() && json[pos] != '"'; ++pos) {
		if (json[pos] == '\\' && pos + 1 < json.size())
			++pos;
		out += json[pos];
	}
	return out;
}

struct Alert {
	std::string event;
	std::string stream_table;
	std::string detail;
};

// Collects pg_trickle_alert notifications on its own connection.
class AlertListener {
  public:
	explicit AlertListener(std::unique_ptr<Conn> conn) : conn_(std::move(conn)) {
		conn_->Exec("LISTEN pg_trickle_alert");
	}
	// Consumes what has arrived; returns everything received so far.
	const std::vector<Alert> &Poll() {
		for (const auto &[channel, payload] : conn_->TakeNotifications()) {
			if (channel == "pg_trickle_alert")
				alerts_.push_back(Alert{JsonField(payload, "event"),
				                        JsonField(payload, "stream_table"),
				                        JsonField(payload, "detail")});
		}
		return alerts_;
	}
	int Count(const std::string &event, const std::string &stream_table = "") {
		int n = 0;
		for (const Alert &a : Poll())
			if (a.event == event && (stream_table.empty() || a.stream_table == stream_table))
				++n;
		return n;
	}
	std::string Describe() {
		std::string out;
		for (const Alert &a : Poll())
			out += "  " + a.event + " " + a.stream_table + ": " + a.detail + "\n";
		return out;
	}

  private:
	std::unique_ptr<Conn> conn_;
	std::vector<Alert> alerts_;
};

// Every suite gets its own database with the extension; its scheduler starts with its first
// stream table (and stops when the last one is dropped).
class SchedulerTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
	}

	void Create(const std::string &name, const std::string &query, const std::string &options) {
		conn_->Exec("SELECT pgtrickle.create_stream_table(" + Lit(name) + ", $q$" + query + "$q$" +
		            (options.empty() ? "" : ", " + options) + ")");
	}

	// Waits until no history row has been added for `quiet` (deadline `deadline`).
	bool WaitQuiet(milliseconds quiet, milliseconds deadline) {
		long long last = HistoryMark(*conn_);
		auto since = std::chrono::steady_clock::now();
		return WaitFor(
		    [&] {
			    long long now_mark = HistoryMark(*conn_);
			    if (Int(*conn_, "SELECT count(*) FROM pgtrickle.pgt_refresh_history "
			                    "WHERE status = 'RUNNING'") > 0 ||
			        now_mark != last) {
				    last = now_mark;
				    since = std::chrono::steady_clock::now();
				    return false;
			    }
			    return std::chrono::steady_clock::now() - since >= quiet;
		    },
		    deadline, 100ms);
	}
};

// The diamond used by several suites: src(id, val) feeds b (val) and c (100 / (val - 70), which
// fails for val = 70); d joins them.
const char *const kQueryB = "SELECT id, val FROM src";
const char *const kQueryC = "SELECT id, 100 / (val - 70) AS q FROM src";
const char *const kQueryD = "SELECT b.id, b.val, c.q FROM b JOIN c ON b.id = c.id";
// d's ground truth computed from the base table.
const char *const kTruthD = "SELECT id, val, 100 / (val - 70) AS q FROM src";

// ------------------------------------------------------------------------------------------------
// 1. Stream tables refresh on their own.

class SchedulerRefreshTest : public SchedulerTest {};

TEST_F(SchedulerRefreshTest, DurationAndCalculatedTablesRefreshOnTheirOwn) {
	conn_->Exec("CREATE TABLE orders (id int PRIMARY KEY, amount int NOT NULL)");
	conn_->Exec("INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 20) g");
	const std::string q_every = "SELECT id, amount FROM orders";
	const std::string q_calc = "SELECT id % 3 AS k, sum(amount) AS total, count(*) AS n "
	                           "FROM orders GROUP BY id % 3";
	Create("every_second", q_every, "schedule => '1s', refresh_mode => 'FULL'");
	Create("calc", q_calc, "schedule => 'calculated', refresh_mode => 'AUTO'");
	const std::string ts_before = conn_->Scalar(
	    "SELECT data_timestamp::text FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'calc'");

	long long mark = HistoryMark(*conn_);
	conn_->Exec("INSERT INTO orders VALUES (21, 210)");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "every_second", q_every) == 0 &&
		           Mismatches(*conn_, "calc", q_calc) == 0;
	    },
	    10s, 100ms))
	    << "stream tables did not pick up the insert\nevery_second:\n"
	    << Format(Dump(*conn_, "every_second")) << "calc:\n"
	    << Format(Dump(*conn_, "calc"));

	for (const char *name : {"every_second", "calc"}) {
		SCOPED_TRACE(name);
		EXPECT_GE(HistoryCount(*conn_, name, mark,
		                       "status = 'COMPLETED' AND initiated_by = 'SCHEDULER' AND "
		                       "action <> 'NO_DATA'"),
		          1);
		EXPECT_EQ(HistoryCount(*conn_, name, mark, "initiated_by <> 'SCHEDULER'"), 0);
		EXPECT_EQ(HistoryCount(*conn_, name, mark, "status IN ('FAILED', 'ROLLED_BACK')"), 0);
		EXPECT_EQ(conn_->Scalar("SELECT status || ',' || consecutive_errors FROM "
		                        "pgtrickle.pgt_stream_tables WHERE pgt_name = " +
		                        Lit(name)),
		          "ACTIVE,0");
	}
	EXPECT_EQ(conn_->Scalar("SELECT (data_timestamp > " + Lit(ts_before) +
	                        "::timestamptz)::text FROM pgtrickle.pgt_stream_tables "
	                        "WHERE pgt_name = 'calc'"),
	          "true");

	// No changes: the '1s' table keeps ticking (NO_DATA passes, which move last_refresh_at but
	// not data_timestamp), the 'calculated' one does no FULL or DIFFERENTIAL work at all.
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Int(*conn_, "SELECT count(*) FROM pgtrickle.pgt_refresh_history "
		                       "WHERE status = 'RUNNING'") == 0;
	    },
	    10s));
	const long long quiet_mark = HistoryMark(*conn_);
	const std::string every_ts =
	    conn_->Scalar("SELECT data_timestamp::text FROM pgtrickle.pgt_stream_tables "
	                  "WHERE pgt_name = 'every_second'");
	// The '1s' table refreshes at least twice more: proof that time passed under the scheduler.
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return HistoryCount(*conn_, "every_second", quiet_mark, "status = 'COMPLETED'") >= 2;
	    },
	    10s, 100ms));
	EXPECT_EQ(HistoryCount(*conn_, "every_second", quiet_mark,
	                       "status = 'COMPLETED' AND action <> 'NO_DATA'"),
	          0)
	    << "a refresh without source changes did real work";
	EXPECT_EQ(HistoryCount(*conn_, "calc", quiet_mark, "action <> 'NO_DATA'"), 0)
	    << "'calculated' refreshed without pending changes";
	EXPECT_EQ(conn_->Scalar("SELECT data_timestamp::text FROM pgtrickle.pgt_stream_tables "
	                        "WHERE pgt_name = 'every_second'"),
	          every_ts)
	    << "a NO_DATA pass moved data_timestamp";

	// Deletes and updates are picked up too.
	conn_->Exec("DELETE FROM orders WHERE id <= 3; UPDATE orders SET amount = amount + 1 "
	            "WHERE id % 2 = 0");
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "every_second", q_every) == 0 &&
		           Mismatches(*conn_, "calc", q_calc) == 0;
	    },
	    10s, 100ms));
}

// ------------------------------------------------------------------------------------------------
// 2. An atomic diamond with a failing member is held at its last consistent version.

// Parameter: the refresh mode of the failing member c. Both instances share the suite's
// database, so each starts by dropping what the other left.
class SchedulerDiamondTest : public SchedulerTest,
                             public ::testing::WithParamInterface<std::string> {};

TEST_P(SchedulerDiamondTest, FailingMemberHoldsTheGroupUntilFixedAndResumed) {
	conn_->Exec("DROP TABLE IF EXISTS src CASCADE");
	conn_->Exec("CREATE TABLE src (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO src VALUES (1, 10), (2, 20), (3, 30)");
	Create("b", kQueryB, "refresh_mode => 'AUTO'");
	Create("c", kQueryC, "refresh_mode => " + Lit(GetParam()));
	Create("d", kQueryD, "refresh_mode => 'AUTO'");
	ASSERT_EQ(conn_->Scalar("SELECT string_agg(member_name || ':' || is_convergence, ',' "
	                        "ORDER BY member_name) FROM pgtrickle.diamond_groups()"),
	          "b:false,c:false,d:true");
	EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM pgtrickle.pgt_stream_tables "
	                      "WHERE diamond_consistency = 'atomic'"),
	          3);
	const int max_errors = std::stoi(conn_->Scalar("SHOW pg_trickle.max_consecutive_errors"));
	ASSERT_EQ(max_errors, 3);

	AlertListener alerts(Connect());
	const Rows b0 = Dump(*conn_, "b"), c0 = Dump(*conn_, "c"), d0 = Dump(*conn_, "d");
	ASSERT_EQ(d0.size(), 3u);
	const long long epoch0 = GroupEpoch(*conn_, "d");
	const long long mark = HistoryMark(*conn_);

	// Row 4 makes c fail on every attempt; row 5 alone would be fine, but b may not show it.
	conn_->Exec("INSERT INTO src VALUES (4, 70), (5, 50)");
	int polls = 0, changed = 0;
	bool suspended = WaitFor(
	    [&] {
		    ++polls;
		    if (Dump(*conn_, "b") != b0 || Dump(*conn_, "c") != c0 || Dump(*conn_, "d") != d0)
			    ++changed;
		    return StatusOf(*conn_, "c") == "SUSPENDED";
	    },
	    40s, 50ms);
	ASSERT_TRUE(suspended) << "c was not suspended; history:\n"
	                       << Format(conn_->Query(
	                              "SELECT pgt_id, action, status, error_message "
	                              "FROM pgtrickle.pgt_refresh_history ORDER BY refresh_id"));
	EXPECT_EQ(changed, 0) << "a member of the held group changed during " << polls << " polls";
	EXPECT_GT(polls, 20);

	EXPECT_EQ(Int(*conn_, "SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables "
	                      "WHERE pgt_name = 'c'"),
	          max_errors);
	EXPECT_EQ(HistoryCount(*conn_, "c", mark, "status = 'FAILED'"), max_errors);
	EXPECT_EQ(HistoryCount(*conn_, "c", mark,
	                       "status = 'FAILED' AND error_message LIKE '%division by zero%' "
	                       "AND initiated_by = 'SCHEDULER'"),
	          max_errors);
	EXPECT_EQ(HistoryCount(*conn_, "c", mark, "status <> 'FAILED'"), 0);
	for (const char *name : {"b", "d"}) {
		SCOPED_TRACE(name);
		EXPECT_EQ(HistoryCount(*conn_, name, mark, "status = 'ROLLED_BACK'"), max_errors);
		EXPECT_EQ(
		    HistoryCount(*conn_, name, mark,
		                 "status = 'ROLLED_BACK' AND error_message LIKE '%public.c failed%' AND "
		                 "group_id IS NOT NULL AND group_epoch IS NULL"),
		    max_errors);
		EXPECT_EQ(HistoryCount(*conn_, name, mark, "status <> 'ROLLED_BACK'"), 0);
		EXPECT_EQ(StatusOf(*conn_, name), "ACTIVE");
	}
	EXPECT_EQ(GroupEpoch(*conn_, "d"), epoch0) << "a rolled-back group refresh moved the epoch";

	Rows held = conn_->Query("SELECT severity, detail FROM pgtrickle.health_check() "
	                         "WHERE check_name = 'held_groups'");
	ASSERT_EQ(held.size(), 1u) << Format(held);
	EXPECT_EQ(held[0][0], std::optional<std::string>("WARNING"));
	EXPECT_NE(held[0][1].value_or("").find("public.c"), std::string::npos) << Format(held);

	EXPECT_TRUE(WaitFor(
	    [&] {
		    return alerts.Count("refresh_failed", "public.c") >= max_errors &&
		           alerts.Count("group_rolled_back") >= max_errors &&
		           alerts.Count("auto_suspended", "public.c") == 1;
	    },
	    10s, 100ms))
	    << "alerts received:\n"
	    << alerts.Describe();

	// While held, nobody refreshes: no new attempts, no change. A manual refresh of another
	// member is refused too (it would split the convergence node).
	const long long held_mark = HistoryMark(*conn_);
	auto err = conn_->TryExec("SELECT pgtrickle.refresh_stream_table('b')");
	ASSERT_TRUE(err.has_value());
	EXPECT_EQ(err->sqlstate, "55000") << err->message;
	EXPECT_FALSE(WaitFor(
	    [&] {
		    return HistoryMark(*conn_) != held_mark || Dump(*conn_, "b") != b0 ||
		           Dump(*conn_, "d") != d0;
	    },
	    1500ms, 100ms))
	    << "the held group was touched";

	// Fix the data, resume c: the whole group converges in one atomic refresh. (The bad row
	// (4, 70) was never visible to any committed refresh; the fix must not need it evaluated.)
	conn_->Exec("UPDATE src SET val = 71 WHERE id = 4");
	conn_->Exec("SELECT pgtrickle.resume_stream_table('c')");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "b", kQueryB) == 0 && Mismatches(*conn_, "c", kQueryC) == 0 &&
		           Mismatches(*conn_, "d", kTruthD) == 0;
	    },
	    20s, 100ms))
	    << "the group did not converge after resume\nd:\n"
	    << Format(Dump(*conn_, "d")) << "c: "
	    << conn_->Scalar("SELECT status || ', ' || consecutive_errors || ' errors, last: ' || "
	                     "coalesce(last_error_message, '-') FROM pgtrickle.pgt_stream_tables "
	                     "WHERE pgt_name = 'c'");
	EXPECT_EQ(Mismatches(*conn_, "d", kQueryD), 0);
	const long long epoch1 = GroupEpoch(*conn_, "d");
	EXPECT_GT(epoch1, epoch0);
	EXPECT_EQ(conn_->Scalar("SELECT string_agg(status || ',' || consecutive_errors || ',' || "
	                        "group_epoch, ';' ORDER BY pgt_name) FROM pgtrickle.pgt_stream_tables"),
	          "ACTIVE,0," + std::to_string(epoch1) + ";ACTIVE,0," + std::to_string(epoch1) +
	              ";ACTIVE,0," + std::to_string(epoch1));
	// The successful refresh committed all three members under one epoch.
	EXPECT_EQ(Int(*conn_, "SELECT count(DISTINCT pgt_id) FROM pgtrickle.pgt_refresh_history "
	                      "WHERE status = 'COMPLETED' AND initiated_by = 'SCHEDULER' AND "
	                      "group_epoch = " +
	                          std::to_string(epoch1) + " AND refresh_id > " +
	                          std::to_string(held_mark)),
	          3);
	EXPECT_EQ(conn_->Scalar("SELECT severity FROM pgtrickle.health_check() "
	                        "WHERE check_name = 'held_groups'"),
	          "OK");
}

INSTANTIATE_TEST_SUITE_P(Scheduler, SchedulerDiamondTest, ::testing::Values("FULL", "DIFFERENTIAL"),
                         [](const ::testing::TestParamInfo<std::string> &param) {
	                         return param.param;
                         });

// ------------------------------------------------------------------------------------------------
// 3. diamond_consistency 'none' on a member: the others advance while it fails.

class SchedulerDiamondNoneTest : public SchedulerTest {};

TEST_F(SchedulerDiamondNoneTest, OtherMembersAdvanceWhileNoneMemberFails) {
	conn_->Exec("CREATE TABLE src (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO src VALUES (1, 10), (2, 20), (3, 30)");
	Create("b", kQueryB, "refresh_mode => 'AUTO'");
	Create("c", kQueryC, "refresh_mode => 'FULL', diamond_consistency => 'none'");
	Create("d", kQueryD, "refresh_mode => 'AUTO'");
	// Listed whatever the consistency.
	ASSERT_EQ(Int(*conn_, "SELECT count(*) FROM pgtrickle.diamond_groups()"), 3);
	AlertListener alerts(Connect());
	const Rows c0 = Dump(*conn_, "c");
	const long long mark = HistoryMark(*conn_);

	conn_->Exec("INSERT INTO src VALUES (4, 70), (5, 50)");
	conn_->Exec("UPDATE src SET val = 11 WHERE id = 1");
	ASSERT_TRUE(WaitFor([&] { return StatusOf(*conn_, "c") == "SUSPENDED"; }, 40s, 100ms))
	    << "c was not suspended";
	// b has the new rows; d equals its query over the current b and c (it advanced with b).
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "b", kQueryB) == 0 && Mismatches(*conn_, "d", kQueryD) == 0;
	    },
	    15s, 100ms))
	    << "b:\n"
	    << Format(Dump(*conn_, "b")) << "d:\n"
	    << Format(Dump(*conn_, "d"));
	EXPECT_EQ(Dump(*conn_, "c"), c0) << "the failing member changed";
	EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM b WHERE id IN (4, 5)"), 2);
	// d joined b's new version of row 1 with c's old one: allowed only because c is 'none'.
	EXPECT_EQ(conn_->Scalar("SELECT val || ',' || q FROM d WHERE id = 1"), "11,-1");

	EXPECT_GE(HistoryCount(*conn_, "b", mark, "status = 'COMPLETED' AND action <> 'NO_DATA'"), 1);
	EXPECT_GE(HistoryCount(*conn_, "d", mark, "status = 'COMPLETED' AND action <> 'NO_DATA'"), 1);
	EXPECT_EQ(HistoryCount(*conn_, "b", mark, "status = 'ROLLED_BACK'"), 0);
	EXPECT_EQ(HistoryCount(*conn_, "d", mark, "status = 'ROLLED_BACK'"), 0);
	EXPECT_EQ(HistoryCount(*conn_, "c", mark,
	                       "status = 'FAILED' AND error_message LIKE '%division by zero%'"),
	          3);
	EXPECT_TRUE(
	    WaitFor([&] { return alerts.Count("auto_suspended", "public.c") == 1; }, 10s, 100ms))
	    << alerts.Describe();
	EXPECT_GE(alerts.Count("refresh_failed", "public.c"), 3);
	EXPECT_EQ(alerts.Count("group_rolled_back"), 0) << alerts.Describe();
	// Singleton refreshes: no group epoch.
	EXPECT_EQ(GroupEpoch(*conn_, "d"), 0);

	// b keeps advancing while c stays suspended.
	conn_->Exec("INSERT INTO src VALUES (6, 60)");
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "b", kQueryB) == 0 && Mismatches(*conn_, "d", kQueryD) == 0;
	    },
	    15s, 100ms));
	EXPECT_EQ(StatusOf(*conn_, "c"), "SUSPENDED");
}

// ------------------------------------------------------------------------------------------------
// 4. Group schedule policies.

class SchedulerPolicyTest : public SchedulerTest {};

TEST_F(SchedulerPolicyTest, FastestFiresOnAnyDueMemberSlowestWaitsForAll) {
	conn_->Exec("CREATE TABLE src (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO src VALUES (1, 10), (2, 20), (3, 30)");
	const std::string qb = "SELECT id, val FROM src";
	const std::string qc = "SELECT id, val + 1000 AS w FROM src";
	const std::string qd = "SELECT b.id, b.val, c.w FROM b JOIN c ON b.id = c.id";
	const std::string truth_d = "SELECT id, val, val + 1000 AS w FROM src";
	Create("b", qb, "schedule => '1s', refresh_mode => 'AUTO'");
	Create("c", qc, "schedule => '1h', refresh_mode => 'AUTO'");
	Create("d", qd, "schedule => 'calculated', refresh_mode => 'AUTO'");
	auto policies = [&] {
		return conn_->Scalar("SELECT string_agg(DISTINCT schedule_policy, ',') "
		                     "FROM pgtrickle.diamond_groups()");
	};
	ASSERT_EQ(Int(*conn_, "SELECT count(*) FROM pgtrickle.diamond_groups()"), 3);
	EXPECT_EQ(policies(), "fastest");

	// fastest: b's 1 s schedule fires the whole group, so c ('1h') refreshes too.
	long long mark = HistoryMark(*conn_);
	conn_->Exec("INSERT INTO src VALUES (4, 40)");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "b", qb) == 0 && Mismatches(*conn_, "c", qc) == 0 &&
		           Mismatches(*conn_, "d", truth_d) == 0;
	    },
	    10s, 100ms))
	    << "c:\n"
	    << Format(Dump(*conn_, "c"));
	EXPECT_GE(HistoryCount(*conn_, "c", mark,
	                       "status = 'COMPLETED' AND initiated_by = 'SCHEDULER' AND "
	                       "action <> 'NO_DATA' AND group_epoch IS NOT NULL"),
	          1);
	// It keeps firing every second, c with it, although c's own schedule is an hour.
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return HistoryCount(*conn_, "c", mark,
		                        "status = 'COMPLETED' AND initiated_by = 'SCHEDULER'") >= 3;
	    },
	    10s, 100ms));

	// The policy of a non-convergence member has no effect.
	conn_->Exec("SELECT pgtrickle.alter_stream_table('b', diamond_schedule_policy => 'slowest')");
	EXPECT_EQ(policies(), "fastest");
	mark = HistoryMark(*conn_);
	EXPECT_TRUE(WaitFor(
	    [&] { return HistoryCount(*conn_, "c", mark, "status = 'COMPLETED'") >= 1; }, 10s, 100ms))
	    << "the group stopped firing although its convergence point is 'fastest'";

	// slowest on the convergence point: the group waits until every member is due. d gets a
	// 1 s schedule so that c ('1h') is the only member that is not due.
	conn_->Exec("SELECT pgtrickle.alter_stream_table('d', schedule => '1s', "
	            "diamond_schedule_policy => 'slowest')");
	EXPECT_EQ(policies(), "slowest");
	EXPECT_EQ(conn_->Scalar("SELECT schedule_policy FROM pgtrickle.diamond_groups() "
	                        "WHERE is_convergence"),
	          "slowest");
	ASSERT_TRUE(WaitQuiet(2s, 20s)) << "the group kept firing under 'slowest'";
	mark = HistoryMark(*conn_);
	conn_->Exec("INSERT INTO src VALUES (5, 50)");
	EXPECT_FALSE(WaitFor(
	    [&] {
		    return HistoryMark(*conn_) != mark ||
		           Int(*conn_, "SELECT count(*) FROM b WHERE id = 5") != 0;
	    },
	    4s, 100ms))
	    << "the group fired while c was not due";
	EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM b"), 4);

	// Once c is due as well, the group fires and all three converge together.
	conn_->Exec("SELECT pgtrickle.alter_stream_table('c', schedule => '1s')");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "b", qb) == 0 && Mismatches(*conn_, "c", qc) == 0 &&
		           Mismatches(*conn_, "d", truth_d) == 0;
	    },
	    10s, 100ms));
	EXPECT_EQ(Int(*conn_, "SELECT count(DISTINCT pgt_id) FROM pgtrickle.pgt_refresh_history "
	                      "WHERE refresh_id > " +
	                          std::to_string(mark) +
	                          " AND status = 'COMPLETED' AND group_epoch = (SELECT max(epoch) "
	                          "FROM pgtrickle.diamond_groups())"),
	          3);
}

// A 'calculated' member is due when a source upstream of it has pending changes (SPEC §7). In a
// slowest group whose convergence point reads only other members, those changes reach it through
// the members, which refresh only when the group fires: the group must still fire, or the whole
// diamond silently stops being maintained.
TEST_F(SchedulerPolicyTest, SlowestGroupOfCalculatedMembersStillRefreshes) {
	conn_->Exec("CREATE TABLE src2 (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO src2 VALUES (1, 10), (2, 20)");
	const std::string qb = "SELECT id, val FROM src2";
	const std::string qc = "SELECT id, val * 2 AS v2 FROM src2";
	const std::string truth_d = "SELECT id, val, val * 2 AS v2 FROM src2";
	Create("b2", qb, "refresh_mode => 'FULL'");
	Create("c2", qc, "refresh_mode => 'FULL'");
	Create("d2", "SELECT b2.id, b2.val, c2.v2 FROM b2 JOIN c2 ON b2.id = c2.id",
	       "refresh_mode => 'FULL', diamond_schedule_policy => 'slowest'");
	ASSERT_EQ(conn_->Scalar("SELECT string_agg(DISTINCT schedule_policy, ',') "
	                        "FROM pgtrickle.diamond_groups() WHERE member_name LIKE '%2'"),
	          "slowest");
	conn_->Exec("INSERT INTO src2 VALUES (3, 30)");
	EXPECT_TRUE(WaitFor([&] { return Mismatches(*conn_, "d2", truth_d) == 0; }, 15s, 100ms))
	    << "a slowest group of 'calculated' members never fired; b2 has "
	    << conn_->Scalar("SELECT count(*) FROM b2") << " rows, history:\n"
	    << Format(conn_->Query("SELECT s.pgt_name, h.status, h.initiated_by "
	                           "FROM pgtrickle.pgt_refresh_history h JOIN "
	                           "pgtrickle.pgt_stream_tables s USING (pgt_id) "
	                           "WHERE s.pgt_name LIKE '%2' ORDER BY h.refresh_id"));
}

// ------------------------------------------------------------------------------------------------
// 5. The group epoch.

class SchedulerEpochTest : public SchedulerTest {
  protected:
	// Checks that the epoch equals the number of committed group refreshes in the history, that
	// the committed epochs are exactly 1..epoch, each with one COMPLETED row per member, and
	// that rows that did not commit carry no epoch.
	void ExpectEpochMatchesHistory(long long epoch) {
		EXPECT_EQ(Int(*conn_, "SELECT count(DISTINCT group_epoch) FROM "
		                      "pgtrickle.pgt_refresh_history WHERE status = 'COMPLETED' AND "
		                      "group_id IS NOT NULL AND group_epoch IS NOT NULL"),
		          epoch);
		EXPECT_EQ(Int(*conn_, "SELECT coalesce(max(group_epoch), 0) FROM "
		                      "pgtrickle.pgt_refresh_history"),
		          epoch);
		EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM (SELECT group_epoch FROM "
		                      "pgtrickle.pgt_refresh_history WHERE group_epoch IS NOT NULL "
		                      "GROUP BY group_epoch HAVING count(*) <> 3 OR "
		                      "count(DISTINCT pgt_id) <> 3 OR bool_or(status <> 'COMPLETED')) x"),
		          0);
		EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM pgtrickle.pgt_refresh_history "
		                      "WHERE status <> 'COMPLETED' AND group_epoch IS NOT NULL"),
		          0);
		EXPECT_EQ(Int(*conn_, "SELECT count(DISTINCT group_epoch) FROM "
		                      "pgtrickle.pgt_stream_tables"),
		          1);
		EXPECT_EQ(Int(*conn_, "SELECT max(group_epoch) FROM pgtrickle.pgt_stream_tables"), epoch);
	}
};

TEST_F(SchedulerEpochTest, EpochCountsCommittedGroupRefreshes) {
	conn_->Exec("CREATE TABLE src (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO src VALUES (1, 10), (2, 20)");
	const std::string qb = "SELECT id, val FROM src";
	const std::string qc = "SELECT id, 1000 / val AS q FROM src";
	const std::string qd = "SELECT b.id, b.val, c.q FROM b JOIN c ON b.id = c.id";
	const std::string truth_d = "SELECT id, val, 1000 / val AS q FROM src";
	Create("b", qb, "refresh_mode => 'AUTO'");
	// FULL: this test is about the epoch, not about recovering DIFFERENTIAL from a bad row.
	Create("c", qc, "refresh_mode => 'FULL'");
	Create("d", qd, "refresh_mode => 'AUTO'");

	// Initial population is per member, not a group refresh: the epoch starts at 0.
	EXPECT_EQ(conn_->Scalar("SELECT string_agg(DISTINCT epoch::text, ',') "
	                        "FROM pgtrickle.diamond_groups()"),
	          "0");
	EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM pgtrickle.pgt_refresh_history "
	                      "WHERE initiated_by <> 'INITIAL' OR group_epoch IS NOT NULL"),
	          0);
	ExpectEpochMatchesHistory(0);

	long long epoch = 0;
	for (int round = 0; round < 4; round++) {
		SCOPED_TRACE("round " + std::to_string(round));
		conn_->Exec("INSERT INTO src VALUES (" + std::to_string(10 + round) + ", " +
		            std::to_string(5 + round) + ")");
		ASSERT_TRUE(WaitFor(
		    [&] {
			    return Mismatches(*conn_, "d", truth_d) == 0 && Mismatches(*conn_, "c", qc) == 0 &&
			           Mismatches(*conn_, "b", qb) == 0;
		    },
		    10s, 100ms));
		long long now_epoch = GroupEpoch(*conn_, "d");
		EXPECT_GT(now_epoch, epoch);
		epoch = now_epoch;
	}
	ASSERT_TRUE(WaitQuiet(1s, 10s));
	epoch = GroupEpoch(*conn_, "d");
	EXPECT_GE(epoch, 4);
	ExpectEpochMatchesHistory(epoch);
	// 'calculated' members without changes: the group does not fire, the epoch stays.
	EXPECT_EQ(GroupEpoch(*conn_, "b"), epoch);

	// Rollbacks do not move it.
	const long long mark = HistoryMark(*conn_);
	conn_->Exec("INSERT INTO src VALUES (99, 0)");
	ASSERT_TRUE(WaitFor([&] { return StatusOf(*conn_, "c") == "SUSPENDED"; }, 40s, 100ms));
	EXPECT_EQ(HistoryCount(*conn_, "c", mark, "status = 'FAILED'"), 3);
	EXPECT_EQ(HistoryCount(*conn_, "b", mark, "status = 'ROLLED_BACK'"), 3);
	EXPECT_EQ(GroupEpoch(*conn_, "d"), epoch);
	ExpectEpochMatchesHistory(epoch);

	// The next committed group refresh adds exactly one.
	conn_->Exec("UPDATE src SET val = 1 WHERE id = 99");
	conn_->Exec("SELECT pgtrickle.resume_stream_table('c')");
	ASSERT_TRUE(WaitFor([&] { return Mismatches(*conn_, "d", truth_d) == 0; }, 15s, 100ms));
	ASSERT_TRUE(WaitQuiet(1s, 10s));
	EXPECT_EQ(GroupEpoch(*conn_, "d"), epoch + 1);
	ExpectEpochMatchesHistory(epoch + 1);
}

// ------------------------------------------------------------------------------------------------
// 6. A database gets its scheduler with its first stream table and loses it with the last one;
//    DROP EXTENSION stops it too. (Many databases and few worker slots: databases_test.cpp.)

class SchedulerDatabasesTest : public SchedulerTest {};

TEST_F(SchedulerDatabasesTest, FirstStreamTableStartsASchedulerLastOneStopsIt) {
	const std::string newdb = "e2e_sched_newdb";
	struct DropAtEnd {
		std::string db;
		~DropAtEnd() {
			try {
				GlobalCluster().DropDatabase(db);
			} catch (...) {
			}
		}
	} drop_at_end{newdb};
	cluster().CreateDatabase(newdb);
	EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM pg_stat_activity "
	                      "WHERE backend_type = 'pg_trickle launcher'"),
	          1);

	auto other = cluster().Connect(newdb);
	// Without the extension, and with it but without stream tables, no scheduler stays (one may
	// be probing the database right now).
	EXPECT_TRUE(WaitFor([&] { return SchedulersIn(*conn_, newdb) == 0; }, 10s, 100ms));
	other->Exec("CREATE EXTENSION pg_trickle");
	EXPECT_TRUE(WaitFor([&] { return SchedulersIn(*conn_, newdb) == 0; }, 15s, 100ms))
	    << "a scheduler stays in a database without stream tables";
	EXPECT_EQ(other->Scalar("SELECT severity FROM pgtrickle.health_check() "
	                        "WHERE check_name = 'scheduler'"),
	          "OK");

	other->Exec("CREATE TABLE t (id int PRIMARY KEY, v int)");
	other->Exec("INSERT INTO t VALUES (1, 1), (2, 2)");
	// Created and rolled back: still no scheduler.
	other->Exec("BEGIN; SELECT pgtrickle.create_stream_table('t_sum', "
	            "'SELECT count(*) AS n, sum(v) AS s FROM t', schedule => 'calculated'); ROLLBACK");
	other->Exec("SELECT pgtrickle.create_stream_table('t_sum', "
	            "'SELECT count(*) AS n, sum(v) AS s FROM t', schedule => 'calculated')");
	ASSERT_TRUE(WaitFor([&] { return SchedulersIn(*conn_, newdb) == 1; }, 15s, 100ms))
	    << "no scheduler for the first stream table";
	other->Exec("INSERT INTO t VALUES (3, 3)");
	EXPECT_TRUE(WaitFor([&] { return other->Scalar("SELECT n || ',' || s FROM t_sum") == "3,6"; },
	                    10s, 100ms));
	EXPECT_GE(Int(*other, "SELECT count(*) FROM pgtrickle.pgt_refresh_history "
	                      "WHERE initiated_by = 'SCHEDULER' AND status = 'COMPLETED'"),
	          1);
	EXPECT_EQ(other->Scalar("SELECT severity FROM pgtrickle.health_check() "
	                        "WHERE check_name = 'scheduler'"),
	          "OK");
	// Still exactly one scheduler there.
	EXPECT_EQ(SchedulersIn(*conn_, newdb), 1);

	// The last stream table dropped: the scheduler exits.
	const std::size_t log_offset = cluster().LogSize();
	other->Exec("SELECT pgtrickle.drop_stream_table('t_sum')");
	EXPECT_TRUE(WaitFor([&] { return SchedulersIn(*conn_, newdb) == 0; }, 15s, 100ms))
	    << "the scheduler kept running without stream tables";
	EXPECT_NE(cluster().LogSince(log_offset).find("no stream tables left in this database"),
	          std::string::npos);
	// Dropped and created again in one transaction: a scheduler again.
	other->Exec("SELECT pgtrickle.create_stream_table('t_sum', "
	            "'SELECT count(*) AS n, sum(v) AS s FROM t', schedule => 'calculated')");
	EXPECT_TRUE(WaitFor([&] { return SchedulersIn(*conn_, newdb) == 1; }, 15s, 100ms))
	    << "no scheduler after re-creating a stream table";
	other->Exec("BEGIN; SELECT pgtrickle.drop_stream_table('t_sum'); "
	            "SELECT pgtrickle.create_stream_table('t_sum2', 'SELECT id FROM t', "
	            "schedule => 'calculated'); COMMIT");
	other->Exec("INSERT INTO t VALUES (4, 4)");
	EXPECT_TRUE(
	    WaitFor([&] { return other->Scalar("SELECT count(*) FROM t_sum2") == "4"; }, 15s, 100ms));
	EXPECT_EQ(SchedulersIn(*conn_, newdb), 1);

	// DROP EXTENSION (CASCADE drops the stream table): the scheduler stops.
	other->Exec("DROP EXTENSION pg_trickle CASCADE");
	EXPECT_TRUE(WaitFor([&] { return SchedulersIn(*conn_, newdb) == 0; }, 15s, 100ms))
	    << "the scheduler kept running after DROP EXTENSION";
	other.reset();
}

// ------------------------------------------------------------------------------------------------
// 7. A scheduler killed in the middle of a refresh.

class SchedulerCrashTest : public SchedulerTest {};

TEST_F(SchedulerCrashTest, KilledSchedulerIsRecoveredAndNoChangeIsLost) {
	conn_->Exec("CREATE TABLE csrc (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO csrc SELECT g, g FROM generate_series(1, 10) g");
	conn_->Exec("CREATE TABLE sleep_ctl (secs float8 NOT NULL); INSERT INTO sleep_ctl VALUES (0)");
	conn_->Exec("CREATE FUNCTION slow_gate() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$ "
	            "BEGIN PERFORM pg_catalog.pg_sleep((SELECT secs FROM public.sleep_ctl)); "
	            "RETURN true; END $f$");
	const std::string q_slow = "SELECT id, val FROM csrc WHERE (SELECT slow_gate())";
	const std::string q_plain = "SELECT id, val FROM csrc";
	Create("slow_st", q_slow, "schedule => '1s', refresh_mode => 'FULL'");
	Create("diff_st", q_plain, "schedule => 'calculated', refresh_mode => 'DIFFERENTIAL'");

	// From now on each refresh of slow_st sleeps for a minute.
	conn_->Exec("UPDATE sleep_ctl SET secs = 60");
	conn_->Exec("INSERT INTO csrc SELECT g, g FROM generate_series(11, 20) g");
	long long running_id = 0;
	ASSERT_TRUE(WaitFor(
	    [&] {
		    auto id = conn_->ScalarOpt(
		        "SELECT max(h.refresh_id) FROM pgtrickle.pgt_refresh_history h "
		        "JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = 'slow_st' "
		        "AND h.status = 'RUNNING' AND h.initiated_by = 'SCHEDULER' AND EXISTS ("
		        "SELECT FROM pg_stat_activity WHERE backend_type = 'pg_trickle scheduler' AND "
		        "datname = current_database() AND wait_event = 'PgSleep')");
		    if (!id)
			    return false;
		    running_id = std::stoll(*id);
		    return true;
	    },
	    15s, 100ms))
	    << "no slow refresh started";
	// The refresh in flight read secs = 60 on its snapshot; the next one will not sleep.
	conn_->Exec("UPDATE sleep_ctl SET secs = 0");
	conn_->Exec("INSERT INTO csrc SELECT g, g FROM generate_series(21, 25) g");
	conn_->Exec("UPDATE csrc SET val = val * 100 WHERE id % 5 = 0");
	conn_->Exec("DELETE FROM csrc WHERE id IN (2, 12)");
	const int scheduler_pid =
	    std::stoi(conn_->Scalar("SELECT pid FROM pg_stat_activity WHERE backend_type = "
	                            "'pg_trickle scheduler' AND datname = current_database()"));
	const int postmaster_pid = cluster().ServerPid();
	const std::size_t log_offset = cluster().LogSize();

	ASSERT_EQ(::kill(scheduler_pid, SIGKILL), 0);
	conn_.reset();

	// The postmaster reinitializes (crash recovery), the launcher and our scheduler come back,
	// and start-up recovery marks the interrupted refresh FAILED.
	std::string final_status;
	ASSERT_TRUE(WaitFor(
	    [&] {
		    try {
			    if (!conn_)
				    conn_ = Connect();
			    final_status = conn_->Scalar(
			        "SELECT status FROM pgtrickle.pgt_refresh_history WHERE refresh_id = " +
			        std::to_string(running_id));
			    return final_status != "RUNNING" && SchedulersIn(*conn_, db()) == 1;
		    } catch (const std::exception &) {
			    conn_.reset();
			    return false;
		    }
	    },
	    60s, 200ms))
	    << "no recovery; last status " << final_status << "\nlog:\n"
	    << cluster().LogSince(log_offset);
	EXPECT_EQ(cluster().ServerPid(), postmaster_pid) << "expected crash recovery, not a restart";
	const std::string log = cluster().LogSince(log_offset);
	EXPECT_NE(log.find("terminated by signal 9"), std::string::npos) << log;
	EXPECT_NE(log.find("reinitializing"), std::string::npos) << log;
	EXPECT_NE(std::stoi(conn_->Scalar("SELECT pid FROM pg_stat_activity WHERE backend_type = "
	                                  "'pg_trickle scheduler' AND datname = current_database()")),
	          scheduler_pid);

	EXPECT_EQ(final_status, "FAILED");
	const std::string message =
	    conn_->Scalar("SELECT coalesce(error_message, '') FROM pgtrickle.pgt_refresh_history "
	                  "WHERE refresh_id = " +
	                  std::to_string(running_id));
	EXPECT_NE(message.find("restart"), std::string::npos) << message;
	EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM pgtrickle.pgt_refresh_history h WHERE "
	                      "h.status = 'RUNNING' AND h.refresh_id <= " +
	                          std::to_string(running_id)),
	          0);

	// Both stream tables catch up with every change, made before or during the killed refresh.
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "slow_st", q_plain) == 0 &&
		           Mismatches(*conn_, "diff_st", q_plain) == 0;
	    },
	    30s, 200ms))
	    << "slow_st:\n"
	    << Format(Dump(*conn_, "slow_st")) << "diff_st:\n"
	    << Format(Dump(*conn_, "diff_st"));
	EXPECT_GE(HistoryCount(*conn_, "slow_st", running_id,
	                       "status = 'COMPLETED' AND initiated_by = 'SCHEDULER'"),
	          1);
	EXPECT_EQ(Int(*conn_, "SELECT count(*) FROM slow_st"), 23);
	EXPECT_EQ(conn_->Scalar("SELECT status FROM pgtrickle.pgt_stream_tables "
	                        "WHERE pgt_name = 'slow_st'"),
	          "ACTIVE");
}

// ------------------------------------------------------------------------------------------------
// 8. Soak: concurrent writers and readers while the scheduler refreshes an atomic diamond.

class SchedulerSoakTest : public SchedulerTest {};

int SoakSeconds() {
	const char *s = std::getenv("PGT_SOAK_SECONDS");
	return s != nullptr && *s != '\0' ? std::max(1, std::atoi(s)) : 60;
}

TEST_F(SchedulerSoakTest, ReadersNeverSeeAHalfRefreshedGroup) {
	constexpr int kRows = 200;
	conn_->Exec("CREATE TABLE soak_src (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO soak_src SELECT g, g FROM generate_series(1, " +
	            std::to_string(kRows) + ") g");
	const std::string qb = "SELECT id, val FROM soak_src";
	const std::string qc = "SELECT id, val * 2 AS v2 FROM soak_src";
	const std::string qd = "SELECT b.id, b.val AS b, c.v2 AS c FROM b JOIN c ON b.id = c.id";
	const std::string truth_d = "SELECT id, val AS b, val * 2 AS c FROM soak_src";
	Create("b", qb, "refresh_mode => 'AUTO'");
	Create("c", qc, "refresh_mode => 'AUTO'");
	Create("d", qd, "refresh_mode => 'AUTO'");
	ASSERT_EQ(Int(*conn_, "SELECT count(*) FROM pgtrickle.diamond_groups()"), 3);
	const long long mark = HistoryMark(*conn_);
	const long long epoch0 = GroupEpoch(*conn_, "d");

	const int seconds = SoakSeconds();
	std::atomic<bool> stop{false};
	std::atomic<long long> writes{0}, checks{0}, violations{0};
	std::mutex mu;
	std::vector<std::string> errors;
	auto record_error = [&](const std::string &what) {
		std::lock_guard<std::mutex> lock(mu);
		if (errors.size() < 20)
			errors.push_back(what);
		stop = true;
	};

	std::vector<std::thread> threads;
	for (int w = 0; w < 4; w++) {
		threads.emplace_back([&, w] {
			try {
				auto conn = Connect();
				std::mt19937 rng(1000 + w);
				std::uniform_int_distribution<int> id(1, kRows), val(-1000, 1000), n(1, 3);
				while (!stop) {
					// Locks in id order: no deadlocks between writers.
					std::vector<int> ids;
					for (int i = n(rng); i > 0; i--)
						ids.push_back(id(rng));
					std::sort(ids.begin(), ids.end());
					std::string sql = "BEGIN;";
					for (int i : ids)
						sql += "UPDATE soak_src SET val = " + std::to_string(val(rng)) +
						       " WHERE id = " + std::to_string(i) + ";";
					sql += "COMMIT";
					conn->Exec(sql);
					++writes;
				}
			} catch (const std::exception &e) {
				record_error(std::string("writer: ") + e.what());
			}
		});
	}
	const std::string bad_d = "SELECT count(*) FROM d WHERE c <> 2 * b";
	const std::string bad_bc = "SELECT count(*) FROM b JOIN c USING (id) WHERE c.v2 <> 2 * b.val";
	// Counts in one statement (one snapshot): rows are only updated, never added or removed.
	const std::string counts = "SELECT (SELECT count(*) FROM b) || ',' || "
	                           "(SELECT count(*) FROM c) || ',' || (SELECT count(*) FROM d)";
	const std::string expected_counts =
	    std::to_string(kRows) + "," + std::to_string(kRows) + "," + std::to_string(kRows);
	for (int r = 0; r < 4; r++) {
		const bool repeatable = r % 2 == 1;
		threads.emplace_back([&, repeatable] {
			try {
				auto conn = Connect();
				while (!stop) {
					if (repeatable)
						conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
					long long bad = Int(*conn, bad_d) + Int(*conn, bad_bc);
					std::string n = conn->Scalar(counts);
					if (repeatable) {
						// Same snapshot: the second look sees the same consistent state.
						bad += Int(*conn, bad_bc) + Int(*conn, bad_d);
						if (conn->Scalar(counts) != n)
							++bad;
						conn->Exec("COMMIT");
					}
					if (n != expected_counts)
						++bad;
					if (bad != 0) {
						++violations;
						record_error(
						    std::string(repeatable ? "REPEATABLE READ" : "READ COMMITTED") +
						    " reader saw a torn group (counts " + n + ")");
					}
					++checks;
				}
			} catch (const std::exception &e) {
				record_error(std::string("reader: ") + e.what());
			}
		});
	}

	const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
	while (!stop && std::chrono::steady_clock::now() < until)
		std::this_thread::sleep_for(100ms);
	stop = true;
	for (auto &t : threads)
		t.join();

	for (const std::string &e : errors)
		ADD_FAILURE() << e;
	EXPECT_EQ(violations.load(), 0);
	EXPECT_GE(checks.load(), 1000) << "too few reader checks";
	EXPECT_GE(writes.load(), 100) << "too few writes";
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return Mismatches(*conn_, "b", qb) == 0 && Mismatches(*conn_, "c", qc) == 0 &&
		           Mismatches(*conn_, "d", truth_d) == 0;
	    },
	    30s, 200ms))
	    << "the group did not converge after the writers stopped";
	ASSERT_TRUE(WaitQuiet(1s, 20s));
	const long long committed = Int(
	    *conn_, "SELECT count(DISTINCT group_epoch) FROM pgtrickle.pgt_refresh_history WHERE "
	            "status = 'COMPLETED' AND initiated_by = 'SCHEDULER' AND group_epoch IS NOT NULL "
	            "AND refresh_id > " +
	                std::to_string(mark));
	EXPECT_GE(committed, std::min(5, seconds)) << "the scheduler made too little progress";
	EXPECT_EQ(HistoryCount(*conn_, "b", mark, "status <> 'COMPLETED'"), 0);
	EXPECT_EQ(GroupEpoch(*conn_, "d"), epoch0 + committed);
	std::cout << "soak: " << seconds << " s, " << writes.load() << " write transactions, "
	          << checks.load() << " reader checks, " << committed << " group refreshes\n";
	EXPECT_EQ(Mismatches(*conn_, "d", qd), 0);
}

// ------------------------------------------------------------------------------------------------
// Staleness (docs/configuration.md): stream_tables_info.stale and the scheduler's stale_data alert
// are one rule, for cron schedules as for durations: one alert per stale episode. Before the rule
// was shared, the scheduler only knew duration schedules and a stale cron table never alerted.

class SchedulerStaleTest : public SchedulerTest {};

TEST_F(SchedulerStaleTest, CronAndDurationTablesAlertOncePerStaleEpisode) {
	AlertListener alerts(Connect());
	conn_->Exec("CREATE TABLE src (id int PRIMARY KEY)");
	conn_->Exec("INSERT INTO src VALUES (1)");
	// Neither is due for a long while: the scheduler will not refresh them during the test.
	Create("yearly", "SELECT id FROM src", "schedule => '0 0 1 1 *', refresh_mode => 'FULL'");
	Create("hourly", "SELECT id FROM src", "schedule => '1h', refresh_mode => 'FULL'");
	auto age = [&](const std::string &name, const std::string &by) {
		conn_->Exec("UPDATE pgtrickle.pgt_stream_tables SET data_timestamp = now() - interval " +
		            Lit(by) + " WHERE pgt_name = " + Lit(name));
	};
	auto stale = [&](const std::string &name) {
		return conn_->Scalar("SELECT stale FROM pgtrickle.stream_tables_info WHERE pgt_name = " +
		                     Lit(name));
	};
	EXPECT_EQ(stale("yearly"), "f");
	EXPECT_EQ(stale("hourly"), "f");
	std::this_thread::sleep_for(500ms);
	EXPECT_EQ(alerts.Count("stale_data"), 0) << alerts.Describe();

	// The gap between two firings of '0 0 1 1 *' is a year (or 366 days): 3 years is stale.
	age("yearly", "3 years");
	age("hourly", "3 hours");
	EXPECT_EQ(stale("yearly"), "t");
	EXPECT_EQ(stale("hourly"), "t");
	auto alerted = [&](const std::string &name) {
		int n = 0;
		for (const Alert &a : alerts.Poll())
			if (a.event == "stale_data" && a.stream_table.find(name) != std::string::npos)
				++n;
		return n;
	};
	ASSERT_TRUE(
	    WaitFor([&] { return alerted("yearly") >= 1 && alerted("hourly") >= 1; }, 10s, 100ms))
	    << "no stale_data alert for both stream tables:\n"
	    << alerts.Describe();
	// One per episode: more ticks do not repeat it.
	std::this_thread::sleep_for(1s);
	EXPECT_EQ(alerted("yearly"), 1) << alerts.Describe();
	EXPECT_EQ(alerted("hourly"), 1) << alerts.Describe();

	// A refresh that changes the data ends the episode; aging it again starts a new one, with a
	// new alert.
	conn_->Exec("INSERT INTO src VALUES (2)");
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('yearly')");
	EXPECT_EQ(stale("yearly"), "f");
	std::this_thread::sleep_for(1s); // the scheduler sees it fresh
	age("yearly", "3 years");
	ASSERT_TRUE(WaitFor([&] { return alerted("yearly") >= 2; }, 10s, 100ms)) << alerts.Describe();
	EXPECT_EQ(alerted("hourly"), 1) << alerts.Describe();
}

} // namespace
} // namespace pgt::e2e

namespace pgt::e2e {
namespace {

// ------------------------------------------------------------------------------------------------
// A scheduler start does not write the catalog rows of stream tables whose parse tree is current.
// At start a scheduler derives parse trees again where pg_upgrade may have left stale OIDs; it used
// to rewrite every row (the re-analyzed tree differs in token locations), and since schedulers
// start when a database gets its first stream table, that write deadlocked with the user's own
// refresh or drop in the same moment (40P01 in regress, isolation and the oracle).

class SchedulerStartTest : public SchedulerTest {};

TEST_F(SchedulerStartTest, StartWritesNoCurrentCatalogRow) {
	conn_->Exec("CREATE TABLE ssrc (id int PRIMARY KEY, v int)");
	conn_->Exec("INSERT INTO ssrc VALUES (1, 1), (2, 2)");
	// Created in one transaction: every catalog row carries its xid (the scheduler of this
	// database starts when it commits).
	conn_->Exec("BEGIN");
	Create("ss_a", "SELECT id, v * 2 AS w FROM ssrc", "schedule => '1h', refresh_mode => 'FULL'");
	Create("ss_b", "SELECT v, count(*) AS n FROM ssrc GROUP BY v",
	       "schedule => '1h', refresh_mode => 'DIFFERENTIAL'");
	const std::string xid = conn_->Scalar("SELECT pg_current_xact_id()::text");
	conn_->Exec("COMMIT");
	const std::string expected = "ss_a:" + xid + ",ss_b:" + xid;
	const char *const versions =
	    "SELECT string_agg(pgt_name || ':' || xmin::text, ',' ORDER BY pgt_name) "
	    "FROM pgtrickle.pgt_stream_tables";
	const char *const scheduler = "SELECT max(pid)::text FROM pg_stat_activity WHERE backend_type "
	                              "= 'pg_trickle scheduler' AND datname = current_database()";
	ASSERT_TRUE(WaitFor([&] { return conn_->ScalarOpt(scheduler).has_value(); }, 30s, 100ms))
	    << "no scheduler started";
	std::this_thread::sleep_for(2s); // its start-up work and first ticks (nothing is due)
	EXPECT_EQ(conn_->Scalar(versions), expected)
	    << "the first scheduler start rewrote catalog rows";

	// Again after a restart of the scheduler.
	const std::string pid = *conn_->ScalarOpt(scheduler);
	conn_->Exec("SELECT pg_terminate_backend(" + pid + ")");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    auto now = conn_->ScalarOpt(scheduler);
		    return now && *now != pid;
	    },
	    60s, 100ms))
	    << "no new scheduler";
	std::this_thread::sleep_for(2s);
	EXPECT_EQ(conn_->Scalar(versions), expected) << "a scheduler restart rewrote catalog rows";
}

} // namespace
} // namespace pgt::e2e
