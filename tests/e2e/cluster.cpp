// End-to-end test harness: private cluster lifecycle (initdb, pg_ctl as the `postgres` OS user when
// run as root), libpq connections that throw on error, and the suite-per-database fixture.
#include "cluster.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pgt::e2e {
namespace {

constexpr int kDefaultPort = 54329;
constexpr const char *kServerUserWhenRoot = "postgres";

bool IsRoot() {
	return geteuid() == 0;
}

std::string Trim(std::string s) {
	while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
		s.pop_back();
	std::size_t start = 0;
	while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start])))
		++start;
	return s.substr(start);
}

// Runs argv (searching PATH), waits, and returns its exit status (-1 if it could not run or died
// from a signal). Its stdout and stderr go to `output` when given, else to ours.
int Run(const std::vector<std::string> &argv, std::string *output, const std::string &cwd = "") {
	int pipe_fds[2] = {-1, -1};
	if (output != nullptr && pipe(pipe_fds) != 0)
		throw std::runtime_error("pipe failed: " + std::string(std::strerror(errno)));
	std::cout.flush();
	std::cerr.flush();
	pid_t pid = fork();
	if (pid < 0)
		throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
	if (pid == 0) {
		if (output != nullptr) {
			dup2(pipe_fds[1], STDOUT_FILENO);
			dup2(pipe_fds[1], STDERR_FILENO);
			close(pipe_fds[0]);
			close(pipe_fds[1]);
		}
		// PostgreSQL programs need a readable working directory (the caller's may be under /root).
		if (!cwd.empty() && chdir(cwd.c_str()) != 0)
			_exit(126);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		std::vector<char *> args;
		for (const std::string &a : argv)
			args.push_back(const_cast<char *>(a.c_str()));
		args.push_back(nullptr);
		execvp(args[0], args.data());
		std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
		_exit(127);
	}
	if (output != nullptr) {
		close(pipe_fds[1]);
		char buf[4096];
		ssize_t n;
		while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
			if (n > 0)
				output->append(buf, static_cast<std::size_t>(n));
		close(pipe_fds[0]);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Join(const std::vector<std::string> &argv) {
	std::string out;
	for (const std::string &a : argv)
		out += (out.empty() ? "" : " ") + a;
	return out;
}

std::string ReadFile(const std::string &path) {
	std::ifstream in(path, std::ios::binary);
	std::ostringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

std::string QuoteConf(const std::string &value) {
	std::string out = "'";
	for (char c : value) {
		if (c == '\'')
			out += "''";
		else
			out += c;
	}
	return out + "'";
}

std::string QuoteIdent(const std::string &name) {
	std::string out = "\"";
	for (char c : name) {
		if (c == '"')
			out += "\"\"";
		else
			out += c;
	}
	return out + "\"";
}

std::string QuoteLiteral(const std::string &value) {
	std::string out = "'";
	for (char c : value) {
		if (c == '\'')
			out += "''";
		else
			out += c;
	}
	return out + "'";
}

std::string ConnValue(const std::string &value) {
	std::string out = "'";
	for (char c : value) {
		if (c == '\'' || c == '\\')
			out += '\\';
		out += c;
	}
	return out + "'";
}

SqlError ErrorFromResult(const PGresult *res, PGconn *conn) {
	SqlError e;
	auto field = [res](int code) {
		const char *v = res != nullptr ? PQresultErrorField(res, code) : nullptr;
		return std::string(v != nullptr ? v : "");
	};
	e.sqlstate = field(PG_DIAG_SQLSTATE);
	e.message = field(PG_DIAG_MESSAGE_PRIMARY);
	e.detail = field(PG_DIAG_MESSAGE_DETAIL);
	e.hint = field(PG_DIAG_MESSAGE_HINT);
	if (e.message.empty())
		e.message = Trim(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	if (e.message.empty())
		e.message = Trim(PQerrorMessage(conn));
	return e;
}

bool ResultOk(const PGresult *res) {
	if (res == nullptr)
		return false;
	ExecStatusType st = PQresultStatus(res);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

struct ResultDeleter {
	void operator()(PGresult *r) const {
		PQclear(r);
	}
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

void CollectNotice(void *arg, const PGresult *res) {
	auto *notices = static_cast<std::vector<std::string> *>(arg);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	notices->push_back(msg != nullptr ? msg : Trim(PQresultErrorMessage(res)));
}

} // namespace

// ----------------------------------------------------------------------------------------------
// PgError, Conn

PgError::PgError(SqlError error, const std::string &sql)
    : std::runtime_error("SQL error " + (error.sqlstate.empty() ? "?????" : error.sqlstate) + ": " +
                         error.message + (error.detail.empty() ? "" : "\nDETAIL: ") + error.detail +
                         (error.hint.empty() ? "" : "\nHINT: ") + error.hint + "\nin: " + sql),
      error_(std::move(error)) {
}

Conn::Conn(const std::string &conninfo) {
	conn_ = PQconnectdb(conninfo.c_str());
	if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
		SqlError e;
		e.sqlstate = "08006";
		e.message = conn_ != nullptr ? Trim(PQerrorMessage(conn_)) : "out of memory";
		PQfinish(conn_);
		conn_ = nullptr;
		throw PgError(e, "(connect " + conninfo + ")");
	}
	PQsetNoticeReceiver(conn_, CollectNotice, &notices_);
}

Conn::~Conn() {
	if (conn_ != nullptr)
		PQfinish(conn_);
}

std::optional<SqlError> Conn::TryExec(const std::string &sql) {
	ResultPtr res(PQexec(conn_, sql.c_str()));
	if (ResultOk(res.get()))
		return std::nullopt;
	return ErrorFromResult(res.get(), conn_);
}

void Conn::Exec(const std::string &sql) {
	if (auto err = TryExec(sql))
		throw PgError(*err, sql);
}

Rows Conn::Query(const std::string &sql) {
	ResultPtr res(PQexec(conn_, sql.c_str()));
	if (!ResultOk(res.get()))
		throw PgError(ErrorFromResult(res.get(), conn_), sql);
	Rows rows;
	int nrows = PQntuples(res.get());
	int ncols = PQnfields(res.get());
	rows.reserve(static_cast<std::size_t>(nrows));
	for (int r = 0; r < nrows; ++r) {
		Row row;
		row.reserve(static_cast<std::size_t>(ncols));
		for (int c = 0; c < ncols; ++c) {
			if (PQgetisnull(res.get(), r, c))
				row.emplace_back(std::nullopt);
			else
				row.emplace_back(
				    std::string(PQgetvalue(res.get(), r, c),
				                static_cast<std::size_t>(PQgetlength(res.get(), r, c))));
		}
		rows.push_back(std::move(row));
	}
	return rows;
}

std::optional<std::string> Conn::ScalarOpt(const std::string &sql) {
	Rows rows = Query(sql);
	if (rows.size() != 1 || rows[0].size() != 1)
		throw std::runtime_error("expected one row and one column, got " +
		                         std::to_string(rows.size()) + " rows from: " + sql);
	return rows[0][0];
}

std::string Conn::Scalar(const std::string &sql) {
	std::optional<std::string> v = ScalarOpt(sql);
	if (!v)
		throw std::runtime_error("unexpected NULL from: " + sql);
	return *v;
}

int Conn::BackendPid() const {
	return PQbackendPID(conn_);
}

std::vector<std::string> Conn::TakeNotices() {
	std::vector<std::string> out;
	out.swap(notices_);
	return out;
}

std::vector<std::pair<std::string, std::string>> Conn::TakeNotifications() {
	std::vector<std::pair<std::string, std::string>> out;
	PQconsumeInput(conn_);
	while (PGnotify *n = PQnotifies(conn_)) {
		out.emplace_back(n->relname, n->extra);
		PQfreemem(n);
	}
	return out;
}

// ----------------------------------------------------------------------------------------------
// Cluster

Cluster::Cluster(std::map<std::string, std::string> extra_settings)
    : extra_settings_(std::move(extra_settings)) {
	const char *env_port = std::getenv("PGT_E2E_PORT");
	port_ = env_port != nullptr && *env_port != '\0' ? std::atoi(env_port) : kDefaultPort;
	auto it = extra_settings_.find("port");
	if (it != extra_settings_.end())
		port_ = std::stoi(it->second);
	if (IsRoot()) {
		user_ = kServerUserWhenRoot;
	} else {
		const passwd *pw = getpwuid(geteuid());
		user_ = pw != nullptr ? pw->pw_name : "postgres";
	}
}

Cluster::~Cluster() {
	try {
		Stop();
	} catch (const std::exception &e) {
		std::cerr << "e2e: stopping the cluster failed: " << e.what() << "\n";
	}
	if (base_dir_.empty())
		return;
	const char *keep = std::getenv("PGT_E2E_KEEP");
	if (keep != nullptr && std::string(keep) == "1") {
		std::cerr << "e2e: PGT_E2E_KEEP=1: leaving " << base_dir_ << "\n";
		return;
	}
	std::string out;
	Run({"rm", "-rf", base_dir_}, &out);
}

void Cluster::RunAsServerUser(const std::vector<std::string> &argv, bool allow_failure) const {
	std::vector<std::string> full;
	if (IsRoot())
		full = {"runuser", "-u", user_, "--"};
	full.insert(full.end(), argv.begin(), argv.end());
	std::string out;
	int rc = Run(full, &out, base_dir_);
	if (rc != 0 && !allow_failure)
		throw std::runtime_error("command failed (exit " + std::to_string(rc) + "): " + Join(full) +
		                         "\n" + out);
}

void Cluster::Start() {
	if (running_)
		return;
	if (base_dir_.empty()) {
		std::string out;
		if (Run({"pg_config", "--bindir"}, &out) != 0)
			throw std::runtime_error("pg_config --bindir failed: " + out);
		bindir_ = Trim(out);

		// Short paths: the Unix socket's path must fit in 107 bytes.
		const char *parent = std::getenv("PGT_E2E_TMPDIR");
		std::string tmpl =
		    std::string(parent != nullptr && *parent != '\0' ? parent : "/tmp") + "/pgt_e2e.XXXXXX";
		if (mkdtemp(tmpl.data()) == nullptr)
			throw std::runtime_error("mkdtemp " + tmpl + " failed: " + std::strerror(errno));
		base_dir_ = tmpl;
		data_dir_ = base_dir_ + "/data";
		log_file_ = base_dir_ + "/server.log";
		if (IsRoot()) {
			const passwd *pw = getpwnam(user_.c_str());
			if (pw == nullptr)
				throw std::runtime_error("OS user " + user_ + " does not exist");
			if (chown(base_dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
				throw std::runtime_error("chown " + base_dir_ + " failed");
		}

		RunAsServerUser({bindir_ + "/initdb", "-D", data_dir_, "--auth=trust", "--no-sync",
		                 "--encoding=UTF8", "--locale=C", "-U", user_});

		std::ofstream conf(data_dir_ + "/postgresql.conf", std::ios::app);
		std::map<std::string, std::string> settings = {
		    {"port", std::to_string(port_)},
		    {"listen_addresses", "''"},
		    {"unix_socket_directories", QuoteConf(base_dir_)},
		    {"shared_preload_libraries", "'pg_trickle'"},
		    {"pg_trickle.scheduler_interval_ms", "100"},
		    {"pg_trickle.min_schedule_seconds", "1"},
		    {"max_worker_processes", "32"},
		    {"fsync", "off"},
		    {"full_page_writes", "off"},
		    {"log_line_prefix", "'%m [%p] %b %d '"},
		    {"log_min_messages", "log"},
		    {"lc_messages", "'C'"},
		};
		conf << "\n# pg_trickle end-to-end test settings\n";
		for (const auto &[name, value] : settings)
			if (extra_settings_.count(name) == 0)
				conf << name << " = " << value << "\n";
		for (const auto &[name, value] : extra_settings_)
			conf << name << " = " << value << "\n";
		if (!conf)
			throw std::runtime_error("writing postgresql.conf failed");
	}

	try {
		RunAsServerUser(
		    {bindir_ + "/pg_ctl", "-D", data_dir_, "-l", log_file_, "-w", "-t", "60", "start"});
	} catch (const std::exception &e) {
		throw std::runtime_error(std::string(e.what()) + "\nserver log:\n" + LogTail(80));
	}
	running_ = true;
}

void Cluster::Stop() {
	if (!running_)
		return;
	running_ = false;
	RunAsServerUser({bindir_ + "/pg_ctl", "-D", data_dir_, "-m", "fast", "-w", "-t", "60", "stop"});
}

void Cluster::Restart() {
	Stop();
	Start();
}

void Cluster::SetAndReload(const std::string &name, const std::string &value) {
	auto conn = Connect();
	conn->Exec("ALTER SYSTEM SET " + name + " = " + QuoteLiteral(value));
	conn->Exec("SELECT pg_reload_conf()");
}

int Cluster::ServerPid() const {
	if (!running_)
		return -1;
	std::ifstream in(data_dir_ + "/postmaster.pid");
	int pid = -1;
	if (!(in >> pid))
		return -1;
	return pid;
}

std::string Cluster::ConnInfo(const std::string &db) const {
	return "host=" + ConnValue(base_dir_) + " port=" + std::to_string(port_) +
	       " user=" + ConnValue(user_) + " dbname=" + ConnValue(db) +
	       " application_name=pgt_e2e connect_timeout=10";
}

std::unique_ptr<Conn> Cluster::Connect(const std::string &db) const {
	return std::make_unique<Conn>(ConnInfo(db));
}

int Cluster::Psql(const std::string &db, const std::vector<std::string> &args,
                  std::string *output) const {
	std::vector<std::string> argv = {bindir_ + "/psql", "-X", "-v",
	                                 "ON_ERROR_STOP=1", "-d", ConnInfo(db)};
	argv.insert(argv.end(), args.begin(), args.end());
	std::string out;
	int rc = Run(argv, &out, base_dir_);
	if (output != nullptr)
		*output = out;
	return rc;
}

void Cluster::CreateDatabase(const std::string &db) {
	auto conn = Connect();
	conn->Exec("DROP DATABASE IF EXISTS " + QuoteIdent(db) + " WITH (FORCE)");
	conn->Exec("CREATE DATABASE " + QuoteIdent(db));
}

void Cluster::DropDatabase(const std::string &db) {
	auto conn = Connect();
	conn->Exec("DROP DATABASE IF EXISTS " + QuoteIdent(db) + " WITH (FORCE)");
}

std::string Cluster::Log() const {
	return ReadFile(log_file_);
}

std::size_t Cluster::LogSize() const {
	struct stat st;
	if (log_file_.empty() || stat(log_file_.c_str(), &st) != 0)
		return 0;
	return static_cast<std::size_t>(st.st_size);
}

std::string Cluster::LogSince(std::size_t offset) const {
	std::string log = Log();
	return offset < log.size() ? log.substr(offset) : std::string();
}

std::string Cluster::LogTail(std::size_t lines) const {
	std::string log = Log();
	std::size_t pos = log.size();
	if (pos > 0 && log[pos - 1] == '\n')
		--pos;
	std::size_t count = 0;
	while (pos > 0 && lines > 0) {
		std::size_t nl = log.rfind('\n', pos - 1);
		if (nl == std::string::npos) {
			pos = 0;
			break;
		}
		if (++count == lines) {
			pos = nl + 1;
			break;
		}
		pos = nl;
	}
	return log.substr(pos);
}

// ----------------------------------------------------------------------------------------------
// WaitFor

bool WaitFor(const std::function<bool()> &condition, std::chrono::milliseconds deadline,
             std::chrono::milliseconds interval) {
	const auto until = std::chrono::steady_clock::now() + deadline;
	for (;;) {
		if (condition())
			return true;
		if (std::chrono::steady_clock::now() >= until)
			return false;
		std::this_thread::sleep_for(interval);
	}
}

// ----------------------------------------------------------------------------------------------
// ClusterTest

std::set<std::string> &ClusterTest::SuiteDatabases() {
	static std::set<std::string> dbs;
	return dbs;
}

namespace {

std::string SuiteDatabaseName(const std::string &suite) {
	std::string name = "e2e_";
	for (char c : suite)
		name += std::isalnum(static_cast<unsigned char>(c))
		            ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
		            : '_';
	return name.substr(0, 63);
}

} // namespace

void ClusterTest::SetUp() {
	const ::testing::TestInfo *info = ::testing::UnitTest::GetInstance()->current_test_info();
	db_ = SuiteDatabaseName(info->test_suite_name());
	if (SuiteDatabases().insert(db_).second)
		cluster().CreateDatabase(db_);
	conn_ = cluster().Connect(db_);
}

void ClusterTest::TearDown() {
	conn_.reset();
}

void ClusterTest::TearDownTestSuite() {
	const ::testing::TestSuite *suite = ::testing::UnitTest::GetInstance()->current_test_suite();
	if (suite == nullptr)
		return;
	std::string db = SuiteDatabaseName(suite->name());
	if (SuiteDatabases().erase(db) == 0)
		return;
	const char *keep = std::getenv("PGT_E2E_KEEP");
	if (keep != nullptr && std::string(keep) == "1")
		return;
	try {
		GlobalCluster().DropDatabase(db);
	} catch (const std::exception &e) {
		std::cerr << "e2e: dropping database " << db << " failed: " << e.what() << "\n";
	}
}

void ClusterTest::EnsureExtension() {
	conn_->Exec("CREATE EXTENSION IF NOT EXISTS pg_trickle");
}

std::string IdentityDiff(Conn &conn, const std::string &left, const std::string &right) {
	Rows rows = conn.Query("SELECT coalesce(l.r, r.r), coalesce(l.n, 0), coalesce(r.n, 0) FROM "
	                       "(SELECT __o::text COLLATE \"C\" AS r, count(*) AS n FROM (" +
	                       left +
	                       ") __o GROUP BY 1) l FULL JOIN "
	                       "(SELECT __o::text COLLATE \"C\" AS r, count(*) AS n FROM (" +
	                       right +
	                       ") __o GROUP BY 1) r ON l.r = r.r "
	                       "WHERE l.n IS DISTINCT FROM r.n ORDER BY 1 LIMIT 40");
	std::ostringstream out;
	for (const auto &row : rows) {
		out << "  stream table has " << *row[1] << ", query has " << *row[2] << ": " << *row[0]
		    << "\n";
	}
	return out.str();
}

std::string Format(const Rows &rows) {
	std::ostringstream out;
	for (const Row &row : rows) {
		out << "  (";
		for (std::size_t i = 0; i < row.size(); i++)
			out << (i ? ", " : "") << (row[i] ? *row[i] : "NULL");
		out << ")\n";
	}
	return out.str();
}

} // namespace pgt::e2e
