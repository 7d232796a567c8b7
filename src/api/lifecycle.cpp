// SQL API: create_stream_table, alter_stream_table, drop_stream_table, resume_stream_table and
// refresh_stream_table (SPEC §4, §5), built from the lifecycle steps of lifecycle.hpp (which
// declarative.cpp reuses). Everything runs in the caller's transaction, so an error or a ROLLBACK
// leaves nothing behind.
#include "api/lifecycle.hpp"

#include "analyze/function_check.hpp"
#include "analyze/query_analysis.hpp"
#include "api/args.hpp"
#include "api/restore.hpp"
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
#include "scheduler/launcher.hpp"

#include <algorithm>
#include <set>

extern "C" {
#include "postgres.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/guc.h"
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

} // namespace

TargetName ResolveCreationTarget(const std::string &name) {
	const char *text = name.c_str();
	TargetName target{InvalidOid, {}, {}, InvalidOid};
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
	target.existing = existing;
	return target;
}

namespace {

// Where a new stream table goes (ResolveCreationTarget); 42P07 if the name is taken.
TargetName ResolveCreationName(const std::string &name) {
	TargetName target = ResolveCreationTarget(name);
	Oid existing = target.existing;
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
	if (plan.shape == delta::Shape::kRows ||
	    (plan.shape == delta::Shape::kAlgebraic && plan.fallback == delta::Shape::kRows)) {
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

} // namespace

// Like ALTER / REFRESH MATERIALIZED VIEW: only the owner (or a member of the owning role).
void CheckOwner(const catalog::StreamTable &st) {
	PgCall([&] {
		if (!pg_class_ownercheck(st.relid, GetUserId())) {
			aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(st.relid));
		}
	});
}

namespace {

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

} // namespace

void RefreshNow(const catalog::StreamTable &target, catalog::Initiator who) {
	Unit unit = FindUnit(target, who != catalog::Initiator::kInitial);
	CheckOwnsUnit(target, unit);
	for (const auto &member : unit.members) {
		LockOrFail(member);
	}
	// RefreshUnit reads the members again after taking its snapshot (so a refresh that committed
	// before the locks were taken is seen) and refuses suspended members (reject_suspended).
	refresh::UnitOptions options;
	options.who = who;
	options.group_id = unit.group_id;
	options.atomic_group = unit.atomic;
	options.reject_suspended = target.pgt_id;
	std::int64_t failed = 0;
	refresh::RefreshUnit(unit.members, options, &failed);
}

void RebindRestored(bool wait_quiet) {
	if (!catalog::HasRebindColumn()) {
		return; // a 0.1.0 catalog (before ALTER EXTENSION UPDATE): nothing was restored by 0.2.0
	}
	auto pending = SpiExec(
	    "SELECT s.pgt_id, s.pgt_relid, c.relowner, s.pgt_schema, s.pgt_name, s.defining_query "
	    "FROM pgtrickle.pgt_stream_tables s JOIN pg_catalog.pg_class c ON c.oid = s.pgt_relid "
	    "WHERE s.needs_rebind AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t "
	    "WHERE t.tgrelid = s.pgt_relid AND t.tgname = '__pgt_block_dml') "
	    "AND (s.last_error_at IS NULL OR s.last_error_at < now() - interval '1 minute') "
	    "AND (NOT $1::boolean OR s.reinit_requested_at < pg_catalog.clock_timestamp() - "
	    "interval '5 seconds') ORDER BY s.pgt_id",
	    {std::string(wait_quiet ? "true" : "false")}, bridge::CachedPlan());
	if (pending.rows.empty()) {
		return;
	}
	capture::DropOrphanCapture();
	for (const auto &row : pending.rows) {
		std::int64_t pgt_id = std::stoll(*row[0]);
		Oid relid = static_cast<Oid>(std::stoul(*row[1]));
		Oid owner = static_cast<Oid>(std::stoul(*row[2]));
		auto error = bridge::RunInSubtransaction([&] {
			analyze::AnalyzedQuery analyzed;
			{
				bridge::AsQueryOwner as_owner(owner);
				analyzed = analyze::AnalyzeQuery(*row[5], *row[3], *row[4]);
			}
			{
				bridge::AsExtensionOwner as_owner;
				SpiExec("UPDATE pgtrickle.pgt_stream_tables SET needs_rebind = false "
				        "WHERE pgt_id = $1::bigint",
				        {std::to_string(pgt_id)});
			}
			RecordDependencies(pgt_id, relid, analyzed.sources);
			refresh::RecordQuery(pgt_id, analyzed, nullptr);
		});
		if (error) {
			std::string message = error->what();
			std::string display = bridge::QualifiedName(*row[3], *row[4]);
			{
				// Retried a minute later (the cause may be restored later, or fixed).
				bridge::AsExtensionOwner as_owner;
				SpiExec("UPDATE pgtrickle.pgt_stream_tables SET last_error_at = now(), "
				        "last_error_message = $2 WHERE pgt_id = $1::bigint",
				        {std::to_string(pgt_id), "cannot rebind after a restore: " + message});
			}
			PgCall([&] {
				ereport(WARNING,
				        (errmsg("restored stream table %s could not be rebound: %s",
				                display.c_str(), message.c_str()),
				         errhint("Fix the cause (a missing source or function), or drop the "
				                 "stream table and create it again.")));
			});
		}
	}
}

namespace {

// How long RefreshDefiningTrees waits for a relation lock before it leaves a stream table for a
// later tick: far below deadlock_timeout's default (1 s), so that the scheduler gives up before
// a session it blocks could report a deadlock.
constexpr const char *kTreeLockTimeoutMs = "50";

// Whether an error is a lock wait that timed out (lock_timeout) or was refused (NOWAIT).
bool IsLockNotAvailable(const std::optional<core::Error> &error) {
	return error && error->Sqlstate() == "55P03";
}

} // namespace

bool RefreshDefiningTrees() {
	// Deparsing and analyzing a query locks its relations (AccessShareLock, held to the end of
	// the transaction). A user transaction that drops several stream tables holds some of those
	// relations and then waits for others this transaction already holds: waiting here would
	// deadlock with it (regress diamond_groups did, with a scheduler started while the extension
	// was disabled). So no lock is waited for longer than kTreeLockTimeoutMs; a stream table
	// whose relations are busy keeps its tree until a later try.
	bridge::ScopedSetting lock_timeout("lock_timeout", kTreeLockTimeoutMs, PGC_SUSET);
	bool complete = true;
	auto rows = SpiExec(std::string("SELECT s.pgt_id, c.relowner, s.pgt_schema, s.pgt_name, "
	                                "s.defining_query, s.defining_tree "
	                                "FROM pgtrickle.pgt_stream_tables s "
	                                "JOIN pg_catalog.pg_class c ON c.oid = s.pgt_relid ") +
	                    (catalog::HasRebindColumn() ? "WHERE NOT s.needs_rebind " : "") +
	                    "ORDER BY s.pgt_id");
	for (const auto &row : rows.rows) {
		Oid owner = static_cast<Oid>(std::stoul(*row[1]));
		// A tree that still deparses to the stored text names what it did: nothing to do (the
		// common case, so a scheduler start writes nothing). After pg_upgrade a function or
		// operator OID in it names something else, or nothing (the deparse raises).
		bool current = false;
		if (row[5]) {
			auto error = bridge::RunInSubtransaction(
			    [&] { current = analyze::DeparseTree(*row[5]) == *row[4]; });
			if (IsLockNotAvailable(error)) {
				complete = false;
				continue;
			}
		}
		if (current) {
			continue;
		}
		// A query that no longer analyzes keeps its tree: its refresh reports why. A row another
		// transaction holds (a drop, an alter, a refresh) is skipped: the scheduler never waits
		// on user DDL here (a wait could deadlock with it); that transaction rewrites the tree.
		auto error = bridge::RunInSubtransaction([&] {
			analyze::AnalyzedQuery analyzed;
			{
				bridge::AsQueryOwner as_owner(owner);
				analyzed = analyze::AnalyzeQuery(*row[4], *row[2], *row[3]);
			}
			if (analyzed.tree != row[5].value_or("")) {
				bridge::AsExtensionOwner as_owner;
				SpiExec("UPDATE pgtrickle.pgt_stream_tables SET defining_tree = $2 "
				        "WHERE pgt_id = (SELECT l.pgt_id FROM pgtrickle.pgt_stream_tables l "
				        "WHERE l.pgt_id = $1::bigint FOR UPDATE SKIP LOCKED)",
				        {*row[0], analyzed.tree});
			}
		});
		complete = complete && !IsLockNotAvailable(error);
	}
	return complete;
}

CreateSpec ParseCreateSpec(FunctionCallInfo fcinfo) {
	auto schedule_arg = TextArg(fcinfo, 2);
	if (!schedule_arg) {
		throw core::Error("22004", "schedule must not be null", {},
		                  "Use 'calculated' to refresh whenever the sources change.");
	}
	std::string mode_text = RequiredTextArg(fcinfo, 3, "refresh_mode");
	auto initialize = BoolArg(fcinfo, 4);
	if (!initialize) {
		throw core::Error("22004", "initialize must not be null");
	}
	auto consistency_arg = TextArg(fcinfo, 5);
	auto policy_arg = TextArg(fcinfo, 6);

	CreateSpec spec;
	spec.mode = CheckMode(mode_text);
	spec.schedule = CheckSchedule(*schedule_arg);
	spec.consistency = consistency_arg
	                       ? core::ParseDiamondConsistency(*consistency_arg)
	                       : static_cast<core::DiamondConsistency>(config::diamond_consistency);
	spec.policy = policy_arg ? core::ParseSchedulePolicy(*policy_arg)
	                         : static_cast<core::SchedulePolicy>(config::diamond_schedule_policy);
	spec.initialize = *initialize;
	return spec;
}

void CreateStreamTable(const TargetName &target, const std::string &query, const CreateSpec &spec) {
	// The caller becomes the owner: its query is planned as it, restricted like every later run.
	analyze::AnalyzedQuery analyzed;
	{
		bridge::AsQueryOwner as_owner(PgCall([] { return GetUserId(); }));
		analyzed = analyze::AnalyzeQuery(query, target.schema, target.name);
	}
	bridge::PinnedSearchPath pin;

	std::string qualified = bridge::QualifiedName(target.schema, target.name);
	SpiExec("CREATE TABLE " + qualified + " (\n" + ColumnList(analyzed) + "\n)");
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
		auto r = SpiExec(
		    "INSERT INTO pgtrickle.pgt_stream_tables (pgt_relid, pgt_schema, pgt_name, "
		    "defining_query, original_query, defining_tree, output_columns, schedule, "
		    "refresh_mode, status, diamond_consistency, diamond_schedule_policy) "
		    "VALUES ($1::oid, $2, $3, $4, $5, $10, '{}', $6, $7, 'INITIALIZING', $8, $9) "
		    "RETURNING pgt_id",
		    {std::to_string(relid), target.schema, target.name, analyzed.text, query, spec.schedule,
		     std::string(core::Name(spec.mode)), std::string(core::Name(spec.consistency)),
		     std::string(core::Name(spec.policy)), analyzed.tree});
		pgt_id = std::stoll(r.Get(0, 0));
	}
	RecordDependencies(pgt_id, relid, analyzed.sources);
	refresh::RecordQuery(pgt_id, analyzed, nullptr);
	CheckNoCycles();
	PrepareDifferential(pgt_id, spec.mode);
	analyze::WarnHiddenDependencies(analyzed.text,
	                                bridge::QualifiedName(target.schema, target.name));

	if (spec.initialize) {
		RefreshNow(*catalog::LoadById(pgt_id), catalog::Initiator::kInitial);
	}
	// The first stream table of a database gets it a scheduler (at commit).
	scheduler::RequestSchedulerAtCommit();
}

analyze::AnalyzedQuery AnalyzeAsOwner(const catalog::StreamTable &st, const std::string &query) {
	// As the owner, restricted, even when a superuser or a member of the owning role asks.
	bridge::AsQueryOwner as_owner(st.owner);
	return analyze::AnalyzeQuery(query, st.schema, st.name);
}

void AlterStreamTable(const catalog::StreamTable &st, const std::optional<std::string> &query,
                      const std::optional<analyze::AnalyzedQuery> &analyzed,
                      const AlterSpec &spec) {
	bridge::PinnedSearchPath pin;
	LockOrFail(st);

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
		        {std::to_string(st.pgt_id), spec.schedule,
		         spec.mode ? Value(core::Name(*spec.mode)) : Value(),
		         spec.status ? Value(core::Name(*spec.status)) : Value(),
		         spec.consistency ? Value(core::Name(*spec.consistency)) : Value(),
		         spec.policy ? Value(core::Name(*spec.policy)) : Value()});
	}

	if (analyzed) {
		// Rebuild the storage in place: the relation (with grants, dependencies and the indexes
		// of unchanged columns) survives; the rows are recomputed below.
		bool reshaped = false;
		{
			bridge::AsQueryOwner as_owner(st.owner); // the DELETE fires the owner's triggers
			reshaped = refresh::ReshapeStorage(st, *analyzed);
		}
		ForgetDependencies(st.pgt_id, st.relid);
		{
			bridge::AsExtensionOwner as_owner;
			SpiExec("UPDATE pgtrickle.pgt_stream_tables SET needs_reinit = false, "
			        "reinit_reason = NULL, reinit_requested_at = NULL, "
			        "is_populated = false WHERE pgt_id = $1::bigint",
			        {std::to_string(st.pgt_id)});
		}
		RecordDependencies(st.pgt_id, st.relid, analyzed->sources);
		refresh::RecordQuery(st.pgt_id, *analyzed, &*query);
		if (reshaped) {
			refresh::CheckReaders(st);
		}
		capture::CollectGarbage();
		CheckNoCycles();
		PrepareDifferential(st.pgt_id, catalog::LoadById(st.pgt_id)->mode);
		analyze::WarnHiddenDependencies(analyzed->text, st.Display());
		auto fresh = catalog::LoadById(st.pgt_id);
		if (fresh->status != core::StStatus::kSuspended) {
			RefreshNow(*fresh, catalog::Initiator::kManual);
		} else {
			// A suspended table keeps no rows of the old query: it is repopulated on resume.
			bridge::AsQueryOwner as_owner(fresh->owner);
			refresh::InternalWriteScope writing(fresh->relid);
			SpiExec("DELETE FROM " + fresh->Qualified());
		}
	} else {
		if (spec.mode) {
			PrepareDifferential(st.pgt_id, *spec.mode);
		}
		if (spec.consistency || spec.policy) {
			CheckNoCycles();
		}
	}
}

void ResumeStreamTable(const catalog::StreamTable &st) {
	bridge::PinnedSearchPath pin;
	CheckOwner(st);
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
}

} // namespace pgtrickle::api

using namespace pgtrickle;
using bridge::PgCall;
using bridge::SpiExec;
using bridge::Value;

PGT_FUNCTION(pgtrickle_create_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	std::string query = api::RequiredTextArg(fcinfo, 1, "query");
	api::CreateSpec spec = api::ParseCreateSpec(fcinfo);

	bridge::SpiScope spi;
	api::TargetName target = api::ResolveCreationName(name);
	api::CreateStreamTable(target, query, spec);
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
	api::AlterSpec spec;
	if (schedule) {
		spec.schedule = api::CheckSchedule(*schedule);
	}
	if (mode) {
		spec.mode = api::CheckMode(*mode);
	}
	if (status) {
		std::string key = core::Lower(core::Trim(*status));
		if (key == "active") {
			spec.status = core::StStatus::kActive;
		} else if (key == "suspended") {
			spec.status = core::StStatus::kSuspended;
		} else {
			throw core::Error("22023", "invalid status value: \"" + *status + "\"",
			                  "Accepted values are 'ACTIVE' or 'SUSPENDED'.");
		}
	}
	if (consistency) {
		spec.consistency = core::ParseDiamondConsistency(*consistency);
	}
	if (policy) {
		spec.policy = core::ParseSchedulePolicy(*policy);
	}

	bridge::SpiScope spi;
	catalog::StreamTable st = catalog::Resolve(name);
	api::CheckOwner(st);
	std::optional<analyze::AnalyzedQuery> analyzed;
	if (query) {
		analyzed = api::AnalyzeAsOwner(st, *query);
	}
	api::AlterStreamTable(st, query, analyzed, spec);
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_drop_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	bool cascade = api::BoolArg(fcinfo, 1).value_or(false);

	bridge::SpiScope spi;
	catalog::StreamTable st = catalog::Resolve(name);
	bridge::PinnedSearchPath pin;
	// Only the owner may make a drop wait (and keep the scheduler off the tables it locks).
	api::CheckOwner(st);
	// Lock order (docs/architecture.md, Scheduler, "Locks between the scheduler and user DDL"):
	// the single-flight locks of every stream table dropped come first, before any other lock,
	// waiting for a refresh of them that is running to end. The scheduler only try-locks them
	// (and skips a stream table whose lock is taken), and its tick reads change buffers without
	// waiting (capture::PendingForAll): so the catalog rows, capture objects and tables dropped
	// below are locked by nothing the scheduler waits for, and no refresh of them holds a lock
	// this drop needs. Stream tables that start to read this one while it waits are seen by the
	// next round.
	std::vector<std::int64_t> downstream;
	std::set<std::int64_t> locked;
	for (;;) {
		auto all = catalog::LoadAll();
		auto self = std::find_if(all.begin(), all.end(), [&](const catalog::StreamTable &s) {
			return s.pgt_id == st.pgt_id;
		});
		if (self == all.end()) { // dropped by another session while this one waited
			throw core::Error("42P01", "stream table \"" + name + "\" does not exist", {},
			                  "pgtrickle.pgt_status() lists the stream tables.");
		}
		st = *self; // renamed while this one waited
		core::Dag dag = core::Dag::Build(catalog::ToDagNodes(all));
		downstream = dag.Downstream(st.pgt_id);
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
		std::vector<std::int64_t> ids = downstream;
		ids.push_back(st.pgt_id);
		std::sort(ids.begin(), ids.end());
		bool waited = false;
		for (auto id : ids) {
			if (locked.insert(id).second) {
				refresh::LockStreamTable(id);
				waited = true;
			}
		}
		if (!waited) {
			break;
		}
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
	api::ResumeStreamTable(st);
	PG_RETURN_VOID();
}

PGT_FUNCTION(pgtrickle_refresh_stream_table) {
	std::string name = api::RequiredTextArg(fcinfo, 0, "name");
	bridge::SpiScope spi;
	{
		bridge::PinnedSearchPath pin;
		api::RebindRestored(false);
	}
	// Only the identity: RefreshNow finds the unit by id and RefreshUnit reads the members again
	// after its snapshot.
	catalog::StreamTable st = catalog::ResolveIdentity(name);
	bridge::PinnedSearchPath pin;
	api::CheckOwner(st);
	api::RefreshNow(st, catalog::Initiator::kManual);
	PG_RETURN_VOID();
}
