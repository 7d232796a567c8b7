// End-to-end test of the scheduler path of SPEC §9 ("a user's SQL runs with its owner's rights
// only"): the scheduler (a superuser session) refreshes a hostile role's stream tables FULL,
// DIFFERENTIAL and REINITIALIZE; the hostile "IMMUTABLE" function in their queries must only ever
// run as that role inside a security-restricted operation, must not make it superuser, and a
// setting it plants in the session must not reach the scheduler's next refreshes. Failure
// messages (which may quote data values) reach neither the alert listeners nor other roles.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

class SecurityTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
	}
};

TEST_F(SecurityTest, SchedulerRunsUserCodeAsTheOwnerRestricted) {
	Conn &c = *conn_;
	c.Exec("DROP SCHEMA IF EXISTS sec_e2e CASCADE");
	c.Exec("DROP ROLE IF EXISTS sec_e2e_hostile");
	c.Exec("CREATE ROLE sec_e2e_hostile");
	c.Exec("CREATE SCHEMA sec_e2e AUTHORIZATION sec_e2e_hostile");
	c.Exec("SET ROLE sec_e2e_hostile");
	// Records who runs it, whether restricted (LISTEN is refused in a security-restricted
	// operation), from which backend, and whether an earlier call's planted setting is still
	// there; then tries to become superuser and plants the setting.
	c.Exec("CREATE TABLE sec_e2e.calls (who name, restricted boolean, pid int, planted text)");
	c.Exec(R"sql(
CREATE FUNCTION sec_e2e.record_call() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    restricted boolean;
BEGIN
    BEGIN
        EXECUTE 'LISTEN sec_e2e_probe';
        RAISE EXCEPTION 'not restricted';
    EXCEPTION WHEN others THEN
        restricted := SQLERRM LIKE '%security-restricted operation%';
    END;
    INSERT INTO sec_e2e.calls VALUES (current_user, restricted,
        pg_backend_pid(),
        current_setting('sec_e2e.planted', true));
    BEGIN
        EXECUTE 'ALTER ROLE sec_e2e_hostile SUPERUSER';
    EXCEPTION WHEN others THEN
        NULL;
    END;
    PERFORM set_config('sec_e2e.planted', 'yes', false);
    RETURN 1;
END $$)sql");
	c.Exec("CREATE FUNCTION sec_e2e.f(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS "
	       "$$ BEGIN RETURN sec_e2e.record_call() * $1; END $$");
	c.Exec("CREATE TABLE sec_e2e.src (id int PRIMARY KEY, v int)");
	c.Exec("INSERT INTO sec_e2e.src SELECT g, g FROM generate_series(1, 50) g");
	const std::string query = "SELECT id, v FROM sec_e2e.src WHERE sec_e2e.f(1) = 1";
	c.Exec("SELECT pgtrickle.create_stream_table('sec_e2e.st_full', '" + query +
	       "', '1s', 'FULL')");
	c.Exec("SELECT pgtrickle.create_stream_table('sec_e2e.st_diff', '" + query +
	       "', 'calculated', 'DIFFERENTIAL')");
	c.Exec("RESET ROLE");
	c.Exec("DELETE FROM sec_e2e.calls");
	const std::string mark =
	    c.Scalar("SELECT coalesce(max(refresh_id), 0) FROM pgtrickle.pgt_refresh_history");

	auto refreshed = [&](const std::string &name, const std::string &action) {
		return c.Scalar("SELECT count(*) FROM pgtrickle.pgt_refresh_history h "
		                "JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) "
		                "WHERE s.pgt_name = '" +
		                name + "' AND h.refresh_id > " + mark +
		                " AND h.initiated_by = 'SCHEDULER' AND h.status = 'COMPLETED' "
		                "AND h.action = '" +
		                action + "'") != "0";
	};
	// DIFFERENTIAL and FULL by the scheduler.
	c.Exec("INSERT INTO sec_e2e.src VALUES (51, 51)");
	ASSERT_TRUE(WaitFor(
	    [&] { return refreshed("st_full", "FULL") && refreshed("st_diff", "DIFFERENTIAL"); }, 30s,
	    100ms))
	    << Format(c.Query("SELECT pgt_id, action, status, initiated_by, error_message FROM "
	                      "pgtrickle.pgt_refresh_history ORDER BY refresh_id"));
	// A column type change: the scheduler re-analyzes the query (REINITIALIZE).
	c.Exec("ALTER TABLE sec_e2e.src ALTER COLUMN v TYPE bigint");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return refreshed("st_full", "REINITIALIZE") && refreshed("st_diff", "REINITIALIZE");
	    },
	    30s, 100ms))
	    << Format(c.Query("SELECT pgt_id, action, status, initiated_by, error_message FROM "
	                      "pgtrickle.pgt_refresh_history ORDER BY refresh_id"));
	c.Exec("INSERT INTO sec_e2e.src VALUES (52, 52)");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return c.Scalar("SELECT count(*) FROM sec_e2e.st_diff") == "52" &&
		           c.Scalar("SELECT count(*) FROM sec_e2e.st_full") == "52";
	    },
	    30s, 100ms));

	Rows calls = c.Query("SELECT who, restricted, pid, planted FROM sec_e2e.calls");
	const std::string all = Format(calls);
	// Calls from another backend than this test's are the scheduler's.
	EXPECT_GE(std::stoll(c.Scalar("SELECT count(*) FROM sec_e2e.calls WHERE pid <> " +
	                              std::to_string(c.BackendPid()))),
	          2)
	    << all;
	EXPECT_EQ(c.Scalar("SELECT count(*) FROM sec_e2e.calls "
	                   "WHERE who <> 'sec_e2e_hostile' OR NOT restricted"),
	          "0")
	    << all;
	EXPECT_EQ(c.Scalar("SELECT count(*) FROM sec_e2e.calls WHERE planted = 'yes'"), "0") << all;
	EXPECT_EQ(c.Scalar("SELECT rolsuper::text FROM pg_roles WHERE rolname = 'sec_e2e_hostile'"),
	          "false");

	c.Exec("SELECT pgtrickle.drop_stream_table('sec_e2e.st_full')");
	c.Exec("SELECT pgtrickle.drop_stream_table('sec_e2e.st_diff')");
	c.Exec("DROP SCHEMA sec_e2e CASCADE");
	c.Exec("DROP ROLE sec_e2e_hostile");
}

// A failure message may quote data values: any role may LISTEN to the alerts, so the alert
// carries only the SQLSTATE; the message is in the catalog, for the owner and pg_read_all_stats.
TEST_F(SecurityTest, FailureMessagesStayWithTheOwner) {
	Conn &c = *conn_;
	c.Exec("DROP TABLE IF EXISTS sec_fail_src CASCADE");
	c.Exec("DROP ROLE IF EXISTS sec_e2e_reader");
	c.Exec("CREATE ROLE sec_e2e_reader");
	c.Exec("CREATE TABLE sec_fail_src (id int PRIMARY KEY, v text)");
	c.Exec("INSERT INTO sec_fail_src VALUES (1, '1')");
	c.Exec("SELECT pgtrickle.create_stream_table('sec_fail', "
	       "'SELECT id, v::int AS n FROM sec_fail_src', '1s', 'FULL')");
	std::unique_ptr<Conn> listener = Connect();
	listener->Exec("SET ROLE sec_e2e_reader");
	listener->Exec("LISTEN pg_trickle_alert");
	c.Exec("INSERT INTO sec_fail_src VALUES (2, 'xyzzy-secret')");

	std::vector<std::string> payloads;
	ASSERT_TRUE(WaitFor(
	    [&] {
		    for (const auto &[channel, payload] : listener->TakeNotifications()) {
			    if (channel == "pg_trickle_alert" &&
			        payload.find("refresh_failed") != std::string::npos)
				    payloads.push_back(payload);
		    }
		    return !payloads.empty();
	    },
	    30s, 100ms));
	for (const auto &payload : payloads) {
		EXPECT_EQ(payload.find("xyzzy"), std::string::npos) << payload;
		EXPECT_NE(payload.find("SQLSTATE 22P02"), std::string::npos) << payload;
	}
	EXPECT_NE(c.Scalar("SELECT last_error_message FROM pgtrickle.stream_tables_info "
	                   "WHERE pgt_name = 'sec_fail'")
	              .find("xyzzy"),
	          std::string::npos);
	EXPECT_EQ(listener->ScalarOpt("SELECT last_error_message FROM pgtrickle.stream_tables_info "
	                              "WHERE pgt_name = 'sec_fail'"),
	          std::nullopt);
	EXPECT_EQ(listener->Scalar("SELECT count(*) FROM pgtrickle.refresh_history h "
	                           "JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) "
	                           "WHERE s.pgt_name = 'sec_fail' AND h.error_message IS NOT NULL"),
	          "0");
	EXPECT_NE(c.Scalar("SELECT count(*) FROM pgtrickle.refresh_history h "
	                   "JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) "
	                   "WHERE s.pgt_name = 'sec_fail' AND h.error_message LIKE '%xyzzy%'"),
	          "0");
	listener.reset();
	c.Exec("SELECT pgtrickle.drop_stream_table('sec_fail')");
	c.Exec("DROP TABLE sec_fail_src");
	c.Exec("DROP ROLE sec_e2e_reader");
}

} // namespace
} // namespace pgt::e2e
