// Stream-table lifecycle steps shared by the SQL API functions (lifecycle.cpp) and the
// declarative and bulk variants (declarative.cpp). All run in the caller's transaction, need SPI
// (bridge::SpiScope) and are C++ regime (may throw core::Error or a PostgreSQL error).
#pragma once

#include "analyze/query_analysis.hpp"
#include "pgt_catalog/catalog.hpp"
#include "pgt_catalog/history.hpp"
#include "core/options.hpp"

#include <optional>
#include <string>

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

namespace pgtrickle::api {

// Where create_stream_table(name) puts the table: like CREATE TABLE (unqualified = first schema
// of search_path); checks CREATE privilege on the schema and refuses temporary schemas. Resolves
// `name` in the caller's search_path: call before pinning it.
struct TargetName {
	Oid nsp;
	std::string schema;
	std::string name;
	Oid existing; // the relation already called so there, or InvalidOid
};
TargetName ResolveCreationTarget(const std::string &name);

// create_stream_table's arguments 2..6 (schedule, refresh_mode, initialize, diamond_consistency,
// diamond_schedule_policy), validated, NULLs resolved to the GUCs' current values.
struct CreateSpec {
	core::RefreshMode mode = core::RefreshMode::kAuto;
	std::string schedule; // canonical spelling
	core::DiamondConsistency consistency = core::DiamondConsistency::kAtomic;
	core::SchedulePolicy policy = core::SchedulePolicy::kFastest;
	bool initialize = true;
};
CreateSpec ParseCreateSpec(FunctionCallInfo fcinfo);

// Creates the stream table at `target` (which must be free), owned by the caller, and populates
// it unless spec.initialize is false.
void CreateStreamTable(const TargetName &target, const std::string &query, const CreateSpec &spec);

// alter_stream_table's changes, validated; nullopt = unchanged.
struct AlterSpec {
	std::optional<std::string> schedule;
	std::optional<core::RefreshMode> mode;
	std::optional<core::StStatus> status;
	std::optional<core::DiamondConsistency> consistency;
	std::optional<core::SchedulePolicy> policy;
};

// The query analyzed as st's owner in a security-restricted operation (as alter does).
analyze::AnalyzedQuery AnalyzeAsOwner(const catalog::StreamTable &st, const std::string &query);

// Applies `spec` and, when `analyzed` is set, replaces the query (`query` is its original text)
// and repopulates. The caller has checked ownership (CheckOwner). 55P03 while it is refreshed.
void AlterStreamTable(const catalog::StreamTable &st, const std::optional<std::string> &query,
                      const std::optional<analyze::AnalyzedQuery> &analyzed, const AlterSpec &spec);

// resume_stream_table: ownership check, 55000 unless SUSPENDED, status back, `resumed` alert.
void ResumeStreamTable(const catalog::StreamTable &st);

// 42501 unless the current user owns st (or is a member of the owning role).
void CheckOwner(const catalog::StreamTable &st);

// Populates or refreshes the refresh unit of target in the caller's transaction (its whole
// atomic consistency group, whose every member the caller must own). 55000 if suspended,
// 55P03 if another session refreshes it.
void RefreshNow(const catalog::StreamTable &target, catalog::Initiator who);

} // namespace pgtrickle::api
