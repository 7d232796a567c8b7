// SQL API for migration tools and scripts: idempotent, declarative creation
// (create_stream_table_if_not_exists, create_or_replace_stream_table) and bulk operations
// (refresh_stream_tables, pause_stream_tables, resume_stream_tables). They reuse the lifecycle
// steps of lifecycle.hpp, so privileges, validation and errors are those of the single-table
// functions, and everything runs in the caller's transaction: an error undoes all of it.
#include "api/lifecycle.hpp"

#include "api/args.hpp"
#include "api/units.hpp"
#include "bridge/guard.hpp"
#include "bridge/search_path.hpp"
#include "bridge/spi.hpp"
#include "core/dag.hpp"

#include <set>

extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
}

namespace pgtrickle::api {

namespace {

using bridge::PgCall;

// Text array argument i: nullopt for SQL NULL; 22004 for a NULL element.
std::optional<std::vector<std::string>> TextArrayArg(FunctionCallInfo fcinfo, int i,
                                                     const char *what) {
	if (PG_ARGISNULL(i)) {
		return std::nullopt;
	}
	Datum *elems = nullptr;
	bool *nulls = nullptr;
	int n = 0;
	PgCall([&] {
		ArrayType *array = PG_GETARG_ARRAYTYPE_P(i);
		deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	});
	std::vector<std::string> out;
	for (int k = 0; k < n; k++) {
		if (nulls[k]) {
			throw core::Error("22004", std::string(what) + " must not contain null elements");
		}
		Datum elem = elems[k];
		char *value = PgCall([&] { return text_to_cstring(DatumGetTextPP(elem)); });
		out.emplace_back(value);
	}
	return out;
}

// The stream tables named in `names` (resolved in the caller's search_path, duplicates once, in
// the order given), or with no list every stream table the caller owns, in creation order.
// Call before pinning search_path.
std::vector<catalog::StreamTable> Targets(const std::optional<std::vector<std::string>> &names) {
	std::vector<catalog::StreamTable> out;
	std::set<std::int64_t> seen;
	if (names) {
		for (const auto &name : *names) {
			catalog::StreamTable st = catalog::Resolve(name);
			if (seen.insert(st.pgt_id).second) {
				out.push_back(std::move(st));
			}
		}
		return out;
	}
	bridge::PinnedSearchPath pin;
	for (auto &st : catalog::LoadAll()) {
		Oid relid = st.relid;
		if (PgCall([&] { return pg_class_ownercheck(relid, GetUserId()); })) {
			out.push_back(std::move(st));
		}
	}
	return out;
}

} // namespace

} // namespace pgtrickle::api

using namespace pgtrickle;
using bridge::PgCall;

PGT_FUNCTION(pgtrickle_create_stream_table_if_not_exists) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	std::string query = api::RequiredTextArg(fcinfo, 1, "query");
	api::CreateSpec spec = api::ParseCreateSpec(fcinfo);

	bridge::SpiScope spi;
	api::TargetName target = api::ResolveCreationTarget(name);
	if (OidIsValid(target.existing)) {
		std::string display = bridge::QualifiedName(target.schema, target.name);
		bool is_st = false;
		{
			bridge::PinnedSearchPath pin;
			is_st = catalog::LoadByRelid(target.existing).has_value();
		}
		if (!is_st) {
			throw core::Error(
			    "42P07", "relation \"" + display + "\" already exists and is not a stream table",
			    {}, "Drop or rename it, or choose another name.");
		}
		const char *shown = display.c_str();
		PgCall([&] {
			ereport(NOTICE, (errcode(ERRCODE_DUPLICATE_TABLE),
			                 errmsg("stream table \"%s\" already exists, skipping", shown)));
		});
		PG_RETURN_VOID();
	}
	api::CreateStreamTable(target, query, spec);
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_create_or_replace_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	std::string query = api::RequiredTextArg(fcinfo, 1, "query");
	api::CreateSpec spec = api::ParseCreateSpec(fcinfo);

	bridge::SpiScope spi;
	api::TargetName target = api::ResolveCreationTarget(name);
	if (!OidIsValid(target.existing)) {
		api::CreateStreamTable(target, query, spec);
		PG_RETURN_VOID();
	}
	std::optional<catalog::StreamTable> st;
	{
		bridge::PinnedSearchPath pin;
		st = catalog::LoadByRelid(target.existing);
	}
	if (!st) {
		throw core::Error("42809",
		                  "\"" + bridge::QualifiedName(target.schema, target.name) +
		                      "\" is not a stream table",
		                  {}, "create_or_replace_stream_table replaces only stream tables.");
	}
	// Ownership first: the query is parsed as the owner, never on behalf of another role.
	api::CheckOwner(*st);
	analyze::AnalyzedQuery analyzed = api::AnalyzeAsOwner(*st, query);

	// Declarative: the stream table ends up as create_stream_table with these arguments would
	// make it. Only what differs changes; the status (e.g. SUSPENDED) is left alone.
	api::AlterSpec change;
	if (spec.schedule != st->schedule) {
		change.schedule = spec.schedule;
	}
	if (spec.mode != st->mode) {
		change.mode = spec.mode;
	}
	if (spec.consistency != st->consistency) {
		change.consistency = spec.consistency;
	}
	if (spec.policy != st->policy) {
		change.policy = spec.policy;
	}
	// The same query means the same stored (deparsed, fully qualified) text: layout and
	// comments do not count, but the same text resolving to other relations does.
	bool query_changed = analyzed.text != st->defining_query;
	if (!query_changed && !change.schedule && !change.mode && !change.consistency &&
	    !change.policy) {
		PG_RETURN_VOID();
	}
	std::optional<std::string> new_query;
	std::optional<analyze::AnalyzedQuery> new_analyzed;
	if (query_changed) {
		new_query = query;
		new_analyzed = std::move(analyzed);
	}
	api::AlterStreamTable(*st, new_query, new_analyzed, change);
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_refresh_stream_tables) {
	auto names = api::TextArrayArg(fcinfo, 0, "names");
	if (!names) {
		throw core::Error("22004", "names must not be null");
	}
	bridge::SpiScope spi;
	auto targets = api::Targets(names);
	bridge::PinnedSearchPath pin;
	std::set<std::int64_t> wanted;
	for (const auto &st : targets) {
		api::CheckOwner(st);
		wanted.insert(st.pgt_id);
	}
	// Upstream first, so that a stream table reading another one of the list sees its refresh;
	// an atomic consistency group is refreshed once, as one unit.
	core::Dag dag = core::Dag::Build(catalog::ToDagNodes(catalog::LoadAll()));
	std::set<std::int64_t> done;
	for (std::int64_t id : dag.TopologicalOrder()) {
		if (!wanted.count(id) || done.count(id)) {
			continue;
		}
		auto st = catalog::LoadById(id);
		api::Unit unit = api::FindUnit(*st, true);
		api::RefreshNow(*st, catalog::Initiator::kManual);
		for (const auto &member : unit.members) {
			done.insert(member.pgt_id);
		}
	}
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_pause_stream_tables) {
	auto names = api::TextArrayArg(fcinfo, 0, "names");
	bridge::SpiScope spi;
	auto targets = api::Targets(names);
	bridge::PinnedSearchPath pin;
	for (const auto &st : targets) {
		api::CheckOwner(st);
	}
	int changed = 0;
	api::AlterSpec spec;
	spec.status = core::StStatus::kSuspended;
	for (const auto &st : targets) {
		if (st.status == core::StStatus::kSuspended) {
			continue;
		}
		api::AlterStreamTable(st, std::nullopt, std::nullopt, spec);
		changed++;
	}
	PG_RETURN_INT32(changed);
}

PGT_FUNCTION(pgtrickle_resume_stream_tables) {
	auto names = api::TextArrayArg(fcinfo, 0, "names");
	bridge::SpiScope spi;
	auto targets = api::Targets(names);
	bridge::PinnedSearchPath pin;
	for (const auto &st : targets) {
		api::CheckOwner(st);
	}
	int changed = 0;
	for (const auto &st : targets) {
		if (st.status != core::StStatus::kSuspended) {
			continue;
		}
		api::ResumeStreamTable(st);
		changed++;
	}
	PG_RETURN_INT32(changed);
}
