// The registry of SQL constructs of the DIFFERENTIAL engine (see constructs.hpp).
#include "core/constructs.hpp"

#include <sstream>
#include <stdexcept>

namespace pgtrickle::core {

namespace {

constexpr bool kYes = true;
constexpr bool kNo = false;

const std::vector<Construct> kConstructs = {
    // ---- rows, joins, set operations
    {"Rows and joins", "Filters, projections, views, subqueries in `FROM`", kYes, "project(",
     "ivm/op_join.cpp", "delta rule over the changed rows",
     "SELECT s.id, s.v * 2 AS v2 FROM (SELECT id, v FROM cx_t WHERE v > 0) s"},
    {"Rows and joins", "Inner joins (any condition), cross joins", kYes, "join(", "ivm/op_join.cpp",
     "delta rule: each side's changes joined with the other side",
     "SELECT t.id, u.w FROM cx_t t JOIN cx_u u ON u.t_id = t.id"},
    {"Rows and joins", "Non-recursive CTEs (each reference)", kYes, "join(", "ivm/build.cpp",
     "inlined: each reference is an operator tree of its own",
     "WITH c AS (SELECT g, v FROM cx_t) SELECT a.v, b.v AS v2 FROM c a JOIN c b ON a.g = b.g"},
    {"Rows and joins", "`UNION ALL`", kYes, "union_all(", "ivm/op_union_all.cpp",
     "delta rule: the branches' changes", "SELECT id FROM cx_t UNION ALL SELECT t_id FROM cx_u"},
    {"Rows and joins", "`LEFT`/`RIGHT`/`FULL JOIN` of two `FROM` items on an equality", kYes,
     "left_join(", "ivm/op_outer_join.cpp",
     "recomputes the affected join keys (rows of either side with a changed key)",
     "SELECT t.id, u.w FROM cx_t t LEFT JOIN cx_u u ON u.t_id = t.id"},
    {"Rows and joins", "`EXISTS`/`NOT EXISTS` correlated by one equality, `x IN (subquery)`", kYes,
     "semi_join(", "ivm/op_semi_join.cpp", "recomputes the affected correlation keys",
     "SELECT id FROM cx_t t WHERE EXISTS (SELECT 1 FROM cx_u u WHERE u.t_id = t.id)"},
    {"Rows and joins",
     "Other outer joins (chains, mixed with inner joins, non-equality conditions)", kYes,
     "recompute(", "ivm/op_recompute.cpp",
     "recomputes the query level over the new and the old contents of its tables (about twice a "
     "FULL refresh of the level); the levels above stay incremental; AUTO refreshes it FULL",
     "SELECT t.id, u.w FROM cx_t t LEFT JOIN cx_u u ON u.t_id < t.id"},
    {"Rows and joins",
     "Other subqueries in expressions (`NOT IN`, scalar subqueries, sublinks under `OR`, in the "
     "select list or in `ON`)",
     kYes, "recompute(", "ivm/op_recompute.cpp", "as above: recompute of the level",
     "SELECT id FROM cx_t WHERE id NOT IN (SELECT t_id FROM cx_u WHERE t_id IS NOT NULL)"},
    {"Rows and joins",
     "Scalar aggregate subqueries without `GROUP BY`: uncorrelated, or correlated by equalities "
     "in a condition that is NULL when the subquery is (not `count`)",
     kYes, "join(", "ivm/rw_correlated_scalar.cpp",
     "rewritten as a join with the (grouped) aggregate level, maintained by the join and "
     "aggregate rules (`ivm/rw_scalar_subquery.cpp` for the uncorrelated ones)",
     "SELECT t.id FROM cx_t t WHERE t.v > (SELECT avg(u.w) FROM cx_u u WHERE u.t_id = t.id)"},
    {"Rows and joins",
     "`x NOT IN (subquery)` where `x` and the subquery's column are `NOT NULL` "
     "table columns",
     kYes, "anti_join(", "ivm/op_semi_join.cpp",
     "the anti-join (as `NOT EXISTS`): recomputes the affected correlation keys",
     "SELECT id FROM cx_t WHERE id NOT IN (SELECT id FROM cx_u)"},
    {"Rows and joins", "`UNION`, `INTERSECT [ALL]`, `EXCEPT [ALL]`", kYes, "except(",
     "ivm/op_set_op.cpp", "recomputes the affected rows (the counts of each changed row)",
     "SELECT g FROM cx_t EXCEPT SELECT w FROM cx_u"},
    // ---- aggregation
    {"Grouping", "`GROUP BY` with any aggregate, `HAVING`, `FILTER`, `DISTINCT` aggregates", kYes,
     "aggregate(", "ivm/op_aggregate.cpp",
     "recomputes the affected groups (re-aggregated from the sources, others untouched)",
     "SELECT g, count(*) AS n, sum(v) AS s, count(DISTINCT v) FILTER (WHERE v > 0) AS dv FROM "
     "cx_t GROUP BY g HAVING count(*) > 0"},
    {"Grouping",
     "`count`, `sum`/`avg` of integers and `numeric`, `min`/`max` of integers and date/time "
     "types, at the top level, grouped by selected keys whose `=` is binary identity (or without "
     "`GROUP BY`)",
     kYes, "aggregate(", "delta/apply_algebraic.cpp",
     "algebraic: each group's partial state (a side table) is updated from the changes; a group "
     "is re-aggregated only when a `min`/`max` extreme or a `numeric` display scale may be lost",
     "SELECT g, count(*) AS n, sum(v) AS s, avg(v) AS a, max(d) AS md FROM cx_t GROUP BY g"},
    {"Grouping", "Aggregates without `GROUP BY`", kYes, "aggregate(", "ivm/op_aggregate.cpp",
     "recomputes the single group", "SELECT count(*), max(v) FROM cx_t"},
    {"Grouping", "`DISTINCT`", kYes, "distinct(", "ivm/op_aggregate.cpp",
     "recomputes the affected rows", "SELECT DISTINCT g FROM cx_t"},
    {"Grouping", "`GROUPING SETS`, `ROLLUP`, `CUBE`, `GROUPING()`", kYes, "grouping_sets(",
     "ivm/op_grouping_sets.cpp",
     "one aggregate per grouping set, each recomputing its affected "
     "groups",
     "SELECT g, v, GROUPING(g, v) AS gr, count(*) FROM cx_t GROUP BY ROLLUP (g, v)"},
    {"Grouping", "`DISTINCT` over a `GROUP BY` whose keys are not all selected", kNo,
     "DISTINCT over a GROUP BY whose keys are not all selected", "ivm/op_aggregate.cpp",
     "its groups cannot be found from the stored rows",
     "SELECT DISTINCT count(*) FROM cx_t GROUP BY g"},
    {"Grouping", "`DISTINCT` over grouping sets", kNo, "DISTINCT over GROUPING SETS/ROLLUP/CUBE",
     "ivm/op_grouping_sets.cpp", "not implemented",
     "SELECT DISTINCT g FROM cx_t GROUP BY ROLLUP (g)"},
    // ---- order
    {"Order and limits", "Top-level `ORDER BY … LIMIT n`", kYes, "top_k(", "delta/delta_plan.cpp",
     "the query's new top n (one run of the query) against the stored rows",
     "SELECT id, v FROM cx_t ORDER BY v DESC, id LIMIT 3"},
    {"Order and limits", "`LIMIT`/`OFFSET` without `ORDER BY`, or below the top level", kNo,
     "LIMIT/OFFSET", "ivm/build.cpp", "which rows it keeps is up to the plan",
     "SELECT id FROM cx_t LIMIT 3"},
    {"Order and limits", "`DISTINCT ON`", kNo, "DISTINCT ON", "ivm/build.cpp",
     "not implemented (write it with `row_number()` and `WHERE rn = 1`, maintained)",
     "SELECT DISTINCT ON (g) g, id FROM cx_t ORDER BY g, id"},
    // ---- windows
    {"Window functions",
     "Window functions partitioned by a common `PARTITION BY` (ranking, offsets, aggregates over "
     "`ROWS`/`RANGE`/`GROUPS` frames with `EXCLUDE`, named windows)",
     kYes, "window(", "ivm/op_window.cpp", "recomputes the partitions a change touches",
     "SELECT id, g, sum(v) OVER (PARTITION BY g ORDER BY v RANGE BETWEEN 1 PRECEDING AND CURRENT "
     "ROW) AS s FROM cx_t"},
    {"Window functions", "Window functions without a common `PARTITION BY`", kYes,
     "window[one partition", "ivm/op_window.cpp",
     "the whole level is one partition: any change recomputes it",
     "SELECT id, rank() OVER (ORDER BY v) AS r FROM cx_t"},
    {"Window functions",
     "Window functions whose result depends on the order of tied rows (`row_number`, `ROWS` "
     "frames, …), at the top or under a plain filter (`WHERE rn <= 3`)",
     kYes, "window", "ivm/op_window.cpp",
     "deletes and reinserts the affected partitions in the stream table (needs the `PARTITION BY` "
     "columns selected)",
     "SELECT * FROM (SELECT id, g, row_number() OVER (PARTITION BY g ORDER BY v) AS rn FROM cx_t) "
     "s WHERE rn <= 2"},
    {"Window functions",
     "Such tie-dependent window functions elsewhere (below a join or an aggregate, without the "
     "partition columns selected, in an expression or `LATERAL`), unless their `PARTITION BY` and "
     "`ORDER BY` cover every column the level reads",
     kNo, "window functions whose result depends on the order of rows that tie",
     "ivm/op_window.cpp", "a re-evaluation could number tied rows differently from the stored ones",
     "SELECT s.id, s.rn, u.w FROM (SELECT id, g, row_number() OVER (PARTITION BY g ORDER BY v) "
     "AS rn FROM cx_t) s JOIN cx_u u ON u.t_id = s.id"},
    {"Window functions", "`DISTINCT` together with window functions in one level", kNo,
     "DISTINCT together with window functions", "ivm/op_window.cpp", "not implemented",
     "SELECT DISTINCT g, count(*) OVER (PARTITION BY g) FROM cx_t"},
    {"Window functions", "Subqueries in the select list of a level with window functions", kNo,
     "subqueries in the select list of a query level with window functions", "ivm/op_window.cpp",
     "not implemented",
     // (An uncorrelated scalar aggregate is joined first, src/ivm/rw_scalar_subquery.cpp.)
     "SELECT id, (SELECT max(w) FROM cx_u WHERE cx_u.t_id = cx_t.id) AS m, "
     "sum(v) OVER (PARTITION BY g) FROM cx_t"},
    // ---- lateral
    {"LATERAL",
     "Set-returning functions in `FROM` (`unnest`, `generate_series`, `jsonb_array_elements`, "
     "`jsonb_each`, `regexp_matches`, `WITH ORDINALITY`), `VALUES`",
     kYes, "lateral(", "ivm/op_lateral.cpp", "delta rule over the changed outer rows",
     "SELECT j.id, x.n, x.i FROM cx_j j, unnest(j.arr) WITH ORDINALITY AS x(n, i)"},
    {"LATERAL", "`LATERAL` subqueries, inner or `LEFT`, top-K per group", kYes, "lateral(",
     "ivm/op_lateral.cpp",
     "re-evaluates the outer rows whose correlation key has changed rows (all outer rows without "
     "such a key)",
     "SELECT t.id, l.w FROM cx_t t, LATERAL (SELECT u.w FROM cx_u u WHERE u.t_id = t.id ORDER BY "
     "u.w LIMIT 2) l"},
    {"LATERAL", "`LIMIT` in a `LATERAL` subquery whose `ORDER BY` does not cover its columns", kNo,
     "LIMIT/OFFSET in a LATERAL subquery whose ORDER BY does not cover", "ivm/op_lateral.cpp",
     "tied rows would make the result depend on the evaluation",
     "SELECT t.id, l.w FROM cx_t t, LATERAL (SELECT u.w, u.id FROM cx_u u WHERE u.t_id = t.id "
     "ORDER BY u.w LIMIT 1) l"},
    {"LATERAL", "Set-returning functions in the select list", kNo,
     "set-returning functions in the select list", "ivm/build.cpp",
     "not implemented (move them to `FROM`, maintained)", "SELECT id, unnest(arr) FROM cx_j"},
    {"LATERAL", "Table functions (`XMLTABLE`, `JSON_TABLE`)", kNo,
     "FROM items other than tables, views, subqueries, joins, functions and VALUES",
     "ivm/build.cpp", "not implemented",
     "SELECT j.id, x.a FROM cx_j j, XMLTABLE('/r' PASSING ('<r><a>1</a></r>'::xml) COLUMNS a int) "
     "x"},
    // ---- recursion
    {"WITH RECURSIVE",
     "`WITH RECURSIVE` (`UNION`, `UNION ALL`, `SEARCH`, `CYCLE`): hierarchies, reachability", kYes,
     "recursive(", "ivm/op_recursive.cpp",
     "recomputes the recursion over the new and the old contents of its tables when one changed "
     "(about twice its evaluation); the levels above see only its changed rows; AUTO "
     "refreshes it FULL",
     "WITH RECURSIVE r(n) AS (SELECT src FROM cx_e WHERE src = 1 UNION SELECT e.dst FROM cx_e e "
     "JOIN r ON e.src = r.n) SELECT n FROM r"},
    {"WITH RECURSIVE", "A recursion without a source table", kNo, "a query without source tables",
     "ivm/build.cpp", "nothing to capture",
     "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r"},
    // ---- everything else
    {"Other", "Functions and operators that are not `IMMUTABLE` (`now()`, `random()`, …)", kNo,
     "only IMMUTABLE functions give the same result for the same rows", "ivm/build.cpp",
     "the result can change while no source changes", "SELECT id FROM cx_t WHERE d < now()::date"},
    {"Other", "System columns (`xmin`, `ctid`, …)", kNo, "system columns", "ivm/build.cpp",
     "they describe a stored tuple, not a row value", "SELECT id FROM cx_t WHERE ctid > '(0,1)'"},
    {"Other", "Whole-row references (`SELECT t FROM t`, `count(t.*)`)", kNo,
     "whole-row references to a table or view", "ivm/build.cpp",
     "they would see the engine's internal columns", "SELECT t FROM cx_t t"},
    {"Other", "A query without source tables", kNo, "a query without source tables",
     "ivm/build.cpp", "nothing to capture", "SELECT 1 AS one"},
    {"Other", "`TABLESAMPLE`", kNo, "TABLESAMPLE", "ivm/op_scan.cpp",
     "the sample depends on where rows are stored, not on their values",
     "SELECT id FROM cx_t TABLESAMPLE BERNOULLI (50) REPEATABLE (1)"},
    {"Other", "Tables with inheritance children", kNo, "tables with inheritance children",
     "ivm/op_scan.cpp", "the children's changes are not captured", "SELECT id FROM cx_inh"},
    {"Other", "Materialized views and foreign tables as sources", kNo,
     "materialized views as sources", "ivm/op_scan.cpp", "their changes cannot be captured",
     "SELECT id FROM cx_mv"},
};

std::string Cell(const std::string &text) {
	std::string out;
	for (char c : text) {
		if (c == '|')
			out += "\\|";
		else
			out += c;
	}
	return out;
}

} // namespace

const std::vector<Construct> &SupportedConstructs() {
	return kConstructs;
}

std::string RenderSupportTable() {
	std::ostringstream out;
	out << "| Construct | DIFFERENTIAL | Operator or refusal | Source | How, or why refused |\n";
	out << "|---|---|---|---|---|\n";
	std::string category;
	for (const Construct &c : kConstructs) {
		if (category != c.category) {
			category = c.category;
			out << "| **" << Cell(category) << "** | | | | |\n";
		}
		out << "| " << Cell(c.construct) << " | " << (c.differential ? "yes" : "refused") << " | ";
		std::string op = c.op_or_refusal;
		if (c.differential) {
			while (!op.empty() && (op.back() == '(' || op.back() == '['))
				op.pop_back();
			out << "`" << Cell(op) << "`";
		} else {
			out << "\"" << Cell(op) << "…\"";
		}
		out << " | `src/" << c.file << "` | " << Cell(c.how) << " |\n";
	}
	return out.str();
}

std::string ExtractSupportTable(const std::string &document) {
	std::istringstream in(document);
	std::string line;
	std::string out;
	int state = 0; // 0 before, 1 inside, 2 after
	while (std::getline(in, line)) {
		if (state == 0 && line == kSupportTableBegin) {
			state = 1;
		} else if (state == 1 && line == kSupportTableEnd) {
			state = 2;
		} else if (state == 1) {
			out += line + "\n";
		}
	}
	if (state != 2)
		throw std::runtime_error("the document has no complete supported-constructs markers");
	return out;
}

} // namespace pgtrickle::core
