// Catalog access (see catalog.hpp).
#include "pgt_catalog/catalog.hpp"

#include "bridge/guard.hpp"
#include "bridge/search_path.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"

#include <map>

extern "C" {
#include "postgres.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/regproc.h"
}

namespace pgtrickle::catalog {

using bridge::PgCall;
using bridge::SpiExec;

namespace {

constexpr const char *kSelectColumns =
    "SELECT st.pgt_id, st.pgt_relid, c.relowner, n.nspname, c.relname, st.defining_query, "
    "st.original_query, st.schedule, st.refresh_mode, st.status, st.is_populated, "
    "st.needs_reinit, st.consecutive_errors, st.diamond_consistency, "
    "st.diamond_schedule_policy, st.group_epoch, "
    "(extract(epoch FROM st.data_timestamp) * 1000000)::bigint, "
    "(extract(epoch FROM st.last_refresh_at) * 1000000)::bigint, "
    "(extract(epoch FROM st.last_error_at) * 1000000)::bigint, st.defining_tree, "
    "(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(u.c), ', ' ORDER BY u.o) "
    " FROM pg_catalog.unnest(st.output_columns) WITH ORDINALITY AS u(c, o)), st.reinit_reason, "
    "(extract(epoch FROM st.reinit_requested_at) * 1000000)::bigint, "
    // the dependencies, "relid:type,...", in the same statement (one statement per load)
    "(SELECT pg_catalog.string_agg(d.source_relid::text || ':' || d.source_type, ',' "
    " ORDER BY d.source_relid) FROM pgtrickle.pgt_dependencies d WHERE d.pgt_id = st.pgt_id) "
    "FROM pgtrickle.pgt_stream_tables st "
    "JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid ";
constexpr const char *kNotRestoring = "AND NOT st.needs_rebind ";
constexpr const char *kJoinNamespace = "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ";

} // namespace

bool RebindColumnExists() {
	Oid nsp = get_namespace_oid("pgtrickle", true);
	if (!OidIsValid(nsp)) {
		return false;
	}
	Oid rel = get_relname_relid("pgt_stream_tables", nsp);
	return OidIsValid(rel) && get_attnum(rel, "needs_rebind") != InvalidAttrNumber;
}

bool HasRebindColumn() {
	return PgCall([] { return RebindColumnExists(); });
}

namespace {

std::optional<TimestampUs> OptTs(const bridge::Value &v) {
	if (!v) {
		return std::nullopt;
	}
	return std::stoll(*v);
}

StreamTable FromRow(const bridge::Row &r) {
	StreamTable st;
	st.pgt_id = std::stoll(*r[0]);
	st.relid = static_cast<Oid>(std::stoul(*r[1]));
	st.owner = static_cast<Oid>(std::stoul(*r[2]));
	st.schema = *r[3];
	st.name = *r[4];
	st.defining_query = *r[5];
	st.original_query = *r[6];
	st.schedule = *r[7];
	st.mode = core::ParseRefreshMode(*r[8]);
	st.status = core::ParseStatus(*r[9]);
	st.is_populated = *r[10] == "t";
	st.needs_reinit = *r[11] == "t";
	st.consecutive_errors = std::stoi(*r[12]);
	st.consistency = core::ParseDiamondConsistency(*r[13]);
	st.policy = core::ParseSchedulePolicy(*r[14]);
	st.group_epoch = std::stoll(*r[15]);
	st.data_timestamp = OptTs(r[16]);
	st.last_refresh_at = OptTs(r[17]);
	st.last_error_at = OptTs(r[18]);
	st.defining_tree = r[19].value_or("");
	st.column_list = r[20].value_or("");
	st.reinit_reason = r[21];
	st.reinit_requested_at = OptTs(r[22]);
	std::string deps = r[23].value_or("");
	std::size_t pos = 0;
	while (pos < deps.size()) {
		std::size_t comma = deps.find(',', pos);
		std::string item = deps.substr(pos, comma == std::string::npos ? comma : comma - pos);
		std::size_t colon = item.find(':');
		st.deps.push_back(Dependency{static_cast<Oid>(std::stoul(item.substr(0, colon))),
		                             item.substr(colon + 1)});
		pos = comma == std::string::npos ? deps.size() : comma + 1;
	}
	return st;
}

std::vector<StreamTable> Load(const std::string &where, const std::vector<bridge::Value> &args) {
	std::string sql = std::string(kSelectColumns) + (HasRebindColumn() ? kNotRestoring : "") +
	                  kJoinNamespace + where + " ORDER BY st.pgt_id";
	auto rows = SpiExec(sql, args, bridge::CachedPlan());
	std::vector<StreamTable> tables;
	tables.reserve(rows.rows.size());
	for (const auto &r : rows.rows) {
		tables.push_back(FromRow(r));
	}
	if (tables.empty()) {
		return tables;
	}
	std::map<std::int64_t, StreamTable *> by_id;
	for (auto &st : tables) {
		by_id[st.pgt_id] = &st;
	}
	// The dependencies came with the rows (FromRow).
	std::string ids = "{";
	bool reads_views = false;
	for (const auto &st : tables) {
		ids += (ids.size() > 1 ? "," : "") + std::to_string(st.pgt_id);
		for (const auto &dep : st.deps) {
			reads_views = reads_views || dep.type == "VIEW";
		}
	}
	ids += "}";
	// Relations read through views: the rewrite rules' dependencies, followed recursively (only
	// when a loaded table reads a view: planning this query costs more than the rest of a load).
	if (!reads_views) {
		return tables;
	}
	auto under = SpiExec(UnderViewsCte("SELECT d.pgt_id, d.source_relid FROM "
	                                   "pgtrickle.pgt_dependencies d WHERE d.source_type = 'VIEW' "
	                                   "AND d.pgt_id = ANY ($1::bigint[])") +
	                         " SELECT u.key, u.relid FROM under u JOIN pg_catalog.pg_class c "
	                         "ON c.oid = u.relid WHERE c.relkind <> 'v' ORDER BY 1, 2",
	                     {ids});
	for (const auto &r : under.rows) {
		auto it = by_id.find(std::stoll(*r[0]));
		if (it != by_id.end()) {
			it->second->through_views.push_back(static_cast<Oid>(std::stoul(*r[1])));
		}
	}
	return tables;
}

} // namespace

std::string StreamTable::Display() const {
	return bridge::QualifiedName(schema, name);
}

std::string StreamTable::Qualified() const {
	return bridge::QualifiedName(schema, name);
}

std::vector<StreamTable> LoadAll() {
	return Load("", {});
}

std::optional<StreamTable> LoadByRelid(Oid relid) {
	auto v = Load("WHERE st.pgt_relid = $1::oid", {std::to_string(relid)});
	if (v.empty()) {
		return std::nullopt;
	}
	return v.front();
}

std::optional<StreamTable> LoadById(std::int64_t pgt_id) {
	auto v = Load("WHERE st.pgt_id = $1::bigint", {std::to_string(pgt_id)});
	if (v.empty()) {
		return std::nullopt;
	}
	return v.front();
}

namespace {

Oid RelidOfName(const std::string &name) {
	const char *text = name.c_str();
	return PgCall([&] {
		List *names = stringToQualifiedNameList(text);
		RangeVar *rv = makeRangeVarFromNameList(names);
		return RangeVarGetRelid(rv, NoLock, true);
	});
}

[[noreturn]] void NoSuchStreamTable(const std::string &name) {
	throw core::Error("42P01", "stream table \"" + name + "\" does not exist", {},
	                  "pgtrickle.pgt_status() lists the stream tables.");
}

} // namespace

StreamTable ResolveIdentity(const std::string &name) {
	Oid relid = RelidOfName(name);
	if (!OidIsValid(relid)) {
		NoSuchStreamTable(name);
	}
	bridge::PinnedSearchPath pin;
	auto r = SpiExec(std::string("SELECT st.pgt_id, c.relowner, n.nspname, c.relname "
	                             "FROM pgtrickle.pgt_stream_tables st "
	                             "JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid ") +
	                     (HasRebindColumn() ? kNotRestoring : "") + kJoinNamespace +
	                     "WHERE st.pgt_relid = $1::oid",
	                 {std::to_string(relid)}, bridge::CachedPlan());
	if (r.rows.empty()) {
		throw core::Error("42809", "\"" + name + "\" is not a stream table");
	}
	StreamTable st;
	st.pgt_id = std::stoll(*r.rows[0][0]);
	st.relid = relid;
	st.owner = static_cast<Oid>(std::stoul(*r.rows[0][1]));
	st.schema = *r.rows[0][2];
	st.name = *r.rows[0][3];
	return st;
}

StreamTable Resolve(const std::string &name) {
	const char *text = name.c_str();
	Oid relid = PgCall([&] {
		List *names = stringToQualifiedNameList(text);
		RangeVar *rv = makeRangeVarFromNameList(names);
		return RangeVarGetRelid(rv, NoLock, true);
	});
	std::optional<StreamTable> st;
	if (OidIsValid(relid)) {
		bridge::PinnedSearchPath pin;
		st = LoadByRelid(relid);
		if (!st) {
			throw core::Error("42809", "\"" + name + "\" is not a stream table");
		}
	}
	if (!st) {
		throw core::Error("42P01", "stream table \"" + name + "\" does not exist", {},
		                  "pgtrickle.pgt_status() lists the stream tables.");
	}
	return *st;
}

void RequestReinit(std::int64_t pgt_id, const std::string &reason) {
	bridge::AsExtensionOwner as_owner;
	SpiExec("UPDATE pgtrickle.pgt_stream_tables SET needs_reinit = true, "
	        "reinit_reason = CASE WHEN needs_reinit AND reinit_reason IS NOT NULL "
	        "AND pg_catalog.strpos(reinit_reason, $2) = 0 THEN reinit_reason || '; ' || $2 "
	        "WHEN needs_reinit AND reinit_reason IS NOT NULL THEN reinit_reason ELSE $2 END, "
	        "reinit_requested_at = clock_timestamp(), updated_at = now() "
	        "WHERE pgt_id = $1::bigint",
	        {std::to_string(pgt_id), reason});
}

std::vector<core::StNode> ToDagNodes(const std::vector<StreamTable> &tables) {
	std::map<Oid, std::int64_t> by_relid;
	for (const auto &st : tables) {
		by_relid[st.relid] = st.pgt_id;
	}
	std::vector<core::StNode> nodes;
	nodes.reserve(tables.size());
	for (const auto &st : tables) {
		core::StNode node;
		node.pgt_id = st.pgt_id;
		node.display_name = st.Display();
		node.policy = st.policy;
		node.consistency = st.consistency;
		std::vector<Oid> sources;
		for (const auto &dep : st.deps) {
			sources.push_back(dep.relid);
		}
		sources.insert(sources.end(), st.through_views.begin(), st.through_views.end());
		for (Oid relid : sources) {
			auto it = by_relid.find(relid);
			if (it != by_relid.end()) {
				node.sources.push_back(core::SourceEdge{true, it->second});
			} else {
				node.sources.push_back(core::SourceEdge{false, static_cast<std::int64_t>(relid)});
			}
		}
		nodes.push_back(std::move(node));
	}
	return nodes;
}

std::string SourceType(Oid relid, char relkind) {
	switch (relkind) {
	case RELKIND_VIEW:
		return "VIEW";
	case RELKIND_MATVIEW:
		return "MATVIEW";
	case RELKIND_FOREIGN_TABLE:
		return "FOREIGN_TABLE";
	default:
		break;
	}
	auto r = SpiExec("SELECT 1 FROM pgtrickle.pgt_stream_tables WHERE pgt_relid = $1::oid",
	                 {std::to_string(relid)});
	return r.rows.empty() ? "TABLE" : "STREAM_TABLE";
}

TimestampUs NowUs() {
	TimestampTz now = GetCurrentTimestamp();
	return static_cast<TimestampUs>(now) +
	       static_cast<TimestampUs>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

std::string UnderViewsCte(const std::string &seed) {
	return "WITH RECURSIVE under(key, relid) AS (" + seed +
	       " UNION SELECT u.key, d.refobjid FROM under u "
	       "JOIN pg_catalog.pg_rewrite w ON w.ev_class = u.relid "
	       "JOIN pg_catalog.pg_depend d ON d.classid = "
	       "'pg_catalog.pg_rewrite'::pg_catalog.regclass "
	       "AND d.objid = w.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
	       "AND d.refobjid <> u.relid)";
}

std::string FormatTimestamp(TimestampUs ts) {
	TimestampTz pg = static_cast<TimestampTz>(
	    ts - static_cast<TimestampUs>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
	return std::string(PgCall([&] { return timestamptz_to_str(pg); }));
}

} // namespace pgtrickle::catalog
