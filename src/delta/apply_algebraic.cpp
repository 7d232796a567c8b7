// Algebraic apply (see apply_algebraic.hpp; the rule is in src/ivm/op_aggregate.cpp).
//
// Z-set terms: for a group g with partial state s(g) (the aggregation of its input rows as a
// signed sum), the new state is s_new(g) = s_old(g) + Σ_{r ∈ ΔX, key(r) = g} w(r)·f(r), where f
// is, per aggregate, [counted(r)], value(r)·[counted(r)] and, for numeric, the count of inputs
// at the group's maximal display scale. A group whose state cannot be kept exact by addition is
// "dirty" and its state is rebuilt from X_new restricted to its key (the same summary over the
// group's rows, added to an empty state). The stream table's rows of the affected groups are
// then replaced by the select list (HAVING as a filter) over the new states. Everything is one
// statement on the unit's snapshot.
#include "delta/apply_algebraic.hpp"

#include "bridge/guard.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"
#include "delta/apply.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
}

namespace pgtrickle::delta {

using bridge::PgCall;
using bridge::QuoteIdent;
using bridge::SpiExec;
using bridge::SpiOptions;
using bridge::Value;
using ivm::AggKind;

namespace {

const char *const kSchema = "pgtrickle_changes";

std::string N(std::size_t i) {
	return std::to_string(i + 1);
}

bool IsNumeric(AggKind k) {
	return k == AggKind::kSumNumeric || k == AggKind::kAvgNumeric;
}
bool IsSum(AggKind k) {
	return k == AggKind::kSumInt || k == AggKind::kSumInt8 || k == AggKind::kAvgInt || IsNumeric(k);
}
bool IsExtreme(AggKind k) {
	return k == AggKind::kMin || k == AggKind::kMax;
}

std::string StateName(const catalog::StreamTable &st, const DeltaPlan &plan) {
	return "agg_state_" + std::to_string(st.pgt_id) + "_" + plan.algebraic.signature.substr(0, 12) +
	       "_" + std::to_string(st.owner);
}

std::string StateTable(const catalog::StreamTable &st, const DeltaPlan &plan) {
	return QuoteIdent(kSchema) + "." + QuoteIdent(StateName(st, plan));
}

// The state's columns: keys, row count, then per aggregate count, value, scale, count at scale.
std::string StateCols(const ivm::AlgebraicPlan &a, const std::string &alias) {
	std::string p = alias.empty() ? "" : alias + ".";
	std::string out;
	for (std::size_t i = 0; i < a.nkeys; i++) {
		out += p + "__pgt_k" + N(i) + ", ";
	}
	out += p + "__pgt_n";
	for (std::size_t j = 0; j < a.aggs.size(); j++) {
		std::string c = p + "__pgt_a" + N(j);
		out += ", " + c + "_c, " + c + "_s, " + c + "_sc, " + c + "_sn";
	}
	return out;
}

// Per group of the projection `proj` (keys, (argument, filter) per aggregate, weight): the
// signed sums that the new state adds to the old one. `unit_weights`: every row of `proj` has
// weight 1 (the whole new input, or its rows of some groups), so the weighted sums are plain
// counts and sums: sum(x) of the argument's own type, exact like sum(x::numeric * w::numeric)
// (integers sum exactly, in int8 or numeric; a numeric sum keeps the largest display scale, as
// the product with the weight 1 does) and an order of magnitude cheaper over a whole table.
std::string Summary(const ivm::AlgebraicPlan &a, const std::string &proj, bool unit_weights) {
	auto weight_sum = [&](const std::string &filter) {
		std::string f = filter.empty() ? "" : " FILTER (WHERE " + filter + ")";
		return unit_weights ? "pg_catalog.count(*)" + f
		                    : "coalesce(pg_catalog.sum(p.__pgt_w)" + f + ", 0)::pg_catalog.int8";
	};
	std::size_t m = a.nkeys;
	std::string keys;
	for (std::size_t i = 0; i < m; i++) {
		keys += (i ? ", " : "") + std::string("q.__pgt_c") + N(i);
	}
	std::string inner = "SELECT q.*";
	std::string sel;
	for (std::size_t i = 0; i < m; i++) {
		sel += "p.__pgt_c" + N(i) + " AS __pgt_k" + N(i) + ", ";
	}
	sel += weight_sum("") + " AS __pgt_dn";
	for (std::size_t j = 0; j < a.aggs.size(); j++) {
		const auto &agg = a.aggs[j];
		std::string v = "__pgt_c" + std::to_string(m + 2 * j + 1);
		std::string f = "__pgt_c" + std::to_string(m + 2 * j + 2);
		std::string d = "__pgt_d" + N(j);
		std::string t = "__pgt_t" + N(j);
		std::string counted = "p." + f + " AND p." + v + " IS NOT NULL";
		sel += ", " + weight_sum(counted) + " AS " + d + "_c";
		if (IsSum(agg.kind) && unit_weights) {
			sel += ", pg_catalog.sum(p." + v + ") FILTER (WHERE " + counted +
			       ")::pg_catalog.numeric AS " + d + "_s";
		} else if (IsSum(agg.kind)) {
			sel += ", pg_catalog.sum(p." + v + "::pg_catalog.numeric OPERATOR(pg_catalog.*) p." +
			       "__pgt_w::pg_catalog.numeric) FILTER (WHERE " + counted + ") AS " + d + "_s";
		} else {
			sel += ", NULL::pg_catalog.numeric AS " + d + "_s";
		}
		if (IsNumeric(agg.kind)) {
			inner += ", pg_catalog.max(CASE WHEN q." + f + " AND q." + v +
			         " IS NOT NULL THEN pg_catalog.scale(q." + v + ") END) OVER (" +
			         (m ? "PARTITION BY " + keys : "") + ") AS " + t;
			sel += ", pg_catalog.max(p." + t + ") AS " + d + "_t, " +
			       weight_sum(counted + " AND pg_catalog.scale(p." + v + ") = p." + t) + " AS " +
			       d + "_tc, pg_catalog.count(*) " + "FILTER (WHERE " + counted +
			       " AND pg_catalog.scale(p." + v + ") IS NULL) AS " + d + "_nf";
		} else {
			sel += ", NULL::pg_catalog.int4 AS " + d + "_t, 0::pg_catalog.int8 AS " + d +
			       "_tc, 0::pg_catalog.int8 AS " + d + "_nf";
		}
		if (IsExtreme(agg.kind)) {
			std::string fn = agg.kind == AggKind::kMin ? "pg_catalog.min" : "pg_catalog.max";
			sel += ", " + fn + "(p." + v + ") FILTER (WHERE " + counted +
			       " AND p.__pgt_w > 0) AS " + d + "_i, " + fn + "(p." + v + ") FILTER (WHERE " +
			       counted + " AND p.__pgt_w < 0) AS " + d + "_d";
		} else {
			sel += ", NULL::" + agg.state_type + " AS " + d + "_i, NULL::" + agg.state_type +
			       " AS " + d + "_d";
		}
	}
	std::string names;
	for (std::size_t i = 0; i < m + 2 * a.aggs.size(); i++) {
		names += "__pgt_c" + N(i) + ", ";
	}
	inner += " FROM (" + proj + ") AS q(" + names + "__pgt_w)";
	std::string group;
	for (std::size_t i = 0; i < m; i++) {
		group += (i ? ", " : " GROUP BY ") + std::string("p.__pgt_c") + N(i);
	}
	return "SELECT " + sel + " FROM (" + inner + ") AS p" + group;
}

// The summary `d` with an empty old state (a group rebuilt from its rows).
std::string WithoutOld(const ivm::AlgebraicPlan &a, const std::string &summary) {
	std::string out = "SELECT d.*, NULL::pg_catalog.tid AS __pgt_sid, NULL::pg_catalog.int8 AS "
	                  "__pgt_o_n";
	for (std::size_t j = 0; j < a.aggs.size(); j++) {
		std::string o = "__pgt_o" + N(j);
		out += ", NULL::pg_catalog.int8 AS " + o + "_c, NULL::" + a.aggs[j].state_type + " AS " +
		       o + "_s, NULL::pg_catalog.int4 AS " + o + "_sc, NULL::pg_catalog.int8 AS " + o +
		       "_sn";
	}
	return out + " FROM (" + summary + ") AS d";
}

// The old state's columns as joined to the summary (alias s = state table).
std::string OldCols(const ivm::AlgebraicPlan &a) {
	std::string out = "s.ctid AS __pgt_sid, s.__pgt_n AS __pgt_o_n";
	for (std::size_t j = 0; j < a.aggs.size(); j++) {
		std::string s = "s.__pgt_a" + N(j);
		std::string o = "__pgt_o" + N(j);
		out += ", " + s + "_c AS " + o + "_c, " + s + "_s AS " + o + "_s, " + s + "_sc AS " + o +
		       "_sc, " + s + "_sn AS " + o + "_sn";
	}
	return out;
}

// Rows of `left` (alias l, keys l.<lk>1..) matched with rows of `right` (alias r, keys
// r.<rk>1..) by the keys' "=" (identity for these key types), NULL matching NULL: an equality
// join (hashable, indexable) for keys without NULL, the NULL-safe comparison for the others.
struct KeyMatch {
	std::string all_not_null; // on l
	std::string eq;           // l = r
	std::string null_safe;    // l = r or both NULL
};
KeyMatch MatchKeys(const DeltaPlan &plan, const std::string &l, const std::string &lk,
                   const std::string &r, const std::string &rk) {
	const auto &a = plan.algebraic;
	KeyMatch k;
	for (std::size_t i = 0; i < a.nkeys; i++) {
		std::string op = plan.eq_operators[static_cast<std::size_t>(a.key_outputs[i])];
		std::string lc = l + "." + lk + (lk.rfind("__pgt", 0) == 0 ? N(i) : "");
		std::string rc = r + "." + rk + N(i);
		std::string sep = i ? " AND " : "";
		k.all_not_null += sep + lc + " IS NOT NULL";
		k.eq += sep + lc + " " + op + " " + rc;
		k.null_safe += sep + "(" + lc + " " + op + " " + rc + " OR (" + lc + " IS NULL AND " + rc +
		               " IS NULL))";
	}
	return k;
}

// The new state from `j` (summary columns __pgt_d*, old state columns __pgt_o*, __pgt_sid):
// state columns, __pgt_dirty, __pgt_sid.
std::string NewState(const ivm::AlgebraicPlan &a, const std::string &j) {
	std::size_t m = a.nkeys;
	std::string level_a = "SELECT j.*, coalesce(j.__pgt_o_n, 0) + j.__pgt_dn AS __pgt_n";
	for (std::size_t i = 0; i < a.aggs.size(); i++) {
		std::string o = "j.__pgt_o" + N(i);
		level_a += ", coalesce(" + o + "_c, 0) + j.__pgt_d" + N(i) + "_c AS __pgt_a" + N(i) +
		           "_c, CASE WHEN coalesce(" + o + "_c, 0) > 0 THEN coalesce(" + o +
		           "_sc, -1) ELSE -1 END AS __pgt_x" + N(i);
	}
	level_a += " FROM (" + j + ") AS j";
	std::string sel;
	for (std::size_t i = 0; i < m; i++) {
		sel += "a.__pgt_k" + N(i) + ", ";
	}
	sel += "a.__pgt_n";
	std::string dirty_aggs = "false";
	for (std::size_t i = 0; i < a.aggs.size(); i++) {
		AggKind kind = a.aggs[i].kind;
		std::string c = "a.__pgt_a" + N(i) + "_c";
		std::string d = "a.__pgt_d" + N(i);
		std::string os = "a.__pgt_o" + N(i) + "_s";
		std::string osn = "coalesce(a.__pgt_o" + N(i) + "_sn, 0)";
		std::string big_s = "a.__pgt_x" + N(i);
		std::string raw = "coalesce(" + os + ", 0) + coalesce(" + d + "_s, 0)";
		std::string sc = "CASE WHEN coalesce(" + d + "_t, -2) > " + big_s + " THEN " + d +
		                 "_t ELSE " + big_s + " END";
		std::string sn = "CASE WHEN coalesce(" + d + "_t, -2) > " + big_s + " THEN " + d +
		                 "_tc WHEN " + d + "_t = " + big_s + " THEN " + osn + " + " + d +
		                 "_tc ELSE " + osn + " END";
		std::string s_out;
		std::string sc_out = "NULL::pg_catalog.int4";
		std::string sn_out = "NULL::pg_catalog.int8";
		dirty_aggs += " OR " + c + " < 0";
		switch (kind) {
		case AggKind::kCount:
			s_out = "NULL::pg_catalog.numeric";
			break;
		case AggKind::kSumInt:
		case AggKind::kSumInt8:
		case AggKind::kAvgInt:
			s_out = "CASE WHEN " + c + " > 0 THEN " + raw + " END";
			break;
		case AggKind::kSumNumeric:
		case AggKind::kAvgNumeric:
			// The display scale of a sum is the largest of its inputs': kept with the count of
			// inputs at that scale; when that count drops to 0 the scale may drop (recompute).
			s_out = "CASE WHEN " + c + " > 0 THEN pg_catalog.round(" + raw + ", " + sc + ") END";
			sc_out = "CASE WHEN " + c + " > 0 THEN " + sc + " END";
			sn_out = "CASE WHEN " + c + " > 0 THEN " + sn + " ELSE 0 END";
			dirty_aggs += " OR (" + c + " > 0 AND (" + sn + ") <= 0) OR " + d + "_nf > 0";
			break;
		case AggKind::kMin:
		case AggKind::kMax: {
			bool min = kind == AggKind::kMin;
			s_out = "CASE WHEN " + c + " > 0 THEN " + (min ? "LEAST(" : "GREATEST(") + os + ", " +
			        d + "_i) END";
			// A deletion at or beyond the extreme: the extreme may be gone (recompute).
			dirty_aggs += " OR (" + c + " > 0 AND " + d + "_d IS NOT NULL AND (" + os +
			              " IS NULL OR " + d + "_d " + (min ? "<=" : ">=") + " " + os + "))";
			break;
		}
		}
		sel += ", " + c + ", " + s_out + " AS __pgt_a" + N(i) + "_s, " + sc_out + " AS __pgt_a" +
		       N(i) + "_sc, " + sn_out + " AS __pgt_a" + N(i) + "_sn";
	}
	std::string live = m == 0 ? "true" : "a.__pgt_n > 0";
	sel +=
	    ", (a.__pgt_n < 0 OR (" + live + " AND (" + dirty_aggs + "))) AS __pgt_dirty, a.__pgt_sid";
	return "SELECT " + sel + " FROM (" + level_a + ") AS a";
}

std::string ApplySql(const catalog::StreamTable &st, const DeltaPlan &plan) {
	const auto &a = plan.algebraic;
	std::size_t m = a.nkeys;
	std::string state = StateTable(st, plan);
	std::string table = st.Qualified();
	std::string cols = StateCols(a, "");
	std::string j;
	if (m == 0) {
		j = "SELECT d.*, " + OldCols(a) + " FROM __pgt_d d LEFT JOIN " + state + " s ON true";
	} else {
		KeyMatch k = MatchKeys(plan, "d", "__pgt_k", "s", "__pgt_k");
		j = "SELECT d.*, " + OldCols(a) + " FROM __pgt_d d LEFT JOIN " + state + " s ON " + k.eq +
		    " WHERE " + k.all_not_null + " UNION ALL SELECT d.*, " + OldCols(a) +
		    " FROM __pgt_d d LEFT JOIN " + state + " s ON " + k.null_safe + " WHERE NOT (" +
		    k.all_not_null + ")";
	}
	std::string dk = "SELECT ";
	for (std::size_t i = 0; i < m; i++) {
		dk += (i ? ", " : "") + std::string("x.__pgt_k") + N(i) + " AS __pgt_c" + N(i);
	}
	dk += (m == 0 ? "1 AS __pgt_c1" : "") + std::string(" FROM __pgt_x x WHERE x.__pgt_dirty");
	std::string in_dk;
	if (m == 0) {
		in_dk = "EXISTS (SELECT 1 FROM __pgt_dk)";
	} else {
		KeyMatch k = MatchKeys(plan, "k", "__pgt_c", "r", "__pgt_k");
		in_dk = "EXISTS (SELECT 1 FROM __pgt_dk k WHERE " + k.null_safe + ")";
	}
	std::string live_x = m == 0 ? "" : " AND x.__pgt_n > 0";
	std::string live_r = m == 0 ? "" : " AND r.__pgt_n > 0";
	// The stored rows of the affected groups (exactly those keys).
	std::string victims;
	if (m == 0) {
		victims = "SELECT t.ctid FROM " + table + " t WHERE EXISTS (SELECT 1 FROM __pgt_x)";
	} else {
		// The storage's key columns are named by the user: the match is built here.
		std::string eq;
		std::string null_safe;
		std::string any_null;
		for (std::size_t i = 0; i < m; i++) {
			std::size_t out = static_cast<std::size_t>(a.key_outputs[i]);
			std::string tc = "t." + QuoteIdent(plan.column_names[out]);
			std::string xc = "x.__pgt_k" + N(i);
			std::string op = plan.eq_operators[out];
			std::string sep = i ? " AND " : "";
			eq += sep + tc + " " + op + " " + xc;
			null_safe += sep + "(" + tc + " " + op + " " + xc + " OR (" + tc + " IS NULL AND " +
			             xc + " IS NULL))";
			any_null += (i ? " OR " : "") + xc + " IS NULL";
		}
		victims = "SELECT t.ctid FROM " + table + " t JOIN __pgt_x x ON " + eq +
		          " UNION ALL SELECT t.ctid FROM " + table + " t JOIN __pgt_x x ON " + null_safe +
		          " AND (" + any_null + ")";
	}
	return "WITH __pgt_d AS MATERIALIZED (\n" + Summary(a, a.delta_projection, false) +
	       "\n), __pgt_j AS MATERIALIZED (" + j + "), __pgt_x AS MATERIALIZED (" +
	       NewState(a, "SELECT * FROM __pgt_j") + "), __pgt_dk AS MATERIALIZED (" + dk +
	       "), __pgt_r AS MATERIALIZED (SELECT r.* FROM (" +
	       NewState(a, WithoutOld(a, Summary(a, a.dirty_projection, true))) + ") AS r WHERE " +
	       in_dk + live_r + "), __pgt_ns AS MATERIALIZED (SELECT " + StateCols(a, "x") +
	       " FROM __pgt_x x WHERE NOT x.__pgt_dirty" + live_x + " UNION ALL SELECT " +
	       StateCols(a, "r") + " FROM __pgt_r r), __pgt_sdel AS (DELETE FROM " + state +
	       " WHERE ctid = ANY (ARRAY(SELECT x.__pgt_sid FROM __pgt_x x WHERE x.__pgt_sid IS NOT "
	       "NULL))), __pgt_sins AS (INSERT INTO " +
	       state + " (" + cols + ") SELECT " + cols +
	       " FROM __pgt_ns), __pgt_del AS (DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(" +
	       victims + ")) RETURNING 1), __pgt_ins AS (INSERT INTO " + table + " (" + st.column_list +
	       ") SELECT * FROM (\n" + a.output_query +
	       "\n) AS q RETURNING 1) SELECT (SELECT count(*) FROM __pgt_del), (SELECT count(*) FROM "
	       "__pgt_ins), (SELECT count(*) FROM __pgt_dk)";
}

std::string FillSql(const catalog::StreamTable &st, const DeltaPlan &plan) {
	const auto &a = plan.algebraic;
	std::string cols = StateCols(a, "");
	std::string live = a.nkeys == 0 ? "" : " WHERE r.__pgt_n > 0";
	return "INSERT INTO " + StateTable(st, plan) + " (" + cols + ") SELECT " + StateCols(a, "r") +
	       " FROM (" + NewState(a, WithoutOld(a, Summary(a, a.full_projection, true))) + ") AS r" +
	       live;
}

Oid StateOid(const catalog::StreamTable &st, const DeltaPlan &plan) {
	std::string name = StateName(st, plan);
	return PgCall([&] {
		Oid ns = get_namespace_oid(kSchema, true);
		return OidIsValid(ns) ? get_relname_relid(name.c_str(), ns) : InvalidOid;
	});
}

// Drops st's state tables except `keep`. As extension owner.
void DropStates(const catalog::StreamTable &st, const std::string &keep) {
	bridge::AsExtensionOwner as_owner;
	capture::InternalDdlScope internal;
	auto old = SpiExec(
	    "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
	    "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND "
	    "c.relname LIKE $2 AND c.relname <> $3 ORDER BY 1",
	    {std::string(kSchema), "agg\\_state\\_" + std::to_string(st.pgt_id) + "\\_%", keep});
	for (const auto &row : old.rows) {
		SpiExec("DROP TABLE " + QuoteIdent(kSchema) + "." + QuoteIdent(*row[0]));
	}
}

// (Re)creates st's state table empty, owned by the extension's owner, readable and writable
// only by st's owner, and dropped with st's storage.
void CreateState(const catalog::StreamTable &st, const DeltaPlan &plan) {
	const auto &a = plan.algebraic;
	std::string name = StateName(st, plan);
	DropStates(st, "");
	bridge::AsExtensionOwner as_owner;
	capture::InternalDdlScope internal;
	std::string columns;
	for (std::size_t i = 0; i < a.nkeys; i++) {
		columns += "__pgt_k" + N(i) + " " + a.key_types[i] + ", ";
	}
	columns += "__pgt_n pg_catalog.int8 NOT NULL";
	for (std::size_t j = 0; j < a.aggs.size(); j++) {
		std::string c = "__pgt_a" + N(j);
		columns += ", " + c + "_c pg_catalog.int8, " + c + "_s " + a.aggs[j].state_type + ", " + c +
		           "_sc pg_catalog.int4, " + c + "_sn pg_catalog.int8";
	}
	std::string table = StateTable(st, plan);
	SpiExec("CREATE TABLE " + table + " (" + columns + ")");
	if (a.nkeys > 0) {
		std::string keys;
		for (std::size_t i = 0; i < a.nkeys; i++) {
			keys += (i ? ", " : "") + std::string("__pgt_k") + N(i);
		}
		SpiExec("CREATE INDEX ON " + table + " (" + keys + ")");
	}
	SpiExec("REVOKE ALL ON " + table + " FROM PUBLIC");
	std::string role = SpiExec("SELECT pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_roles "
	                           "WHERE oid = $1::oid",
	                           {std::to_string(st.owner)})
	                       .Get(0, 0);
	SpiExec("GRANT SELECT, INSERT, DELETE ON " + table + " TO " + role);
	SpiExec("GRANT USAGE ON SCHEMA " + QuoteIdent(kSchema) + " TO " + role);
	Oid state = StateOid(st, plan);
	Oid storage = st.relid;
	PgCall([&] {
		ObjectAddress dependent{RelationRelationId, state, 0};
		ObjectAddress referenced{RelationRelationId, storage, 0};
		recordDependencyOn(&dependent, &referenced, DEPENDENCY_AUTO);
	});
}

// Creates and fills st's state from the new contents (the unit's snapshot). As st's owner.
void BuildState(const catalog::StreamTable &st, const DeltaPlan &plan, Snapshot snapshot) {
	CreateState(st, plan);
	SpiOptions options;
	options.snapshot = snapshot;
	WithoutJit(FillSql(st, plan), {}, options);
	bridge::AsExtensionOwner as_owner;
	SpiExec("ANALYZE " + StateTable(st, plan));
}

} // namespace

catalog::RefreshOutcome ApplyAlgebraic(const catalog::StreamTable &st, const DeltaPlan &plan,
                                       const capture::Frontier &since, Snapshot snapshot) {
	if (!OidIsValid(StateOid(st, plan))) {
		DeltaPlan fallback = plan;
		fallback.shape = plan.fallback;
		catalog::RefreshOutcome outcome = ApplyDelta(st, fallback, since, snapshot);
		BuildState(st, plan, snapshot);
		return outcome;
	}
	catalog::RefreshOutcome outcome;
	outcome.action = "DIFFERENTIAL";
	SpiOptions options;
	options.snapshot = snapshot;
	std::vector<Value> params{since.snapshot, since.own_xid, since.own_cid};
	auto r = WithoutJit(ApplySql(st, plan), params, options);
	outcome.rows_deleted = std::stoll(r.Get(0, 0, "0"));
	outcome.rows_inserted = std::stoll(r.Get(0, 1, "0"));
	return outcome;
}

namespace {

std::string InsertFromStateSql(const catalog::StreamTable &st, const DeltaPlan &plan) {
	return "WITH __pgt_ns AS (SELECT " + StateCols(plan.algebraic, "") + " FROM " +
	       StateTable(st, plan) + ") INSERT INTO " + st.Qualified() + " (" + st.column_list +
	       ") SELECT * FROM (\n" + plan.algebraic.output_query + "\n) AS q";
}

} // namespace

catalog::RefreshOutcome FullFromState(const catalog::StreamTable &st, const DeltaPlan &plan,
                                      Snapshot snapshot) {
	catalog::RefreshOutcome outcome;
	outcome.action = "FULL";
	BuildState(st, plan, snapshot);
	SpiOptions options;
	options.snapshot = snapshot;
	auto deleted = SpiExec("DELETE FROM " + st.Qualified(), {}, options);
	auto inserted = WithoutJit(InsertFromStateSql(st, plan), {}, options);
	outcome.rows_deleted = static_cast<std::int64_t>(deleted.processed);
	outcome.rows_inserted = static_cast<std::int64_t>(inserted.processed);
	return outcome;
}

void AfterFullRefresh(const catalog::StreamTable &st, const DeltaPlan *plan, Snapshot snapshot) {
	bridge::AsQueryOwner as_owner(st.owner);
	DeltaPlan planned;
	if (plan == nullptr && st.mode != core::RefreshMode::kFull) {
		planned = PlanDelta(st.defining_query, st.relid);
		plan = &planned;
	}
	if (st.mode != core::RefreshMode::kFull && plan != nullptr &&
	    plan->shape == Shape::kAlgebraic) {
		BuildState(st, *plan, snapshot);
	} else {
		DropStates(st, "");
	}
}

std::string DescribeFullFromState(const catalog::StreamTable &st, const DeltaPlan &plan) {
	return FillSql(st, plan) + "; DELETE FROM " + st.Qualified() + "; " +
	       InsertFromStateSql(st, plan);
}

std::string AlgebraicDeltaSql(const DeltaPlan &plan) {
	return Summary(plan.algebraic, plan.algebraic.delta_projection, false);
}

bool HasAlgebraicState(const catalog::StreamTable &st, const DeltaPlan &plan) {
	return OidIsValid(StateOid(st, plan));
}

std::string AlgebraicApplySql(const catalog::StreamTable &st, const DeltaPlan &plan) {
	return ApplySql(st, plan);
}

std::string DescribeAlgebraic(const DeltaPlan &plan) {
	std::string out;
	for (const auto &a : plan.algebraic.aggs) {
		std::string rule;
		switch (a.kind) {
		case AggKind::kCount:
		case AggKind::kSumInt:
		case AggKind::kSumInt8:
		case AggKind::kAvgInt:
			rule = "algebraic";
			break;
		case AggKind::kSumNumeric:
		case AggKind::kAvgNumeric:
			rule =
			    "algebraic (group recomputed when its display scale may drop, or on NaN/Infinity)";
			break;
		case AggKind::kMin:
		case AggKind::kMax:
			rule = "algebraic (group recomputed when its extreme is deleted)";
			break;
		}
		out += (out.empty() ? "" : "; ") + a.text + ": " + rule;
	}
	return out;
}

} // namespace pgtrickle::delta
