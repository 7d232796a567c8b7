// End-to-end test harness: a private PostgreSQL cluster with pg_trickle preloaded (so the real
// scheduler runs), libpq connections with exception-based error handling, and a poll-with-deadline
// helper. One cluster serves a whole test binary; each test suite gets its own database.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

struct pg_conn;

namespace pgt::e2e {

// An error reported by the server (or by libpq) for one statement.
struct SqlError {
	std::string sqlstate; // five characters, e.g. "42P01"; empty when libpq failed locally
	std::string message;  // primary message
	std::string detail;
	std::string hint;
};

// Thrown by Conn on any error; what() includes the SQLSTATE, the message and the statement.
class PgError : public std::runtime_error {
  public:
	PgError(SqlError error, const std::string &sql);
	const SqlError &error() const {
		return error_;
	}
	const std::string &sqlstate() const {
		return error_.sqlstate;
	}

  private:
	SqlError error_;
};

using Row = std::vector<std::optional<std::string>>;
using Rows = std::vector<Row>;

// One libpq connection. Not copyable; closes on destruction.
class Conn {
  public:
	explicit Conn(const std::string &conninfo);
	~Conn();
	Conn(const Conn &) = delete;
	Conn &operator=(const Conn &) = delete;

	// Runs one or more statements; throws PgError on error.
	void Exec(const std::string &sql);
	// Runs statements and returns the error instead of throwing (nullopt on success).
	std::optional<SqlError> TryExec(const std::string &sql);
	// Runs a query and returns its rows as text (NULL → nullopt). Throws PgError on error.
	Rows Query(const std::string &sql);
	// The single value of a query returning exactly one row and one column; throws
	// std::runtime_error when the shape differs or the value is NULL.
	std::string Scalar(const std::string &sql);
	// Like Scalar, but NULL → nullopt.
	std::optional<std::string> ScalarOpt(const std::string &sql);
	// PID of the server process serving this connection.
	int BackendPid() const;
	// Notices received since the last call (e.g. from RAISE NOTICE), oldest first.
	std::vector<std::string> TakeNotices();
	// LISTEN/NOTIFY: notifications received so far (channel, payload), consuming input first.
	std::vector<std::pair<std::string, std::string>> TakeNotifications();

	pg_conn *raw() {
		return conn_;
	}

  private:
	pg_conn *conn_ = nullptr;
	std::vector<std::string> notices_;
};

// Server settings and lifecycle of one private cluster.
class Cluster {
  public:
	// `extra_settings` are appended to postgresql.conf after the defaults (so they override).
	explicit Cluster(std::map<std::string, std::string> extra_settings = {});
	~Cluster();
	Cluster(const Cluster &) = delete;
	Cluster &operator=(const Cluster &) = delete;

	// Creates the data directory, runs initdb and starts the server; throws on failure.
	void Start();
	// Stops the server (pg_ctl -m fast); safe to call when it is not running.
	void Stop();
	// Stops and starts the server again (e.g. to test start-up recovery).
	void Restart();
	// Sets a parameter in postgresql.auto.conf (ALTER SYSTEM) and reloads the configuration.
	void SetAndReload(const std::string &name, const std::string &value);
	// Postmaster PID (from postmaster.pid), or -1 when the server is not running.
	int ServerPid() const;

	std::unique_ptr<Conn> Connect(const std::string &db = "postgres") const;
	std::string ConnInfo(const std::string &db = "postgres") const;
	// Runs psql with the given arguments against database `db`; returns its exit status and
	// puts its combined output into `output`.
	int Psql(const std::string &db, const std::vector<std::string> &args,
	         std::string *output = nullptr) const;

	// Creates a database (dropping a leftover of the same name first).
	void CreateDatabase(const std::string &db);
	// Drops a database, terminating its sessions and workers.
	void DropDatabase(const std::string &db);

	// The last `lines` lines of the server log.
	std::string LogTail(std::size_t lines = 60) const;
	// The whole server log.
	std::string Log() const;
	// Byte offset of the end of the log now: pass it to LogSince to read only what follows.
	std::size_t LogSize() const;
	std::string LogSince(std::size_t offset) const;

	int port() const {
		return port_;
	}
	const std::string &socket_dir() const {
		return base_dir_;
	}
	const std::string &data_dir() const {
		return data_dir_;
	}
	const std::string &user() const {
		return user_;
	}

  private:
	void RunAsServerUser(const std::vector<std::string> &argv, bool allow_failure = false) const;

	std::map<std::string, std::string> extra_settings_;
	std::string bindir_;
	std::string base_dir_; // mktemp dir: socket dir, log file, data dir inside it
	std::string data_dir_;
	std::string log_file_;
	std::string user_; // database superuser = the OS user running the server
	int port_ = 0;
	bool running_ = false;
};

// Polls `condition` every `interval` until it returns true or `deadline` has passed; returns
// whether it became true. Exceptions from `condition` propagate.
bool WaitFor(const std::function<bool()> &condition, std::chrono::milliseconds deadline,
             std::chrono::milliseconds interval = std::chrono::milliseconds(50));

// Query rows, one per line as "  (a, b, NULL)", for assertion messages.
std::string Format(const Rows &rows);

// Compares the results of two queries BY IDENTITY, as multisets: each row becomes its text form
// (run it on a connection with extra_float_digits = 3, so that float8 keeps its exact digits and
// -0; numeric keeps its scale, text its bytes whatever the collation) and both sides are counted
// per text. Never a type's `=` (EXCEPT ALL would call 1.0 and 1.00, 'a' and 'A' under a
// case-insensitive collation the same). Returns "" when they are equal, else up to 40 differing
// rows, one per line: "  stream table has N, query has M: (row)" (`left` is the stream table).
std::string IdentityDiff(Conn &conn, const std::string &left, const std::string &right);

// The cluster shared by every test of this binary (started by the global test environment).
Cluster &GlobalCluster();

// Fixture base: gives each test suite its own database (created on first use, dropped at the
// end of the suite) and each test a fresh connection `conn_` to it.
class ClusterTest : public ::testing::Test {
  protected:
	static void TearDownTestSuite();
	void SetUp() override;
	void TearDown() override;

	Cluster &cluster() {
		return GlobalCluster();
	}
	// The suite's database name (e2e_<suite name, lower case>).
	const std::string &db() const {
		return db_;
	}
	// CREATE EXTENSION IF NOT EXISTS pg_trickle in the suite's database.
	void EnsureExtension();
	// Another connection to the suite's database (for concurrency tests).
	std::unique_ptr<Conn> Connect() {
		return cluster().Connect(db_);
	}

	std::string db_;
	std::unique_ptr<Conn> conn_;

  private:
	static std::set<std::string> &SuiteDatabases();
};

} // namespace pgt::e2e
