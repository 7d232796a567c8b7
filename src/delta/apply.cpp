// Delta application (see apply.hpp).
#include "delta/apply.hpp"

#include "bridge/spi.hpp"

namespace pgtrickle::delta {

using bridge::QuoteIdent;
using bridge::QuoteLiteral;
using bridge::SpiExec;
using bridge::SpiOptions;
using bridge::Value;

namespace {

std::string Col(const std::string &alias, const DeltaPlan &plan, std::size_t i) {
	return alias + "." + QuoteIdent(plan.column_names[i]);
}

std::string DeltaCol(std::size_t i) {
	return "d.__pgt_c" + std::to_string(i + 1);
}

// One statement: net row delta, then delete |w| matching rows for w < 0 and insert w copies for
// w > 0. Matching on the first column uses its index (created with the stream table).
std::string RowsApplySql(const catalog::StreamTable &st, const DeltaPlan &plan) {
	std::string table = st.Qualified();
	std::string rest_match;
	if (plan.column_names.size() > 1) {
		std::string s_cols;
		std::string d_cols;
		for (std::size_t i = 1; i < plan.column_names.size(); i++) {
			s_cols += (i > 1 ? ", " : "") + Col("s", plan, i);
			d_cols += (i > 1 ? ", " : "") + DeltaCol(i);
		}
		rest_match = " AND ROW(" + s_cols + ") IS NOT DISTINCT FROM ROW(" + d_cols + ")";
	}
	std::string victims_nonnull = "SELECT v.ctid FROM d CROSS JOIN LATERAL (SELECT s.ctid FROM " +
	                              table + " s WHERE " + Col("s", plan, 0) + " = " + DeltaCol(0) +
	                              rest_match + " LIMIT (-d.__pgt_w)) v WHERE d.__pgt_w < 0 AND " +
	                              DeltaCol(0) + " IS NOT NULL";
	std::string victims_null = "SELECT v.ctid FROM d CROSS JOIN LATERAL (SELECT s.ctid FROM " +
	                           table + " s WHERE " + Col("s", plan, 0) + " IS NULL" + rest_match +
	                           " LIMIT (-d.__pgt_w)) v WHERE d.__pgt_w < 0 AND " + DeltaCol(0) +
	                           " IS NULL";
	std::string insert_cols;
	for (std::size_t i = 0; i < plan.column_names.size(); i++) {
		insert_cols += (i ? ", " : "") + DeltaCol(i);
	}
	return "WITH d AS MATERIALIZED (\n" + plan.delta_sql + "\n), del AS (DELETE FROM " + table +
	       " WHERE ctid = ANY (ARRAY(" + victims_nonnull + " UNION ALL " + victims_null +
	       ")) RETURNING 1), ins AS (INSERT INTO " + table + " (" + st.column_list + ") SELECT " +
	       insert_cols +
	       " FROM d, pg_catalog.generate_series(1, d.__pgt_w) WHERE d.__pgt_w > 0 RETURNING 1) "
	       "SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM ins)";
}

// Predicate selecting the affected groups, on columns of `alias`, from the key arrays.
std::string GroupPredicate(const std::string &alias, const DeltaPlan &plan,
                           const std::vector<Value> &arrays, const std::vector<bool> &has_null) {
	std::string where;
	for (std::size_t k = 0; k < plan.key_columns.size(); k++) {
		std::size_t c = static_cast<std::size_t>(plan.key_columns[k]);
		std::string col = alias + "." + QuoteIdent(plan.column_names[c]);
		std::string term;
		if (arrays[k]) {
			term =
			    col + " = ANY (" + QuoteLiteral(*arrays[k]) + "::" + plan.column_types[c] + "[])";
		}
		if (has_null[k]) {
			term += (term.empty() ? "" : " OR ") + col + " IS NULL";
		}
		if (term.empty()) {
			term = "false";
		}
		where += (k ? " AND (" : "(") + term + ")";
	}
	return where;
}

} // namespace

catalog::RefreshOutcome ApplyDelta(const catalog::StreamTable &st, const DeltaPlan &plan,
                                   const capture::Frontier &since, Snapshot snapshot) {
	catalog::RefreshOutcome outcome;
	outcome.action = "DIFFERENTIAL";
	SpiOptions options;
	options.snapshot = snapshot;
	std::vector<Value> params{since.snapshot, since.own_xid, since.own_cid};
	if (plan.shape == Shape::kRows) {
		auto r = SpiExec(RowsApplySql(st, plan), params, options);
		outcome.rows_deleted = std::stoll(r.Get(0, 0, "0"));
		outcome.rows_inserted = std::stoll(r.Get(0, 1, "0"));
		return outcome;
	}
	// Grouped: collect the affected keys, then delete and recompute exactly those groups.
	std::string aggs;
	for (std::size_t k = 0; k < plan.key_columns.size(); k++) {
		std::string c = "__pgt_c" + std::to_string(k + 1);
		aggs += (k ? ", " : "") + std::string("pg_catalog.array_agg(DISTINCT ") + c +
		        ") FILTER (WHERE " + c + " IS NOT NULL)::text, pg_catalog.bool_or(" + c +
		        " IS NULL)";
	}
	SpiOptions read;
	read.snapshot = snapshot;
	read.read_only = true;
	auto keys = SpiExec("SELECT count(*), " + aggs + " FROM (\n" + plan.delta_sql + "\n) AS k",
	                    params, read);
	if (keys.Get(0, 0, "0") == "0") {
		return outcome;
	}
	std::vector<Value> arrays;
	std::vector<bool> has_null;
	for (std::size_t k = 0; k < plan.key_columns.size(); k++) {
		arrays.push_back(keys.rows[0][1 + 2 * k]);
		has_null.push_back(keys.Get(0, 2 + 2 * k) == "t");
	}
	auto deleted = SpiExec("DELETE FROM " + st.Qualified() + " s WHERE " +
	                           GroupPredicate("s", plan, arrays, has_null),
	                       {}, options);
	auto inserted = SpiExec("INSERT INTO " + st.Qualified() + " (" + st.column_list +
	                            ") SELECT * FROM (\n" + st.defining_query + "\n) AS q WHERE " +
	                            GroupPredicate("q", plan, arrays, has_null),
	                        {}, options);
	outcome.rows_deleted = static_cast<std::int64_t>(deleted.processed);
	outcome.rows_inserted = static_cast<std::int64_t>(inserted.processed);
	return outcome;
}

std::string DescribeApply(const catalog::StreamTable &st, const DeltaPlan &plan) {
	if (plan.shape == Shape::kRows) {
		return RowsApplySql(st, plan);
	}
	return "-- affected groups:\n" + plan.delta_sql + "\n-- then DELETE FROM " + st.Qualified() +
	       " WHERE <group key in affected>; INSERT INTO " + st.Qualified() + " (" + st.column_list +
	       ") SELECT * FROM (<defining query>) q WHERE <group key in affected>";
}

} // namespace pgtrickle::delta
