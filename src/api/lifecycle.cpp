// SQL API: create_stream_table, alter_stream_table, drop_stream_table, resume_stream_table and
// refresh_stream_table (SPEC §4, §5). Everything runs in the caller's transaction, so an error or
// a ROLLBACK leaves nothing behind.
#include "analyze/function_check.hpp"
#include "analyze/query_analysis.hpp"
#include "api/args.hpp"
#include "api/units.hpp"
#include "bridge/guard.hpp"
#include "bridge/search_path.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"
#include "pgt_catalog/catalog.hpp"
#include "pgt_catalog/history.hpp"
#include "config/guc.hpp"
#include "core/dag.hpp"
#include "core/options.hpp"
#include "core/schedule.hpp"
#include "delta/delta_plan.hpp"
#include "refresh/refresh.hpp"
#include "refresh/storage.hpp"
#include "refresh/write_guard.hpp"

#include <algorithm>

extern "C" {
#include "postgres.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
#include "utils/regproc.h"
#include "access/xact.h"
}

namespace pgtrickle::api {

namespace {

using bridge::PgCall;
using bridge::SpiExec;
using bridge::Value;

struct TargetName {
	Oid nsp;
	std::string schema;
	std::string name;
};

// Where a new stream table goes: like CREATE TABLE (unqualified = first schema of search_path,
// i.e. current_schema()); checks CREATE privilege on the schema.
TargetName ResolveCreationName(const std::string &name) {
	const char *text = name.c_str();
	TargetName target{InvalidOid, {}, {}};
	char *relname = nullptr;
	char *nspname = nullptr;
	Oid existing = InvalidOid;
	bool temp = false;
	PgCall([&] {
		List *names = stringToQualifiedNameList(text);
		RangeVar *rv = makeRangeVarFromNameList(names);
		Oid nsp = RangeVarGetCreationNamespace(rv);
		AclResult acl = pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE);
		if (acl != ACLCHECK_OK) {
			aclcheck_error(acl, OBJECT_SCHEMA, get_namespace_name(nsp));
		}
		temp = isAnyTempNamespace(nsp);
		target.nsp = nsp;
		relname = rv->relname;
		nspname = get_namespace_name(nsp);
		existing = get_relname_relid(relname, nsp);
	});
	target.schema = nspname;
	target.name = relname;
	if (temp) {
		throw core::Error("0A000", "stream tables cannot be temporary", {},
		                  "Create the stream table in a permanent schema.");
	}
	if (OidIsValid(existing)) {
		bool is_st = catalog::LoadByRelid(existing).has_value();
		throw core::Error("42P07", std::string(is_st ? "stream table" : "relation") + " \"" +
		                               bridge::QualifiedName(target.schema, target.name) +
		                               "\" already exists");
	}
	return target;
}

core::RefreshMode CheckMode(const std::string &text) {
	return core::ParseRefreshMode(text);
}

// For DIFFERENTIAL and AUTO: checks that the query can be maintained differentially (an error
// for DIFFERENTIAL, a FULL fallback for AUTO that explain_st reports) and indexes the storage
// columns the delta application looks rows and groups up by.
void PrepareDifferential(std::int64_t pgt_id, core::RefreshMode mode) {
	if (mode == core::RefreshMode::kFull) {
		return;
	}
	auto st = catalog::LoadById(pgt_id);
	bridge::AsQueryOwner as_owner(st->owner); // the query is parsed only as its owner
	delta::DeltaPlan plan = delta::PlanDelta(st->defining_query, st->relid);
	if (plan.shape == delta::Shape::kUnsupported) {
		if (mode == core::RefreshMode::kDifferential) {
			throw core::Error("0A000", "DIFFERENTIAL refresh does not support " + plan.reason,
			                  "Stream table " + st->Display() +
			                      " cannot be maintained from its sources' changes.",
			                  "Use refresh_mode => 'FULL', or 'AUTO' to refresh FULL whenever "
			                  "DIFFERENTIAL is not possible.");
		}
		return;
	}
	std::vector<int> columns;
	if (plan.shape == delta::Shape::kRows) {
		columns.push_back(0);
	} else {
		columns = plan.key_columns;
	}
	std::string list;
	for (int c : columns) {
		Oid relid = st->relid;
		bool indexable = PgCall([&] {
			Oid type = get_atttype(relid, static_cast<AttrNumber>(c + 1));
			return OidIsValid(lookup_type_cache(type, TYPECACHE_BTREE_OPFAMILY)->btree_opf);
		});
		if (!indexable) {
			return;
		}
		list += (list.empty() ? "" : ", ") + bridge::QuoteIdent(plan.column_names[c]);
	}
	auto existing = SpiExec("SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c "
	                        "ON c.oid = i.indexrelid WHERE i.indrelid = $1::oid "
	                        "AND c.relname LIKE '%\\_pgt\\_idx'",
	                        {std::to_string(st->relid)});
	if (existing.rows.empty()) {
		std::string index_name = bridge::ClipName(st->name, 40) + "_pgt_idx";
		SpiExec("CREATE INDEX " + bridge::QuoteIdent(index_name) + " ON " + st->Qualified() + " (" +
		        list + ")");
	}
}

std::string CheckSchedule(const std::string &text) {
	return core::ParseSchedule(text, config::min_schedule_seconds).text;
}

// Records what the stream table reads (catalog rows and pg_depend) and attaches change capture
// to the base tables underneath.
void RecordDependencies(std::int64_t pgt_id, Oid storage,
                        const std::vector<analyze::SourceRelation> &sources) {
	std::vector<catalog::Dependency> deps;
	for (const auto &source : sources) {
		std::string type = catalog::SourceType(source.relid, source.relkind);
		deps.push_back(catalog::Dependency{source.relid, type});
		{
			bridge::AsExtensionOwner as_owner;
			SpiExec("INSERT INTO pgtrickle.pgt_dependencies (pgt_id, source_relid, source_type) "
			        "VALUES ($1::bigint, $2::oid, $3)",
			        {std::to_string(pgt_id), std::to_string(source.relid), type});
		}
		// Protect the source like a view's: DROP TABLE source fails unless CASCADE.
		PgCall([&] {
			ObjectAddress dependent{RelationRelationId, storage, 0};
			ObjectAddress referenced{RelationRelationId, source.relid, 0};
			recordDependencyOn(&dependent, &referenced, DEPENDENCY_NORMAL);
		});
	}
	capture::AttachConsumer(pgt_id, capture::BaseTablesOf(deps, nullptr));
}

void ForgetDependencies(std::int64_t pgt_id, Oid storage) {
	{
		bridge::AsExtensionOwner as_owner;
		SpiExec("DELETE FROM pgtrickle.pgt_dependencies WHERE pgt_id = $1::bigint",
		        {std::to_string(pgt_id)});
	}
	PgCall([&] {
		deleteDependencyRecordsForClass(RelationRelationId, storage, RelationRelationId,
		                                DEPENDENCY_NORMAL);
	});
	capture::DetachConsumer(pgt_id);
}

// Rejects a dependency cycle among the stream tables now in the catalog (42P17).
void CheckNoCycles() {
	core::Dag::Build(catalog::ToDagNodes(catalog::LoadAll()));
}

std::string ColumnList(const analyze::AnalyzedQuery &q) {
	std::string out;
	for (std::size_t i = 0; i < q.columns.size(); i++) {
		out += (i ? ",\n    " : "    ") + bridge::QuoteIdent(q.columns[i].name) + " " +
		       q.columns[i].type_sql;
	}
	return out;
}

// Like ALTER / REFRESH MATERIALIZED VIEW: only the owner (or a member of the owning role).
void CheckOwner(const catalog::StreamTable &st) {
	PgCall([&] {
		if (!pg_class_ownercheck(st.relid, GetUserId())) {
			aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(st.relid));
		}
	});
}

void LockOrFail(const catalog::StreamTable &st) {
	if (!refresh::TryLockStreamTable(st.pgt_id)) {
		throw core::Error("55P03",
		                  "stream table " + st.Display() + " is being refreshed by another session",
		                  {}, "Retry when the other refresh has committed.");
	}
}

// A refresh of target refreshes its whole unit (an atomic consistency group): like REFRESH
// MATERIALIZED VIEW, the caller must own every member (42501 otherwise).
void CheckOwnsUnit(const catalog::StreamTable &target, const Unit &unit) {
	for (const auto &member : unit.members) {
		Oid relid = member.relid;
		bool owns = PgCall([&] { return pg_class_ownercheck(relid, GetUserId()); });
		if (!owns) {
			std::string members;
			for (const auto &m : unit.members) {
				members += (members.empty() ? "" : ", ") + m.Display();
			}
			throw core::Error("42501",
			                  "must be owner of stream table " + member.Display() + " to refresh " +
			                      target.Display(),
			                  "Refreshing " + target.Display() +
			                      " refreshes its consistency group atomically: " + members + ".",
			                  "The scheduler refreshes the group; a role that owns every member "
			                  "may refresh it manually.");
		}
	}
}

// Populates or refreshes the refresh unit of st in the caller's transaction.
void RefreshNow(const catalog::StreamTable &target, catalog::Initiator who) {
	Unit unit = FindUnit(target.pgt_id, who != catalog::Initiator::kInitial);
	CheckOwnsUnit(target, unit);
	for (const auto &member : unit.members) {
		LockOrFail(member);
	}
	// Re-read after locking: a refresh that committed meanwhile is now visible.
	std::vector<catalog::StreamTable> members;
	for (const auto &member : unit.members) {
		auto fresh = catalog::LoadById(member.pgt_id);
		if (!fresh) {
			throw core::Error("42P01", "stream table " + member.Display() + " does not exist");
		}
		if (fresh->status == core::StStatus::kSuspended) {
			if (fresh->pgt_id == target.pgt_id) {
				throw core::Error("55000", "stream table " + fresh->Display() + " is suspended", {},
				                  "Call pgtrickle.resume_stream_table() first.");
			}
			throw core::Error("55000",
			                  "cannot refresh " + target.Display() + ": member " +
			                      fresh->Display() + " of its consistency group is suspended",
			                  "Refreshing the other members alone would let the convergence "
			                  "point combine two versions of their sources.",
			                  "Call pgtrickle.resume_stream_table() on the suspended member.");
		}
		members.push_back(std::move(*fresh));
	}
	refresh::UnitOptions options;
	options.who = who;
	options.group_id = unit.group_id;
	options.atomic_group = unit.atomic;
	std::int64_t failed = 0;
	refresh::RefreshUnit(members, options, &failed);
}

} // namespace

} // namespace pgtrickle::api

using namespace pgtrickle;
using bridge::PgCall;
using bridge::SpiExec;
using bridge::Value;

PGT_FUNCTION(pgtrickle_create_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	std::string query = api::RequiredTextArg(fcinfo, 1, "query");
	auto schedule_arg = api::TextArg(fcinfo, 2);
	if (!schedule_arg) {
		throw core::Error("22004", "schedule must not be null", {},
		                  "Use 'calculated' to refresh whenever the sources change.");
	}
	std::string mode_text = api::RequiredTextArg(fcinfo, 3, "refresh_mode");
	auto initialize = api::BoolArg(fcinfo, 4);
	if (!initialize) {
		throw core::Error("22004", "initialize must not be null");
	}
	auto consistency_arg = api::TextArg(fcinfo, 5);
	auto policy_arg = api::TextArg(fcinfo, 6);

	core::RefreshMode mode = api::CheckMode(mode_text);
	std::string schedule = api::CheckSchedule(*schedule_arg);
	core::DiamondConsistency consistency =
	    consistency_arg ? core::ParseDiamondConsistency(*consistency_arg)
	                    : static_cast<core::DiamondConsistency>(config::diamond_consistency);
	core::SchedulePolicy policy =
	    policy_arg ? core::ParseSchedulePolicy(*policy_arg)
	               : static_cast<core::SchedulePolicy>(config::diamond_schedule_policy);

	bridge::SpiScope spi;
	api::TargetName target = api::ResolveCreationName(name);
	// The caller becomes the owner: its query is planned as it, restricted like every later run.
	analyze::AnalyzedQuery analyzed;
	{
		bridge::AsQueryOwner as_owner(PgCall([] { return GetUserId(); }));
		analyzed = analyze::AnalyzeQuery(query, target.schema, target.name);
	}
	bridge::PinnedSearchPath pin;

	std::string qualified = bridge::QualifiedName(target.schema, target.name);
	SpiExec("CREATE TABLE " + qualified + " (\n" + api::ColumnList(analyzed) + "\n)");
	Oid relid = PgCall([&] {
		CommandCounterIncrement();
		return get_relname_relid(target.name.c_str(), target.nsp);
	});
	SpiExec("CREATE TRIGGER __pgt_block_dml BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON " +
	        qualified + " FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._block_dml()");
	// Also under session_replication_role = replica.
	SpiExec("ALTER TABLE " + qualified + " ENABLE ALWAYS TRIGGER __pgt_block_dml");

	std::int64_t pgt_id = 0;
	{
		bridge::AsExtensionOwner as_owner;
		auto r =
		    SpiExec("INSERT INTO pgtrickle.pgt_stream_tables (pgt_relid, pgt_schema, pgt_name, "
		            "defining_query, original_query, defining_tree, output_columns, schedule, "
		            "refresh_mode, status, diamond_consistency, diamond_schedule_policy) "
		            "VALUES ($1::oid, $2, $3, $4, $5, $10, '{}', $6, $7, 'INITIALIZING', $8, $9) "
		            "RETURNING pgt_id",
		            {std::to_string(relid), target.schema, target.name, analyzed.text, query,
		             schedule, std::string(core::Name(mode)), std::string(core::Name(consistency)),
		             std::string(core::Name(policy)), analyzed.tree});
		pgt_id = std::stoll(r.Get(0, 0));
	}
	api::RecordDependencies(pgt_id, relid, analyzed.sources);
	refresh::RecordQuery(pgt_id, analyzed, nullptr);
	api::CheckNoCycles();
	api::PrepareDifferential(pgt_id, mode);
	analyze::WarnHiddenDependencies(analyzed.text,
	                                bridge::QualifiedName(target.schema, target.name));

	if (*initialize) {
		api::RefreshNow(*catalog::LoadById(pgt_id), catalog::Initiator::kInitial);
	}
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_alter_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	auto query = api::TextArg(fcinfo, 1);
	auto schedule = api::TextArg(fcinfo, 2);
	auto mode = api::TextArg(fcinfo, 3);
	auto status = api::TextArg(fcinfo, 4);
	auto consistency = api::TextArg(fcinfo, 5);
	auto policy = api::TextArg(fcinfo, 6);

	// Validate every argument before changing anything.
	std::optional<std::string> new_schedule;
	if (schedule) {
		new_schedule = api::CheckSchedule(*schedule);
	}
	std::optional<core::RefreshMode> new_mode;
	if (mode) {
		new_mode = api::CheckMode(*mode);
	}
	std::optional<core::StStatus> new_status;
	if (status) {
		std::string key = core::Lower(core::Trim(*status));
		if (key == "active") {
			new_status = core::StStatus::kActive;
		} else if (key == "suspended") {
			new_status = core::StStatus::kSuspended;
		} else {
			throw core::Error("22023", "invalid status value: \"" + *status + "\"",
			                  "Accepted values are 'ACTIVE' or 'SUSPENDED'.");
		}
	}
	std::optional<core::DiamondConsistency> new_consistency;
	if (consistency) {
		new_consistency = core::ParseDiamondConsistency(*consistency);
	}
	std::optional<core::SchedulePolicy> new_policy;
	if (policy) {
		new_policy = core::ParseSchedulePolicy(*policy);
	}

	bridge::SpiScope spi;
	catalog::StreamTable st = catalog::Resolve(name);
	api::CheckOwner(st);
	std::optional<analyze::AnalyzedQuery> analyzed;
	if (query) {
		// As the owner, restricted, even when a superuser or a member of the owning role asks.
		bridge::AsQueryOwner as_owner(st.owner);
		analyzed = analyze::AnalyzeQuery(*query, st.schema, st.name);
	}
	bridge::PinnedSearchPath pin;
	api::LockOrFail(st);

	{
		bridge::AsExtensionOwner as_owner;
		SpiExec("UPDATE pgtrickle.pgt_stream_tables SET "
		        "schedule = coalesce($2, schedule), refresh_mode = coalesce($3, refresh_mode), "
		        "status = CASE WHEN $4 = 'ACTIVE' AND NOT is_populated THEN 'INITIALIZING' "
		        "ELSE coalesce($4, status) END, "
		        "consecutive_errors = CASE WHEN $4 = 'ACTIVE' THEN 0 ELSE consecutive_errors END, "
		        "diamond_consistency = coalesce($5, diamond_consistency), "
		        "diamond_schedule_policy = coalesce($6, diamond_schedule_policy), "
		        "updated_at = now() WHERE pgt_id = $1::bigint",
		        {std::to_string(st.pgt_id), new_schedule,
		         new_mode ? Value(core::Name(*new_mode)) : Value(),
		         new_status ? Value(core::Name(*new_status)) : Value(),
		         new_consistency ? Value(core::Name(*new_consistency)) : Value(),
		         new_policy ? Value(core::Name(*new_policy)) : Value()});
	}

	if (analyzed) {
		// Rebuild the storage in place: the relation (with grants, dependencies and the indexes
		// of unchanged columns) survives; the rows are recomputed below.
		bool reshaped = false;
		{
			bridge::AsQueryOwner as_owner(st.owner); // the DELETE fires the owner's triggers
			reshaped = refresh::ReshapeStorage(st, *analyzed);
		}
		api::ForgetDependencies(st.pgt_id, st.relid);
		{
			bridge::AsExtensionOwner as_owner;
			SpiExec("UPDATE pgtrickle.pgt_stream_tables SET needs_reinit = false, "
			        "reinit_reason = NULL, reinit_requested_at = NULL, "
			        "is_populated = false WHERE pgt_id = $1::bigint",
			        {std::to_string(st.pgt_id)});
		}
		api::RecordDependencies(st.pgt_id, st.relid, analyzed->sources);
		refresh::RecordQuery(st.pgt_id, *analyzed, &*query);
		if (reshaped) {
			refresh::CheckReaders(st);
		}
		capture::CollectGarbage();
		api::CheckNoCycles();
		api::PrepareDifferential(st.pgt_id, catalog::LoadById(st.pgt_id)->mode);
		analyze::WarnHiddenDependencies(analyzed->text, st.Display());
		auto fresh = catalog::LoadById(st.pgt_id);
		if (fresh->status != core::StStatus::kSuspended) {
			api::RefreshNow(*fresh, catalog::Initiator::kManual);
		} else {
			// A suspended table keeps no rows of the old query: it is repopulated on resume.
			bridge::AsQueryOwner as_owner(fresh->owner);
			refresh::InternalWriteScope writing(fresh->relid);
			SpiExec("DELETE FROM " + fresh->Qualified());
		}
	} else {
		if (new_mode) {
			api::PrepareDifferential(st.pgt_id, *new_mode);
		}
		if (new_consistency || new_policy) {
			api::CheckNoCycles();
		}
	}
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_drop_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	bool cascade = api::BoolArg(fcinfo, 1).value_or(false);

	bridge::SpiScope spi;
	catalog::StreamTable st = catalog::Resolve(name);
	bridge::PinnedSearchPath pin;
	auto all = catalog::LoadAll();
	core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
	std::vector<std::int64_t> downstream = dag.Downstream(st.pgt_id);
	if (!downstream.empty() && !cascade) {
		std::string detail;
		for (auto id : downstream) {
			detail += (detail.empty() ? "" : ", ") + dag.Node(id).display_name;
		}
		throw core::Error("2BP01",
		                  "cannot drop stream table " + st.Display() +
		                      " because other stream tables depend on it",
		                  "Stream tables reading it: " + detail + ".",
		                  "Use drop_stream_table(name, cascade => true) to drop them too.");
	}
	// Catalog rows go first (the sql_drop event trigger would also remove them), then the
	// tables themselves with the caller's privileges.
	{
		bridge::AsExtensionOwner as_owner;
		std::string ids = "{" + std::to_string(st.pgt_id);
		for (auto id : downstream) {
			ids += "," + std::to_string(id);
		}
		ids += "}";
		SpiExec("DELETE FROM pgtrickle.pgt_stream_tables WHERE pgt_id = ANY($1::bigint[])", {ids});
	}
	capture::CollectGarbage();
	SpiExec("DROP TABLE " + st.Qualified() + (cascade ? " CASCADE" : ""));
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_resume_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	bridge::SpiScope spi;
	catalog::StreamTable st = catalog::Resolve(name);
	bridge::PinnedSearchPath pin;
	api::CheckOwner(st);
	if (st.status != core::StStatus::kSuspended) {
		throw core::Error("55000",
		                  "stream table " + st.Display() +
		                      " is not suspended (current status: " + core::Name(st.status) + ")");
	}
	{
		bridge::AsExtensionOwner as_owner;
		SpiExec("UPDATE pgtrickle.pgt_stream_tables SET status = CASE WHEN is_populated "
		        "THEN 'ACTIVE' ELSE 'INITIALIZING' END, consecutive_errors = 0, "
		        "last_error_at = NULL, updated_at = now() WHERE pgt_id = $1::bigint",
		        {std::to_string(st.pgt_id)});
	}
	catalog::Alert("resumed", st.Display(), "");
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_refresh_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	bridge::SpiScope spi;
	catalog::StreamTable st = catalog::Resolve(name);
	bridge::PinnedSearchPath pin;
	api::CheckOwner(st);
	api::RefreshNow(st, catalog::Initiator::kManual);
	PG_RETURN_VOID();
}
