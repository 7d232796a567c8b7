// End-to-end test of the Prometheus metrics (monitoring/prometheus-postgres-exporter.yaml): starts
// the real exporter of Debian's prometheus-postgres-exporter package against the test cluster,
// scrapes /metrics over HTTP (a plain socket) and checks that every pg_trickle metric family
// appears with the values the catalog holds: staleness, last refresh duration, refresh counts by
// action and status, consecutive errors, pending change rows, buffer sizes, group epochs.
// A missing exporter binary is a failure, not a skip (scripts/install-deps.sh installs it).
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PGT_SOURCE_DIR
#error "PGT_SOURCE_DIR must name the source tree (set by CMakeLists.txt)"
#endif

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

std::string Env(const char *name, const std::string &fallback) {
	const char *value = std::getenv(name);
	return value != nullptr && *value != '\0' ? value : fallback;
}

// The exporter process: started with the query file and a private port, stopped on destruction.
class Exporter {
  public:
	Exporter(const std::string &binary, const std::string &dsn, const std::string &query_file,
	         int port, const std::string &log_file)
	    : port_(port), log_file_(log_file) {
		const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port);
		const std::string queries = "--extend.query-path=" + query_file;
		pid_ = fork();
		if (pid_ < 0)
			throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
		if (pid_ == 0) {
			int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
				close(fd);
			}
			setenv("DATA_SOURCE_NAME", dsn.c_str(), 1);
			unsetenv("PG_EXPORTER_EXTEND_QUERY_PATH");
			execl(binary.c_str(), binary.c_str(), listen.c_str(), queries.c_str(),
			      "--disable-default-metrics", "--disable-settings-metrics",
			      "--no-collector.database", "--no-collector.bgwriter", "--log.level=debug",
			      static_cast<char *>(nullptr));
			_exit(127);
		}
	}
	~Exporter() {
		if (pid_ > 0) {
			kill(pid_, SIGTERM);
			int status = 0;
			for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; i++)
				std::this_thread::sleep_for(100ms);
			if (waitpid(pid_, &status, WNOHANG) == 0) {
				kill(pid_, SIGKILL);
				waitpid(pid_, &status, 0);
			}
		}
	}
	Exporter(const Exporter &) = delete;
	Exporter &operator=(const Exporter &) = delete;

	bool Running() const {
		int status = 0;
		return waitpid(pid_, &status, WNOHANG) == 0;
	}

	// GET path over HTTP/1.0; returns the body, or throws when the connection fails or the
	// status is not 200.
	std::string Get(const std::string &path) const {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_port = htons(static_cast<uint16_t>(port_));
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
			int err = errno;
			close(fd);
			throw std::runtime_error(std::string("connect: ") + std::strerror(err));
		}
		const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
		std::size_t sent = 0;
		while (sent < request.size()) {
			ssize_t n = send(fd, request.data() + sent, request.size() - sent, 0);
			if (n <= 0) {
				close(fd);
				throw std::runtime_error("send failed");
			}
			sent += static_cast<std::size_t>(n);
		}
		std::string response;
		char buf[8192];
		for (;;) {
			ssize_t n = recv(fd, buf, sizeof buf, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			response.append(buf, static_cast<std::size_t>(n));
		}
		close(fd);
		std::size_t header_end = response.find("\r\n\r\n");
		if (response.rfind("HTTP/1.", 0) != 0 || header_end == std::string::npos)
			throw std::runtime_error("malformed HTTP response: " + response.substr(0, 200));
		std::string status_line = response.substr(0, response.find("\r\n"));
		if (status_line.find(" 200 ") == std::string::npos)
			throw std::runtime_error("HTTP status: " + status_line);
		return response.substr(header_end + 4);
	}

  private:
	pid_t pid_ = -1;
	int port_;
	std::string log_file_;
};

// One sample of the text exposition format.
struct Sample {
	std::string name;
	std::map<std::string, std::string> labels;
	double value = 0;
	std::string line;
};

std::vector<Sample> ParseMetrics(const std::string &body) {
	std::vector<Sample> out;
	std::istringstream in(body);
	std::string line;
	while (std::getline(in, line)) {
		if (line.empty() || line[0] == '#')
			continue;
		Sample s;
		s.line = line;
		std::size_t i = line.find_first_of("{ ");
		s.name = line.substr(0, i);
		if (i != std::string::npos && line[i] == '{') {
			++i;
			while (i < line.size() && line[i] != '}') {
				std::size_t eq = line.find('=', i);
				std::string key = line.substr(i, eq - i);
				std::string value;
				std::size_t j = eq + 2; // skip ="
				for (; j < line.size() && line[j] != '"'; ++j) {
					if (line[j] == '\\' && j + 1 < line.size())
						++j;
					value += line[j];
				}
				s.labels[key] = value;
				i = j + 1;
				if (i < line.size() && line[i] == ',')
					++i;
			}
			++i;
		}
		std::string value = line.substr(line.find_first_not_of(' ', i));
		value = value.substr(0, value.find(' ')); // drop a timestamp
		s.value = value == "NaN" ? std::nan("") : std::strtod(value.c_str(), nullptr);
		out.push_back(std::move(s));
	}
	return out;
}

class ExporterTest : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
	}

	// The samples of `name` whose labels include `labels`.
	static std::vector<Sample> Find(const std::vector<Sample> &samples, const std::string &name,
	                                const std::map<std::string, std::string> &labels) {
		std::vector<Sample> out;
		for (const auto &s : samples) {
			if (s.name != name)
				continue;
			bool match = true;
			for (const auto &[k, v] : labels) {
				auto it = s.labels.find(k);
				match = match && it != s.labels.end() && it->second == v;
			}
			if (match)
				out.push_back(s);
		}
		return out;
	}

	// The single value of `name` with `labels`; fails the test (and returns NaN) otherwise.
	static double Value(const std::vector<Sample> &samples, const std::string &name,
	                    const std::map<std::string, std::string> &labels) {
		auto found = Find(samples, name, labels);
		std::string wanted = name + "{";
		for (const auto &[k, v] : labels)
			wanted += k + "=\"" + v + "\",";
		wanted += "}";
		EXPECT_EQ(found.size(), 1u) << "expected exactly one sample " << wanted;
		return found.size() == 1 ? found[0].value : std::nan("");
	}

	double Num(const std::string &sql) {
		return std::stod(conn_->Scalar(sql));
	}
};

TEST_F(ExporterTest, MetricsAppearWithCatalogValues) {
	const std::string binary = Env("PGT_EXPORTER_BIN", "/usr/bin/prometheus-postgres-exporter");
	struct stat st {};
	ASSERT_TRUE(stat(binary.c_str(), &st) == 0 && (st.st_mode & S_IXUSR))
	    << binary
	    << " is missing: install Debian's prometheus-postgres-exporter (scripts/install-deps.sh "
	       "does); this test must not be skipped";
	const std::string query_file =
	    std::string(PGT_SOURCE_DIR) + "/monitoring/prometheus-postgres-exporter.yaml";
	ASSERT_EQ(access(query_file.c_str(), R_OK), 0) << query_file;

	// Stream tables with every kind of metric: a FULL table refreshed by hand, a DIFFERENTIAL
	// one with pending changes, an atomic diamond whose epoch moved, and a table whose scheduled
	// refreshes fail.
	conn_->Exec("CREATE TABLE src (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO src SELECT g, g * 10 FROM generate_series(1, 100) g");
	conn_->Exec("CREATE TABLE err_src (id int PRIMARY KEY, val int NOT NULL)");
	conn_->Exec("INSERT INTO err_src VALUES (1, 10)");
	conn_->Exec("SELECT pgtrickle.create_stream_table('st_full', 'SELECT count(*) AS n FROM src', "
	            "schedule => '1h', refresh_mode => 'FULL')");
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('st_full')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('st_diff', 'SELECT id, val FROM src', "
	            "schedule => '1h', refresh_mode => 'DIFFERENTIAL')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('b', 'SELECT id, val FROM src', "
	            "schedule => '1h', refresh_mode => 'DIFFERENTIAL')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('c', 'SELECT id, val * 2 AS v2 FROM src', "
	            "schedule => '1h', refresh_mode => 'DIFFERENTIAL')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('d', "
	            "'SELECT b.id, b.val, c.v2 FROM b JOIN c ON b.id = c.id', schedule => '1h', "
	            "diamond_consistency => 'atomic')");
	conn_->Exec("SELECT pgtrickle.create_stream_table('st_err', "
	            "'SELECT id, 100 / (val - 70) AS q FROM err_src', schedule => '1s', "
	            "refresh_mode => 'FULL')");
	conn_->Exec("INSERT INTO src SELECT g, g * 10 FROM generate_series(101, 103) g");
	conn_->Exec("SELECT pgtrickle.refresh_stream_table('d')"); // the whole group, epoch + 1
	conn_->Exec("UPDATE err_src SET val = 70");
	ASSERT_TRUE(WaitFor(
	    [&] {
		    return Num("SELECT consecutive_errors FROM pgtrickle.pgt_stream_tables "
		               "WHERE pgt_name = 'st_err'") >= 2;
	    },
	    30s, 100ms))
	    << "the scheduler did not fail st_err's refreshes";
	// Freeze st_err so its counts do not move between the scrape and the checks.
	conn_->Exec("SELECT pgtrickle.pause_stream_tables(ARRAY['st_err'])");

	const int port = std::stoi(
	    Env("PGT_EXPORTER_PORT", std::to_string(std::stoi(Env("PGT_E2E_PORT", "54329")) + 5)));
	const std::string dsn = "host=" + cluster().socket_dir() +
	                        " port=" + std::to_string(cluster().port()) +
	                        " user=" + cluster().user() + " dbname=" + db() + " sslmode=disable";
	const std::string log_file = cluster().socket_dir() + "/exporter.log";
	Exporter exporter(binary, dsn, query_file, port, log_file);
	auto exporter_log = [&] {
		std::string out, line;
		std::ifstream in(log_file);
		while (std::getline(in, line))
			out += line + "\n";
		return out.size() > 8000 ? out.substr(out.size() - 8000) : out;
	};

	// Scrape until the pg_trickle families are there (the exporter loads the file at start).
	std::string body, last_error;
	std::vector<Sample> samples;
	bool up = WaitFor(
	    [&] {
		    if (!exporter.Running()) {
			    last_error = "exporter exited";
			    return true;
		    }
		    try {
			    body = exporter.Get("/metrics");
		    } catch (const std::exception &e) {
			    last_error = e.what();
			    return false;
		    }
		    samples = ParseMetrics(body);
		    return !Find(samples, "pg_trickle_group_epoch", {}).empty();
	    },
	    30s, 200ms);
	ASSERT_TRUE(up && exporter.Running())
	    << "no pg_trickle metrics from the exporter (" << last_error << ")\nlog:\n"
	    << exporter_log() << "\nbody:\n"
	    << body.substr(0, 4000);
	SCOPED_TRACE("exporter log:\n" + exporter_log() + "\nmetrics:\n" + body.substr(0, 12000));

	// Per stream table.
	for (const std::string name : {"st_full", "st_diff", "b", "c", "d", "st_err"}) {
		SCOPED_TRACE(name);
		const std::string where =
		    " FROM pgtrickle.stream_tables WHERE name = 'public." + name + "'";
		const std::map<std::string, std::string> labels = {{"name", "public." + name}};
		EXPECT_EQ(Value(samples, "pg_trickle_stream_table_consecutive_errors", labels),
		          Num("SELECT consecutive_errors" + where));
		EXPECT_EQ(Value(samples, "pg_trickle_stream_table_fresh", labels),
		          Num("SELECT fresh::int" + where));
		EXPECT_EQ(Value(samples, "pg_trickle_stream_table_group_epoch", labels),
		          Num("SELECT group_epoch" + where));
		EXPECT_NEAR(Value(samples, "pg_trickle_stream_table_last_refresh_duration_seconds", labels),
		            Num("SELECT extract(epoch FROM last_duration)" + where), 1e-6);
		EXPECT_NEAR(Value(samples, "pg_trickle_stream_table_data_timestamp_seconds", labels),
		            Num("SELECT extract(epoch FROM data_timestamp)" + where), 1e-3);
		// Staleness moves with the clock: between the scrape's value and now's.
		double staleness = Value(samples, "pg_trickle_stream_table_staleness_seconds", labels);
		EXPECT_GE(staleness, 0);
		EXPECT_LE(staleness, Num("SELECT extract(epoch FROM staleness)" + where) + 1e-3);
	}
	EXPECT_EQ(Find(samples, "pg_trickle_stream_table_fresh",
	               {{"name", "public.st_err"}, {"status", "SUSPENDED"}, {"mode", "FULL"}})
	              .size(),
	          1u);
	EXPECT_GE(
	    Value(samples, "pg_trickle_stream_table_consecutive_errors", {{"name", "public.st_err"}}),
	    2);
	EXPECT_EQ(Value(samples, "pg_trickle_stream_table_fresh", {{"name", "public.st_full"}}), 1);
	EXPECT_EQ(Value(samples, "pg_trickle_stream_table_fresh", {{"name", "public.st_err"}}), 0);

	// Refresh counts by action and status.
	// Every (stream table, action, status) the history holds, with its count and total time.
	Rows counts = conn_->Query(
	    "SELECT quote_ident(st.pgt_schema) || '.' || quote_ident(st.pgt_name), h.action, "
	    "h.status, count(*), sum(extract(epoch FROM h.end_time - h.start_time)) "
	    "FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables st USING (pgt_id) "
	    "WHERE h.status <> 'RUNNING' GROUP BY 1, 2, 3");
	ASSERT_GE(counts.size(), 6u);
	for (const auto &row : counts) {
		const std::map<std::string, std::string> labels = {
		    {"name", *row[0]}, {"action", *row[1]}, {"status", *row[2]}};
		SCOPED_TRACE(*row[0] + " " + *row[1] + " " + *row[2]);
		EXPECT_EQ(Value(samples, "pg_trickle_refreshes_total", labels), std::stod(*row[3]));
		EXPECT_NEAR(Value(samples, "pg_trickle_refreshes_seconds_total", labels),
		            std::stod(*row[4]), 1e-6);
	}
	EXPECT_EQ(Find(samples, "pg_trickle_refreshes_total", {}).size(), counts.size());
	EXPECT_EQ(Value(samples, "pg_trickle_refreshes_total",
	                {{"name", "public.st_full"}, {"action", "FULL"}, {"status", "COMPLETED"}}),
	          1); // the initial population; the manual refresh found no change
	EXPECT_EQ(Value(samples, "pg_trickle_refreshes_total",
	                {{"name", "public.st_full"}, {"action", "NO_DATA"}, {"status", "COMPLETED"}}),
	          1);
	EXPECT_GE(Value(samples, "pg_trickle_refreshes_total",
	                {{"name", "public.st_err"}, {"action", "FULL"}, {"status", "FAILED"}}),
	          2);
	double d_completed = 0;
	for (const auto &s : Find(samples, "pg_trickle_refreshes_total",
	                          {{"name", "public.d"}, {"status", "COMPLETED"}}))
		d_completed += s.value;
	EXPECT_EQ(d_completed, 2); // the initial population and the group refresh

	// Pending change rows: st_diff has not consumed the 3 rows inserted after its creation; the
	// members of the refreshed group have.
	EXPECT_EQ(Value(samples, "pg_trickle_pending_changes_rows",
	                {{"name", "public.st_diff"}, {"source", "public.src"}}),
	          3);
	EXPECT_EQ(Value(samples, "pg_trickle_pending_changes_rows",
	                {{"name", "public.b"}, {"source", "public.src"}}),
	          0);

	// Change buffer of src: its rows and size.
	EXPECT_EQ(Value(samples, "pg_trickle_change_buffer_rows", {{"source", "public.src"}}),
	          Num("SELECT max(buffer_rows) FROM pgtrickle.pending_changes() "
	              "WHERE source = 'public.src'"));
	EXPECT_GE(Value(samples, "pg_trickle_change_buffer_rows", {{"source", "public.src"}}), 3);
	EXPECT_GT(Value(samples, "pg_trickle_change_buffer_bytes", {{"source", "public.src"}}), 0);
	EXPECT_EQ(Value(samples, "pg_trickle_change_buffer_consumers", {{"source", "public.src"}}),
	          Num("SELECT cardinality(consumers) FROM pgtrickle.pgt_change_tracking "
	              "WHERE source_relid = 'src'::regclass"));

	// The group's epoch.
	const std::string group = conn_->Scalar(
	    "SELECT group_id::text FROM pgtrickle.diamond_groups() WHERE member_name = 'd'");
	EXPECT_EQ(Value(samples, "pg_trickle_group_epoch", {{"group_id", group}}),
	          Num("SELECT epoch FROM pgtrickle.diamond_groups() WHERE member_name = 'd'"));
	EXPECT_GE(Value(samples, "pg_trickle_group_epoch", {{"group_id", group}}), 1);
	EXPECT_EQ(Value(samples, "pg_trickle_group_members", {{"group_id", group}}), 3);

	// The exporter reports no failed custom query.
	for (const auto &s : Find(samples, "pg_exporter_user_queries_load_error", {}))
		EXPECT_EQ(s.value, 0) << s.line;
	for (const auto &s : Find(samples, "pg_up", {}))
		EXPECT_EQ(s.value, 1) << s.line;

	for (const char *name : {"st_full", "st_diff", "d", "c", "b", "st_err"})
		conn_->Exec(std::string("SELECT pgtrickle.drop_stream_table('") + name + "')");
	conn_->Exec("DROP TABLE src, err_src");
}

} // namespace
} // namespace pgt::e2e
