// End-to-end test of pg_trickle on a streaming standby (SPEC §7: "does nothing on a hot standby;
// starts on promotion"; SPEC §2: a group's members become visible in one commit for every reader).
// A standby of the shared test cluster is made with pg_basebackup -R into a private directory
// (Unix socket only, port = primary port + 1): it runs no pg_trickle launcher or scheduler,
// readers on it never see a half-applied group refresh while the primary's scheduler refreshes,
// and after pg_promote() its scheduler starts and keeps the stream tables fresh.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

// Runs argv (as the cluster's OS user when we are root) in `cwd`; returns the exit status and
// appends the combined output to *output.
int RunAsServerUser(const std::string &user, const std::vector<std::string> &argv,
                    const std::string &cwd, std::string *output) {
	std::vector<std::string> full;
	if (geteuid() == 0)
		full = {"runuser", "-u", user, "--"};
	full.insert(full.end(), argv.begin(), argv.end());
	int fds[2];
	if (pipe(fds) != 0)
		throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		if (chdir(cwd.c_str()) != 0)
			_exit(126);
		std::vector<char *> args;
		for (const std::string &a : full)
			args.push_back(const_cast<char *>(a.c_str()));
		args.push_back(nullptr);
		execvp(args[0], args.data());
		_exit(127);
	}
	close(fds[1]);
	char buf[4096];
	ssize_t n;
	while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && output != nullptr)
			output->append(buf, static_cast<std::size_t>(n));
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string BinDir() {
	FILE *p = popen("pg_config --bindir", "r");
	if (p == nullptr)
		throw std::runtime_error("pg_config --bindir failed");
	char buf[1024];
	std::string out;
	while (fgets(buf, sizeof buf, p) != nullptr)
		out += buf;
	pclose(p);
	while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
		out.pop_back();
	return out;
}

long long Int(Conn &conn, const std::string &sql) {
	return std::stoll(conn.Scalar(sql));
}

long long Workers(Conn &conn, const std::string &type) {
	return Int(conn, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '" + type + "'");
}

// A standby of GlobalCluster() in a private directory; stopped and removed on destruction.
class Standby {
  public:
	explicit Standby(const Cluster &primary)
	    : user_(primary.user()), bindir_(BinDir()), port_(primary.port() + 1) {
		char tmpl[] = "/tmp/pgt_standby.XXXXXX";
		if (mkdtemp(tmpl) == nullptr)
			throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
		dir_ = tmpl;
		if (geteuid() == 0) {
			const passwd *pw = getpwnam(user_.c_str());
			if (pw == nullptr || chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
				throw std::runtime_error("chown " + dir_ + " failed");
		}
		Must({bindir_ + "/pg_basebackup", "-D", dir_ + "/data", "-R", "-X", "stream", "-c", "fast",
		      "-h", primary.socket_dir(), "-p", std::to_string(primary.port()), "-U", user_});
		// Later lines override the primary's settings copied by the backup.
		std::ofstream conf(dir_ + "/data/postgresql.conf", std::ios::app);
		conf << "\n# standby\nport = " << port_ << "\nunix_socket_directories = '" << dir_
		     << "'\nhot_standby = on\n";
		conf.close();
		Must({bindir_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t",
		      "60", "start"});
		running_ = true;
	}
	~Standby() {
		std::string out;
		if (running_)
			RunAsServerUser(
			    user_, {bindir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"},
			    dir_, &out);
		RunAsServerUser(user_, {"rm", "-rf", dir_}, "/tmp", &out);
		if (geteuid() == 0)
			rmdir(dir_.c_str());
	}
	Standby(const Standby &) = delete;
	Standby &operator=(const Standby &) = delete;

	std::unique_ptr<Conn> Connect(const std::string &db) const {
		return std::make_unique<Conn>("host=" + dir_ + " port=" + std::to_string(port_) +
		                              " user=" + user_ + " dbname=" + db +
		                              " application_name=pgt_e2e_standby connect_timeout=10");
	}
	std::string Log() const {
		std::ifstream in(dir_ + "/server.log");
		return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
	}

  private:
	void Must(const std::vector<std::string> &argv) {
		std::string out;
		int rc = RunAsServerUser(user_, argv, dir_, &out);
		if (rc != 0) {
			std::string cmd;
			for (const auto &a : argv)
				cmd += a + " ";
			throw std::runtime_error("failed (exit " + std::to_string(rc) + "): " + cmd + "\n" +
			                         out + Log());
		}
	}

	std::string user_;
	std::string bindir_;
	int port_;
	std::string dir_;
	bool running_ = false;
};

class SchedulerStandbyTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
	}
};

TEST_F(SchedulerStandbyTest, StandbyRunsNoSchedulerSeesAtomicGroupsAndStartsOneOnPromotion) {
	constexpr int kRows = 100;
	conn_->Exec("CREATE TABLE src (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO src SELECT g, g FROM generate_series(1, " + std::to_string(kRows) +
	            ") g");
	conn_->Exec("SELECT pgtrickle.create_stream_table('b', 'SELECT id, val FROM src')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('c', 'SELECT id, val * 2 AS v2 FROM src')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('d', "
	            "'SELECT b.id, b.val AS b, c.v2 AS c FROM b JOIN c ON b.id = c.id')");
	ASSERT_EQ(Int(*conn_, "SELECT count(*) FROM pgtrickle.diamond_groups()"), 3);
	const std::string truth_d = "SELECT id, val AS b, val * 2 AS c FROM src";
	auto mismatches = [&](Conn &conn) {
		return Int(conn, "SELECT count(*) FROM ((SELECT * FROM d EXCEPT ALL " + truth_d +
		                     ") UNION ALL (" + truth_d + " EXCEPT ALL SELECT * FROM d)) x");
	};

	std::unique_ptr<Standby> standby;
	try {
		standby = std::make_unique<Standby>(cluster());
	} catch (const std::exception &e) {
		FAIL() << "could not set up the standby: " << e.what();
	}
	std::unique_ptr<Conn> sconn;
	ASSERT_TRUE(WaitFor(
	    [&] {
		    try {
			    sconn = standby->Connect(db());
			    return true;
		    } catch (const std::exception &) {
			    return false;
		    }
	    },
	    30s, 200ms))
	    << standby->Log();
	ASSERT_EQ(sconn->Scalar("SELECT pg_is_in_recovery()::text"), "true");

	// Nothing of pg_trickle runs on the standby, now or a little later.
	EXPECT_FALSE(WaitFor(
	    [&] {
		    return Workers(*sconn, "pg_trickle launcher") +
		               Workers(*sconn, "pg_trickle scheduler") >
		           0;
	    },
	    3s, 200ms))
	    << "a pg_trickle worker runs on the standby";

	// Readers on the standby while the primary's scheduler refreshes the group under writes.
	std::atomic<bool> stop{false};
	std::atomic<long long> checks{0}, violations{0};
	std::mutex mu;
	std::vector<std::string> errors;
	auto record_error = [&](const std::string &what) {
		std::lock_guard<std::mutex> lock(mu);
		if (errors.size() < 10)
			errors.push_back(what);
		stop = true;
	};
	std::vector<std::thread> threads;
	threads.emplace_back([&] {
		try {
			auto conn = Connect();
			std::mt19937 rng(7);
			std::uniform_int_distribution<int> id(1, kRows), val(-500, 500);
			while (!stop) {
				conn->Exec("UPDATE src SET val = " + std::to_string(val(rng)) +
				           " WHERE id = " + std::to_string(id(rng)));
				std::this_thread::sleep_for(2ms);
			}
		} catch (const std::exception &e) {
			record_error(std::string("writer: ") + e.what());
		}
	});
	for (int r = 0; r < 2; r++) {
		threads.emplace_back([&, r] {
			try {
				auto conn = standby->Connect(db());
				while (!stop) {
					if (r == 1)
						conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
					long long bad =
					    Int(*conn, "SELECT count(*) FROM d WHERE c <> 2 * b") +
					    Int(*conn,
					        "SELECT count(*) FROM b JOIN c USING (id) WHERE c.v2 <> 2 * b.val") +
					    Int(*conn, "SELECT count(*) FROM b FULL JOIN c USING (id) "
					               "WHERE b.id IS NULL OR c.id IS NULL");
					if (r == 1)
						conn->Exec("COMMIT");
					if (bad != 0) {
						++violations;
						record_error("standby reader saw a torn group");
					}
					++checks;
				}
			} catch (const std::exception &e) {
				record_error(std::string("standby reader: ") + e.what());
			}
		});
	}
	const long long epoch0 = Int(*sconn, "SELECT max(epoch) FROM pgtrickle.diamond_groups()");
	// Run until the standby has replayed several group refreshes (at most 30 s).
	WaitFor(
	    [&] {
		    return stop ||
		           Int(*sconn, "SELECT max(epoch) FROM pgtrickle.diamond_groups()") >= epoch0 + 10;
	    },
	    30s, 200ms);
	stop = true;
	for (auto &t : threads)
		t.join();
	for (const auto &e : errors)
		ADD_FAILURE() << e;
	EXPECT_EQ(violations.load(), 0);
	EXPECT_GE(Int(*sconn, "SELECT max(epoch) FROM pgtrickle.diamond_groups()"), epoch0 + 10)
	    << "too few group refreshes reached the standby";
	EXPECT_GE(checks.load(), 100);
	// The standby catches up with the primary's final state.
	EXPECT_TRUE(WaitFor([&] { return mismatches(*sconn) == 0; }, 30s, 200ms));
	EXPECT_EQ(Workers(*sconn, "pg_trickle scheduler"), 0);

	// Promotion: the launcher and this database's scheduler start, and refreshes resume there.
	sconn->Exec("SELECT pg_promote()");
	ASSERT_TRUE(WaitFor(
	    [&] { return sconn->Scalar("SELECT pg_is_in_recovery()::text") == "false"; }, 30s, 200ms));
	EXPECT_TRUE(WaitFor(
	    [&] {
		    return Int(*sconn, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
		                       "'pg_trickle scheduler' AND datname = current_database()") == 1;
	    },
	    30s, 200ms))
	    << "no scheduler after promotion\n"
	    << standby->Log();
	EXPECT_EQ(Workers(*sconn, "pg_trickle launcher"), 1);
	sconn->Exec("UPDATE src SET val = val + 1000 WHERE id <= 10");
	sconn->Exec("INSERT INTO src VALUES (" + std::to_string(kRows + 1) + ", 1)");
	EXPECT_TRUE(WaitFor([&] { return mismatches(*sconn) == 0; }, 20s, 200ms))
	    << "the promoted server does not refresh";
	EXPECT_GE(Int(*sconn, "SELECT count(*) FROM pgtrickle.pgt_refresh_history WHERE "
	                      "initiated_by = 'SCHEDULER' AND status = 'COMPLETED' AND "
	                      "data_timestamp > pg_postmaster_start_time()"),
	          1);
	sconn.reset();
}

} // namespace
} // namespace pgt::e2e
