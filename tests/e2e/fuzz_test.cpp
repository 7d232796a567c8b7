// Query-shape fuzzer: legal SELECTs generated from a small grammar over a fixed schema of varied
// types, each created as a FULL, a DIFFERENTIAL and an AUTO stream table, refreshed after random
// DML, and checked for the promise "every legal query either works or is refused clearly":
//
//   - no statement of pg_trickle ever fails with an internal error (XX000) or a missing-object
//     error (42704 type, 42P01 relation, 42883 function: a name resolved in the wrong scope);
//   - FULL and AUTO accept every legal query; DIFFERENTIAL accepts it or refuses it with 0A000
//     and a message naming the construct (which constructs are accepted is decided at run time,
//     so the fuzzer does not depend on what the DIFFERENTIAL engine supports today);
//   - every refresh succeeds, and every accepted stream table equals its query BY IDENTITY after
//     each refresh (identity.hpp: numeric scale, float digits and -0, the bytes of text under a
//     case-insensitive collation, jsonb number scales, NULLs). Queries whose result is not
//     determined (LIMIT without a total order, row_number() over ties) are only refreshed: their
//     equality is skipped, and the summary says how many.
//
// The schema (schema fz, off the search path, so every type and the collation are named
// qualified): integers, numeric of varying scale, float8 (-0, NaN, ±Infinity, 17 digits), text
// under a nondeterministic ICU collation (fz.ci) and under "C", an enum, domains (over int with a
// CHECK, over numeric(10,2)), a composite, int[], jsonb, timestamptz, NULLs everywhere; two views
// (a join, an aggregate) and, in every batch, a stream table the queries may read. The grammar:
// inner and outer joins (ON, USING, IS NOT DISTINCT FROM), set-returning functions, VALUES and
// LATERAL subqueries in FROM, filters (IN lists, ANY), GROUP BY (columns, ordinals, expressions,
// ROLLUP/CUBE/GROUPING SETS) with aggregates (FILTER, DISTINCT) and HAVING, global aggregates,
// DISTINCT, UNION [ALL]/INTERSECT [ALL]/EXCEPT [ALL], subqueries in FROM and WHERE (EXISTS, IN,
// scalar aggregates correlated by one or two columns or not, wrapped in coalesce or not) and in
// the select list, CTEs (also recursive), ORDER BY/LIMIT/OFFSET, window functions,
// SELECT t.*, STABLE expressions (timestamptz arithmetic, enum::text) and now().
//
// Identity and ambiguity: a query that merges equal values (GROUP BY, DISTINCT, set operations,
// min/max) returns one of them, so "equal by identity" is decidable only if equal values are
// identical. As in the oracle, the workload keeps ONE variant of each equality class per type at a
// time (shared by every column of the type) and changes identity for a whole class at once
// (UPDATE ... SET n = 1.00 WHERE n = 1 in every numeric column); merged positions only ever hold
// plain columns, and expressions that could map two classes to equal values with different
// identities (n + 1) appear only where nothing is merged.
//
// Seeded: PGT_FUZZ_SEED (default 1 for the short run, the clock for the long one) picks the seed;
// batch i uses seed + i, printed with every failure (rerun one batch with PGT_FUZZ_SEED=<that
// seed> PGT_FUZZ_BATCHES=1). Short run (scripts/test.sh): PGT_FUZZ_BATCHES (default 8) batches of
// PGT_FUZZ_QUERIES (default 8) queries and PGT_FUZZ_CYCLES (default 3) DML cycles. Long run:
// PGT_FUZZ_LONG=1 runs batches for PGT_FUZZ_MINUTES (default 15) minutes.
#include "cluster.hpp"
#include "identity.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgt::e2e {
namespace {

using namespace std::chrono_literals;

long EnvLong(const char *name, long fallback) {
	const char *v = std::getenv(name);
	return v != nullptr && *v != '\0' ? std::strtol(v, nullptr, 10) : fallback;
}

bool LongRun() {
	const char *l = std::getenv("PGT_FUZZ_LONG");
	return l != nullptr && std::string(l) == "1";
}

// ------------------------------------------------------------------------------------------------
// Types and values.

enum class T {
	kInt,
	kNum,
	kFloat,
	kTextCi,
	kTextC,
	kMood,
	kPos,
	kArr,
	kJson,
	kTs,
	kMoney,
	kBool,
	kPair
};

// Types whose equal values can differ in identity: one variant per class at a time.
struct Classes {
	std::string type; // SQL type of the literals
	std::vector<std::vector<std::string>> classes;
};

const Classes &ClassesOf(T t) {
	static const Classes num{"numeric",
	                         {{"1", "1.0", "1.00"},
	                          {"2.5", "2.50"},
	                          {"0", "0.000"},
	                          {"-7.125", "-7.1250"},
	                          {"12345678901234567890.5", "12345678901234567890.50"},
	                          {"0.1", "0.10"}}};
	static const Classes flt{"float8",
	                         {{"0", "-0"},
	                          {"0.30000000000000004"},
	                          {"1.0000000000000002"},
	                          {"NaN"},
	                          {"Infinity"},
	                          {"-Infinity"},
	                          {"5e-324"},
	                          {"123456789.12345679"}}};
	static const Classes ci{
	    "text", {{"a", "A"}, {"ab", "AB", "Ab"}, {""}, {"strasse", "STRASSE"}, {"émile", "ÉMILE"}}};
	static const Classes json{"jsonb",
	                          {{"{\"a\": 1}", "{\"a\": 1.0}"},
	                           {"[1, 2]", "[1.0, 2.00]"},
	                           {"null"},
	                           {"{\"a\": 2, \"b\": [true]}", "{\"a\": 2.00, \"b\": [true]}"}}};
	switch (t) {
	case T::kNum:
		return num;
	case T::kFloat:
		return flt;
	case T::kTextCi:
		return ci;
	default:
		return json;
	}
}

std::string Quote(const std::string &s) {
	std::string out = "'";
	for (char c : s) {
		out += c;
		if (c == '\'') {
			out += '\'';
		}
	}
	return out + "'";
}

// Types with a btree order (for ORDER BY and window ORDER BY).
bool Orderable(T t) {
	return t != T::kJson;
}

// Types with min() and max().
bool HasMinMax(T t) {
	return t != T::kJson && t != T::kArr && t != T::kBool && t != T::kPair;
}

struct Column {
	std::string name;
	T type;
};

struct TableDef {
	std::string name;
	std::vector<Column> columns;
};

const std::vector<TableDef> &Tables() {
	static const std::vector<TableDef> tables{
	    {"fa",
	     {{"id", T::kInt},
	      {"k", T::kInt},
	      {"n", T::kNum},
	      {"f", T::kFloat},
	      {"s", T::kTextCi},
	      {"c", T::kTextC},
	      {"m", T::kMood},
	      {"d", T::kPos},
	      {"arr", T::kArr},
	      {"j", T::kJson},
	      {"ts", T::kTs},
	      {"mn", T::kMoney}}},
	    {"fb",
	     {{"id", T::kInt},
	      {"k", T::kInt},
	      {"n", T::kNum},
	      {"f", T::kFloat},
	      {"s", T::kTextCi},
	      {"c", T::kTextC},
	      {"m", T::kMood},
	      {"ts", T::kTs}}},
	    {"fc",
	     {{"k", T::kInt}, {"c", T::kTextC}, {"s", T::kTextCi}, {"j", T::kJson}, {"m", T::kMood}}},
	};
	return tables;
}

const char *kSchema =
    "DROP SCHEMA IF EXISTS fz CASCADE; CREATE SCHEMA fz;"
    "CREATE COLLATION fz.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);"
    "CREATE TYPE fz.mood AS ENUM ('sad', 'ok', 'happy');"
    "CREATE DOMAIN fz.pos AS int CHECK (VALUE >= 0);"
    "CREATE DOMAIN fz.money2 AS numeric(10, 2);"
    "CREATE TYPE fz.pair AS (a int, b text COLLATE \"C\");"
    "CREATE TABLE fz.fa (id int, k int, n numeric, f float8, s text COLLATE fz.ci, "
    "c text COLLATE \"C\", m fz.mood, d fz.pos, arr int[], j jsonb, ts timestamptz, "
    "mn fz.money2);"
    "CREATE TABLE fz.fb (id int, k int, n numeric, f float8, s text COLLATE fz.ci, "
    "c text COLLATE \"C\", m fz.mood, ts timestamptz);"
    "CREATE TABLE fz.fc (k int, c text COLLATE \"C\", s text COLLATE fz.ci, j jsonb, m fz.mood);"
    "CREATE VIEW fz.fv AS SELECT a.id, a.k, a.n, b.s, b.m FROM fz.fa a JOIN fz.fb b ON a.k = b.k;"
    "CREATE VIEW fz.fg AS SELECT k, count(*) AS cnt, sum(n) AS sn FROM fz.fa GROUP BY k;";

// Views over the tables (FROM items only; DML goes to the tables).
const std::vector<TableDef> &Views() {
	static const std::vector<TableDef> views{
	    {"fv",
	     {{"id", T::kInt}, {"k", T::kInt}, {"n", T::kNum}, {"s", T::kTextCi}, {"m", T::kMood}}},
	    {"fg", {{"k", T::kInt}, {"cnt", T::kInt}, {"sn", T::kNum}}},
	};
	return views;
}

// The stream table every batch creates first, which the queries may read (a stream table over a
// stream table); refreshed first in every cycle.
const char *kBaseQuery = "SELECT id, k, n, s, m FROM fz.fa WHERE k IS NOT NULL";
const std::vector<Column> &BaseColumns() {
	static const std::vector<Column> columns{
	    {"id", T::kInt}, {"k", T::kInt}, {"n", T::kNum}, {"s", T::kTextCi}, {"m", T::kMood}};
	return columns;
}

int Rand(std::mt19937 &rng, int lo, int hi) {
	return std::uniform_int_distribution<int>(lo, hi)(rng);
}

bool Chance(std::mt19937 &rng, int percent) {
	return Rand(rng, 1, 100) <= percent;
}

// A random element; the generator never asks for one of an empty list (a mistake in it is
// reported with the caller's line).
template <typename V>
const V &Pick(std::mt19937 &rng, const std::vector<V> &v, int line = __builtin_LINE()) {
	if (v.empty()) {
		throw std::logic_error("fuzz_test.cpp:" + std::to_string(line) + ": empty choice");
	}
	return v[static_cast<std::size_t>(Rand(rng, 0, static_cast<int>(v.size()) - 1))];
}

// Values for DML: the current variant of each class (shared by every column of the type).
class Values {
  public:
	explicit Values(std::mt19937 &rng) : rng_(rng) {
		for (T t : {T::kNum, T::kFloat, T::kTextCi, T::kJson}) {
			auto &v = variant_[t];
			for (const auto &cls : ClassesOf(t).classes) {
				v.push_back(Rand(rng_, 0, static_cast<int>(cls.size()) - 1));
			}
		}
	}

	std::string Of(T t, int null_percent = 12) {
		if (Chance(rng_, null_percent)) {
			return "NULL";
		}
		switch (t) {
		case T::kInt:
			return std::to_string(Rand(rng_, 0, 5));
		case T::kPos:
			return std::to_string(Rand(rng_, 0, 9));
		case T::kTextC:
			return Quote(Pick(rng_, std::vector<std::string>{"x", "y", "X", "xy", "", "z z"}));
		case T::kMood:
			return Quote(Pick(rng_, std::vector<std::string>{"sad", "ok", "happy"})) + "::fz.mood";
		case T::kArr:
			return Pick(rng_, std::vector<std::string>{"'{1,2}'::int[]", "'{}'::int[]",
			                                           "'{3,NULL}'::int[]", "'{1}'::int[]"});
		case T::kTs:
			return Quote(Pick(rng_, std::vector<std::string>{"2024-01-01 00:00:00+00",
			                                                 "2024-01-01 23:30:00+00",
			                                                 "2025-06-15 12:00:00.5+02"})) +
			       "::timestamptz";
		case T::kMoney:
			return Pick(rng_, std::vector<std::string>{"1.5", "2", "0.25", "-3.10"});
		default: {
			const Classes &c = ClassesOf(t);
			int cls = Rand(rng_, 0, static_cast<int>(c.classes.size()) - 1);
			return Quote(c.classes[cls][variant_[t][cls]]) + "::" + c.type;
		}
		}
	}

	// An identity-only change: every value of one class of type `t`, in every column of that type,
	// becomes another variant of the class.
	std::vector<std::string> Flip(T t) {
		const Classes &c = ClassesOf(t);
		std::vector<int> multi;
		for (int i = 0; i < static_cast<int>(c.classes.size()); i++) {
			if (c.classes[i].size() > 1) {
				multi.push_back(i);
			}
		}
		int cls = Pick(rng_, multi);
		int &v = variant_[t][cls];
		v = (v + Rand(rng_, 1, static_cast<int>(c.classes[cls].size()) - 1)) %
		    static_cast<int>(c.classes[cls].size());
		std::vector<std::string> out;
		for (const auto &table : Tables()) {
			for (const auto &col : table.columns) {
				if (col.type == t) {
					out.push_back("UPDATE fz." + table.name + " SET " + col.name + " = " +
					              Quote(c.classes[cls][v]) + "::" + c.type + " WHERE " + col.name +
					              " = " + Quote(c.classes[cls][0]) + "::" + c.type);
				}
			}
		}
		return out;
	}

  private:
	std::mt19937 &rng_;
	std::map<T, std::vector<int>> variant_;
};

// ------------------------------------------------------------------------------------------------
// The query generator.

// A column visible in a scope: its SQL reference and type.
struct Ref {
	std::string sql;
	T type;
};

struct Generated {
	std::string sql;
	std::vector<T> types; // of the output columns c0..cn
	bool deterministic = true;
	std::string why_not; // when not deterministic
	bool named = false;  // output columns keep their own names (SELECT t.*): no c0..cn
};

class Gen {
  public:
	explicit Gen(std::mt19937 &rng) : rng_(rng) {
	}

	// The stream table queries may read (none when empty).
	void SetBase(const std::string &name) {
		base_ = name;
	}

	// A whole query: optional CTEs, a body (a select or a set operation), optional ORDER BY/LIMIT.
	Generated Query() {
		alias_ = 0;
		std::string with;
		bool recursive = false;
		if (Chance(rng_, 15)) {
			int n = Rand(rng_, 1, 2);
			for (int i = 0; i < n; i++) {
				std::string name = "w" + std::to_string(i);
				if (Chance(rng_, 20)) {
					recursive = true;
					with += std::string(with.empty() ? "" : ", ") + name +
					        "(c0) AS (SELECT 1 UNION ALL SELECT c0 + 1 FROM " + name +
					        " WHERE c0 < " + std::to_string(Rand(rng_, 1, 4)) + ")";
					cte_defs_.push_back({name, {T::kInt}});
					continue;
				}
				Generated sub = Select(1, {});
				with += std::string(with.empty() ? "" : ", ") + name + " AS (" + sub.sql + ")";
				Inherit(sub);
				cte_defs_.push_back({name, sub.types});
			}
			with = (recursive ? "WITH RECURSIVE " : "WITH ") + with;
		}
		Generated body;
		if (Chance(rng_, 14)) {
			body = SetOperation(0);
		} else {
			body = Select(0, {});
		}
		cte_defs_.clear();
		Inherit(body);
		std::string sql = (with.empty() ? "" : with + " ") + body.sql;
		if (!body.named && Chance(rng_, 12)) {
			// ORDER BY every output column (a total order by identity: equal values are
			// identical) and LIMIT: deterministic; by the first column only: not.
			bool total = Chance(rng_, 60);
			std::string order;
			int n = total ? static_cast<int>(body.types.size()) : 1;
			for (int i = 0; i < n; i++) {
				if (!Orderable(body.types[i])) {
					total = false;
					break;
				}
				order += (order.empty() ? "" : ", ") + std::string("c") + std::to_string(i) +
				         (Chance(rng_, 30) ? " DESC" : "") +
				         (Chance(rng_, 30) ? " NULLS FIRST" : "");
			}
			if (!order.empty()) {
				bool limit = Chance(rng_, 70);
				bool offset = Chance(rng_, 20);
				sql += " ORDER BY " + order;
				if (limit) {
					sql += " LIMIT " + std::to_string(Rand(rng_, 1, 6));
				}
				if (offset) {
					sql += " OFFSET 1";
				}
				if ((limit || offset) && !total) {
					NotDeterministic("LIMIT/OFFSET without a total order");
				}
			}
		}
		Generated out{sql, body.types, deterministic_, why_not_, body.named};
		deterministic_ = true;
		why_not_.clear();
		return out;
	}

  private:
	struct CteDef {
		std::string name;
		std::vector<T> types;
	};

	struct Scope {
		std::vector<Ref> refs;
		std::string from;
	};

	void NotDeterministic(const std::string &why) {
		if (deterministic_) {
			why_not_ = why;
		}
		deterministic_ = false;
	}

	void Inherit(const Generated &g) {
		if (!g.deterministic) {
			NotDeterministic(g.why_not);
		}
	}

	std::string NewAlias(const std::string &prefix) {
		return prefix + std::to_string(++alias_);
	}

	// One FROM item: a table, a CTE or (depth < 2) a derived table.
	Scope FromItem(int depth) {
		Scope s;
		int pick = Rand(rng_, 1, 100);
		if (!cte_defs_.empty() && pick <= 25) {
			const CteDef &cte = Pick(rng_, cte_defs_);
			std::string alias = NewAlias("w");
			s.from = cte.name + " " + alias;
			for (std::size_t i = 0; i < cte.types.size(); i++) {
				s.refs.push_back({alias + ".c" + std::to_string(i), cte.types[i]});
			}
		} else if (depth < 2 && pick > 82) {
			Generated sub = Chance(rng_, 25) ? SetOperation(depth + 1) : Select(depth + 1, {});
			Inherit(sub);
			std::string alias = NewAlias("d");
			s.from = "(" + sub.sql + ") " + alias;
			for (std::size_t i = 0; i < sub.types.size(); i++) {
				s.refs.push_back({alias + ".c" + std::to_string(i), sub.types[i]});
			}
		} else {
			// A table, a view, or the batch's base stream table.
			int which = Rand(rng_, 1, 100);
			std::string alias = NewAlias("t");
			const std::vector<Column> *columns = nullptr;
			if (!base_.empty() && which <= 8) {
				s.from = "public." + base_ + " " + alias;
				columns = &BaseColumns();
			} else if (which <= 20) {
				const TableDef &t = Pick(rng_, Views());
				s.from = "fz." + t.name + " " + alias;
				columns = &t.columns;
			} else {
				const TableDef &t = Pick(rng_, Tables());
				s.from = "fz." + t.name + " " + alias;
				columns = &t.columns;
			}
			for (const auto &c : *columns) {
				s.refs.push_back({alias + "." + c.name, c.type});
			}
		}
		return s;
	}

	// Equality-joinable pairs (same type; hashable and mergeable, as FULL JOIN requires).
	std::vector<std::pair<Ref, Ref>> JoinPairs(const Scope &l, const Scope &r) {
		std::vector<std::pair<Ref, Ref>> pairs;
		for (const auto &a : l.refs) {
			for (const auto &b : r.refs) {
				if (a.type == b.type && a.type != T::kJson && a.type != T::kArr) {
					pairs.push_back({a, b});
				}
			}
		}
		return pairs;
	}

	// FROM items other than relations, joined to scope s: a set-returning function, VALUES, a
	// LATERAL subquery correlated with s.
	void JoinOther(Scope &s) {
		auto ints = OfType(s, T::kInt);
		std::string outer = ints.empty() ? "1" : Pick(rng_, ints).sql;
		int kind = Rand(rng_, 1, 3);
		if (kind == 1) {
			std::string alias = NewAlias("g");
			s.from += Chance(rng_, 50) ? " CROSS JOIN generate_series(1, 2) AS " + alias + "(c0)"
			                           : " JOIN generate_series(0, 3) AS " + alias + "(c0) ON " +
			                                 alias + ".c0 = " + outer;
			s.refs.push_back({alias + ".c0", T::kInt});
		} else if (kind == 2) {
			std::string alias = NewAlias("v");
			s.from += " " + std::string(Chance(rng_, 50) ? "JOIN" : "LEFT JOIN") +
			          " (VALUES (1, 'x'::text COLLATE \"C\"), (2, 'y'), (NULL, 'z')) AS " + alias +
			          "(c0, c1) ON " + alias + ".c0 = " + outer;
			s.refs.push_back({alias + ".c0", T::kInt});
			s.refs.push_back({alias + ".c1", T::kTextC});
		} else {
			std::string alias = NewAlias("l");
			std::string x = NewAlias("x");
			const TableDef &t = Pick(rng_, Tables());
			bool left = Chance(rng_, 50);
			s.from += std::string(left ? " LEFT JOIN" : " CROSS JOIN") +
			          " LATERAL (SELECT count(*) AS c0, max(" + x + ".k) AS c1 FROM fz." + t.name +
			          " " + x + " WHERE " + x + ".k = " + outer + ") " + alias +
			          (left ? " ON true" : "");
			s.refs.push_back({alias + ".c0", T::kInt});
			s.refs.push_back({alias + ".c1", T::kInt});
		}
	}

	Scope From(int depth) {
		Scope s = FromItem(depth);
		if (Chance(rng_, 8)) {
			JoinOther(s);
		}
		int joins = Chance(rng_, 45) ? (Chance(rng_, 25) ? 2 : 1) : 0;
		for (int i = 0; i < joins; i++) {
			bool single = i == 0 && s.from.find(' ') == s.from.rfind(' ');
			Scope r = FromItem(depth);
			auto pairs = JoinPairs(s, r);
			int kind = Rand(rng_, 1, 100);
			if (pairs.empty() || kind <= 5) {
				s.from += " CROSS JOIN " + r.from;
			} else {
				auto pair = Pick(rng_, pairs);
				std::string type = kind <= 55   ? "JOIN"
				                   : kind <= 80 ? "LEFT JOIN"
				                   : kind <= 90 ? "RIGHT JOIN"
				                                : "FULL JOIN";
				std::string lname = pair.first.sql.substr(pair.first.sql.find('.') + 1);
				std::string rname = pair.second.sql.substr(pair.second.sql.find('.') + 1);
				if (single && lname == rname && Chance(rng_, 20)) {
					// USING: the left side is one item, so the name is unique there.
					s.from += " " + type + " " + r.from + " USING (" + lname + ")";
				} else {
					std::string on = pair.first.sql + " = " + pair.second.sql;
					if (type != "FULL JOIN" && Chance(rng_, 12)) {
						on = pair.first.sql + " IS NOT DISTINCT FROM " + pair.second.sql;
					}
					if (type != "FULL JOIN" && Chance(rng_, 25)) {
						on += " AND " + Predicate(r, depth, false);
					} else if (Chance(rng_, 20)) {
						auto pair2 = Pick(rng_, pairs);
						on += " AND " + pair2.first.sql + " = " + pair2.second.sql;
					}
					s.from += " " + type + " " + r.from + " ON " + on;
				}
			}
			s.refs.insert(s.refs.end(), r.refs.begin(), r.refs.end());
		}
		return s;
	}

	std::vector<Ref> OfType(const Scope &s, T t) {
		std::vector<Ref> out;
		for (const auto &r : s.refs) {
			if (r.type == t) {
				out.push_back(r);
			}
		}
		return out;
	}

	// A literal of type t for comparisons (not a value of the workload: never an output).
	std::string Literal(T t) {
		switch (t) {
		case T::kInt:
		case T::kPos:
			return std::to_string(Rand(rng_, 0, 4));
		case T::kNum:
			return Pick(rng_, std::vector<std::string>{"1", "0.1", "2.5", "0"});
		case T::kFloat:
			return Pick(rng_, std::vector<std::string>{"0.5", "0", "1e300", "'NaN'::float8"});
		case T::kTextCi:
			return Pick(rng_, std::vector<std::string>{"'a'", "'AB'", "'strasse'", "''"});
		case T::kTextC:
			return Pick(rng_, std::vector<std::string>{"'x'", "'X'", "'y'"});
		case T::kMood:
			return Pick(rng_, std::vector<std::string>{"'sad'::fz.mood", "'ok'::fz.mood"});
		case T::kTs:
			return "'2024-01-01 12:00:00+00'::timestamptz";
		case T::kMoney:
			return Pick(rng_, std::vector<std::string>{"1.50", "0"});
		case T::kArr:
			return "ARRAY[1]";
		case T::kJson:
			return "'{\"a\": 1}'::jsonb";
		case T::kBool:
			return "true";
		case T::kPair:
			return "ROW(1, 'p')::fz.pair";
		}
		return "NULL";
	}

	// A boolean condition over scope s (may contain subqueries when depth < 2).
	std::string Predicate(const Scope &s, int depth, bool allow_subquery = true) {
		const Ref &r = Pick(rng_, s.refs);
		int kind = Rand(rng_, 1, allow_subquery && depth < 2 ? 85 : 70);
		if (kind <= 12) {
			return r.sql + (Chance(rng_, 50) ? " IS NULL" : " IS NOT NULL");
		}
		if (kind <= 55) {
			switch (r.type) {
			case T::kJson:
				return Pick(rng_,
				            std::vector<std::string>{r.sql + " ? 'a'", r.sql + " @> '{\"a\": 1}'",
				                                     "jsonb_typeof(" + r.sql + ") = 'object'"});
			case T::kArr:
				return Pick(rng_, std::vector<std::string>{r.sql + " @> ARRAY[1]",
				                                           "cardinality(" + r.sql + ") > 0",
				                                           r.sql + "[1] IS NOT NULL"});
			case T::kTextC:
				return Chance(rng_, 40) ? r.sql + " LIKE 'x%'" : r.sql + " >= " + Literal(r.type);
			case T::kTs:
				// Time-dependent (now() is STABLE): DIFFERENTIAL must refuse it.
				return Chance(rng_, 30) ? r.sql + " < now()" : r.sql + " > " + Literal(r.type);
			default: {
				std::string op = Pick(rng_, std::vector<std::string>{"=", "<>", "<", ">=", ">"});
				if (Chance(rng_, 15)) {
					return r.sql + " IN (" + Literal(r.type) + ", " + Literal(r.type) + ")";
				}
				if (Chance(rng_, 8)) {
					return r.sql + " = ANY (ARRAY[" + Literal(r.type) + ", " + Literal(r.type) +
					       "])";
				}
				return r.sql + " " + op + " " + Literal(r.type);
			}
			}
		}
		if (kind <= 62) {
			return "(" + Predicate(s, depth, false) + (Chance(rng_, 50) ? " OR " : " AND ") +
			       Predicate(s, depth, false) + ")";
		}
		if (kind <= 70) {
			return "NOT (" + Predicate(s, depth, false) + ")";
		}
		// Subqueries: EXISTS / NOT EXISTS (correlated), IN / NOT IN, a scalar comparison.
		const TableDef &t = Pick(rng_, Tables());
		std::string alias = NewAlias("x");
		std::vector<Ref> inner;
		for (const auto &c : t.columns) {
			inner.push_back({alias + "." + c.name, c.type});
		}
		std::vector<std::pair<Ref, Ref>> pairs;
		for (const auto &a : s.refs) {
			for (const auto &b : inner) {
				if (a.type == b.type && a.type != T::kJson && a.type != T::kArr) {
					pairs.push_back({a, b});
				}
			}
		}
		if (pairs.empty()) {
			return r.sql + " IS NOT NULL";
		}
		auto pair = Pick(rng_, pairs);
		std::string from = " FROM fz." + t.name + " " + alias;
		if (kind <= 77) {
			return std::string(Chance(rng_, 30) ? "NOT " : "") + "EXISTS (SELECT 1" + from +
			       " WHERE " + pair.second.sql + " = " + pair.first.sql +
			       (Chance(rng_, 30) ? " AND " + pair.second.sql + " IS NOT NULL" : "") + ")";
		}
		if (kind <= 82) {
			return pair.first.sql + (Chance(rng_, 25) ? " NOT IN" : " IN") + " (SELECT " +
			       pair.second.sql + from + (Chance(rng_, 40) ? " WHERE " + alias + ".k > 1" : "") +
			       ")";
		}
		std::vector<Ref> counted;
		for (const auto &b : inner) {
			if (b.type == T::kInt) {
				counted.push_back(b);
			}
		}
		const Ref &k = Pick(rng_, counted);
		std::string correl = "";
		std::vector<Ref> ints = OfType(s, T::kInt);
		for (const auto &a : s.refs) {
			if (a.type == T::kInt && Chance(rng_, 50)) {
				correl = " WHERE " + k.sql + " = " + a.sql;
				if (Chance(rng_, 30)) {
					// A second correlation column (grouped by both when decorrelated).
					correl += " AND " + Pick(rng_, counted).sql + " = " + Pick(rng_, ints).sql;
				}
				break;
			}
		}
		std::string lhs = ints.empty() ? "0" : Pick(rng_, ints).sql;
		// count() is 0 over no rows, the others NULL (decorrelated only when the comparison is
		// strict in them); coalesce() is not strict.
		static const char *kAggs[] = {"count(*)", "max(%)", "min(%)", "sum(%)", "avg(%) * 0.5"};
		std::string agg = kAggs[Rand(rng_, 0, 4)];
		if (agg.find('%') != std::string::npos) {
			agg.replace(agg.find('%'), 1, k.sql);
		}
		std::string sub = "(SELECT " + agg + from + correl + ")";
		if (Chance(rng_, 20)) {
			sub = "coalesce(" + sub + ", 1)";
		}
		return lhs + " <= " + sub;
	}

	// A projected (non-merged) expression over ref r, with its type.
	Ref Expression(const Ref &r, bool merged) {
		if (merged || Chance(rng_, 55)) {
			return r;
		}
		switch (r.type) {
		case T::kInt:
			return Pick(rng_, std::vector<Ref>{{r.sql + " + 1", T::kInt},
			                                   {"coalesce(" + r.sql + ", -1)", T::kInt},
			                                   {r.sql + " > 2", T::kBool},
			                                   {"ROW(" + r.sql + ", 'p')::fz.pair", T::kPair},
			                                   {"ARRAY[" + r.sql + ", 7]", T::kArr},
			                                   {"CASE WHEN " + r.sql +
			                                        " > 2 THEN 'hi'::text "
			                                        "COLLATE \"C\" ELSE 'lo' END",
			                                    T::kTextC}});
		case T::kNum:
			return Pick(rng_, std::vector<Ref>{{r.sql + " * 2", T::kNum},
			                                   {"round(" + r.sql + ", 1)", T::kNum},
			                                   {"coalesce(" + r.sql + ", 99.5)", T::kNum}});
		case T::kFloat:
			// Not -f or abs(f): they map -0 to 0 and back, the other variant of the class.
			return {r.sql + " * 2", T::kFloat};
		case T::kTextCi:
			// Not upper(s): it maps 'a' to 'A', the other variant of the class.
			return Pick(rng_, std::vector<Ref>{{r.sql + " || 'x'", T::kTextCi},
			                                   {"length(" + r.sql + ")", T::kInt}});
		case T::kTextC:
			return Pick(rng_, std::vector<Ref>{{"lower(" + r.sql + ")", T::kTextC},
			                                   {r.sql + " || '!'", T::kTextC}});
		case T::kMood:
			// enum_out is STABLE: DIFFERENTIAL must refuse the cast to text.
			return Pick(rng_, std::vector<Ref>{{r.sql + "::text COLLATE \"C\"", T::kTextC},
			                                   {"enum_first(" + r.sql + ")", T::kMood}});
		case T::kPos:
			return {r.sql + " + 1", T::kInt};
		case T::kArr:
			return Pick(rng_, std::vector<Ref>{{r.sql + "[1]", T::kInt},
			                                   {"array_append(" + r.sql + ", 9)", T::kArr},
			                                   {"cardinality(" + r.sql + ")", T::kInt}});
		case T::kJson:
			return Pick(rng_,
			            std::vector<Ref>{{r.sql + " -> 'a'", T::kJson},
			                             {"jsonb_typeof(" + r.sql + ") COLLATE \"C\"", T::kTextC}});
		case T::kTs:
			// timestamptz arithmetic and date_trunc depend on TimeZone: STABLE.
			return Pick(rng_, std::vector<Ref>{{r.sql + " + interval '1 day'", T::kTs},
			                                   {"date_trunc('day', " + r.sql + ")", T::kTs}});
		case T::kMoney:
			return {r.sql + " * 2", T::kNum};
		case T::kBool:
			return {"NOT " + r.sql, T::kBool};
		case T::kPair:
			return {"(" + r.sql + ").a", T::kInt};
		}
		return r;
	}

	// An aggregate over scope s, with its type; sometimes with a FILTER clause.
	Ref Aggregate(const Scope &s) {
		Ref a = PlainAggregate(s);
		if (Chance(rng_, 10)) {
			a.sql += " FILTER (WHERE " + Predicate(s, 2, false) + ")";
		}
		return a;
	}

	Ref PlainAggregate(const Scope &s) {
		const Ref &r = Pick(rng_, s.refs);
		int kind = Rand(rng_, 1, 100);
		if (kind <= 25) {
			return {"count(*)", T::kInt};
		}
		if (kind <= 35) {
			return {"count(" + r.sql + ")", T::kInt};
		}
		if (kind <= 60) {
			// sum/avg of exact types only (a float sum depends on the order of additions).
			std::vector<Ref> exact;
			for (const auto &x : s.refs) {
				if (x.type == T::kInt || x.type == T::kNum || x.type == T::kMoney ||
				    x.type == T::kPos) {
					exact.push_back(x);
				}
			}
			if (!exact.empty()) {
				const Ref &e = Pick(rng_, exact);
				return {std::string(Chance(rng_, 75) ? "sum(" : "avg(") + e.sql + ")", T::kNum};
			}
			return {"count(*)", T::kInt};
		}
		if (kind <= 85 && HasMinMax(r.type)) {
			return {std::string(Chance(rng_, 50) ? "min(" : "max(") + r.sql + ")", r.type};
		}
		if (kind <= 90) {
			return {"count(DISTINCT " + r.sql + ")", T::kInt};
		}
		if (kind <= 95) {
			for (const auto &x : s.refs) {
				if (x.type == T::kTextC) {
					return {"string_agg(" + x.sql + ", ',' ORDER BY " + x.sql + ")", T::kTextC};
				}
			}
		}
		return {"bool_or(" + r.sql + " IS NULL)", T::kBool};
	}

	// A SELECT over a fresh FROM. With `want` non-empty, the output types must be exactly `want`
	// (for set-operation branches) and only plain projections are generated.
	Generated Select(int depth, const std::vector<T> &want) {
		Scope s = From(depth);
		std::string where;
		if (Chance(rng_, 60)) {
			where = " WHERE " + Predicate(s, depth);
			if (Chance(rng_, 25)) {
				where += " AND " + Predicate(s, depth);
			}
		}
		Generated g;
		std::vector<std::string> items;
		auto add = [&](const Ref &r) {
			items.push_back(r.sql + " AS c" + std::to_string(items.size()));
			g.types.push_back(r.type);
		};
		if (!want.empty()) {
			for (T t : want) {
				auto refs = OfType(s, t);
				if (refs.empty()) {
					add({"NULL::" + TypeName(t), t});
				} else {
					add(Pick(rng_, refs));
				}
			}
			g.sql = "SELECT " + Join(items) + " FROM " + s.from + where;
			return g;
		}
		int shape = Rand(rng_, 1, 100);
		if (depth == 0 && shape <= 5 && s.from.find(' ') == s.from.rfind(' ') &&
		    s.from.rfind("fz.", 0) == 0) {
			// SELECT t.*: the table's own column names.
			std::string alias = s.from.substr(s.from.find(' ') + 1);
			for (const auto &r : s.refs) {
				g.types.push_back(r.type);
			}
			g.named = true;
			g.sql = "SELECT " + alias + ".* FROM " + s.from + where;
		} else if (shape <= 45) {
			// Plain projection, sometimes with a scalar subquery in the select list.
			int n = Rand(rng_, 1, 4);
			for (int i = 0; i < n; i++) {
				add(Expression(Pick(rng_, s.refs), false));
			}
			if (depth < 2 && Chance(rng_, 10)) {
				const TableDef &t = Pick(rng_, Tables());
				std::string alias = NewAlias("x");
				auto ints = OfType(s, T::kInt);
				add({"(SELECT count(*) FROM fz." + t.name + " " + alias +
				         (ints.empty() ? "" : " WHERE " + alias + ".k = " + Pick(rng_, ints).sql) +
				         ")",
				     T::kInt});
			}
			g.sql = "SELECT " + Join(items) + " FROM " + s.from + where;
		} else if (shape <= 72) {
			// GROUP BY plain columns (merged: no expressions), aggregates, sometimes HAVING.
			// Keys are plain columns, or int expressions (no identity variants to merge).
			std::vector<std::string> keys;
			bool ordinals = Chance(rng_, 15);
			int nk = Rand(rng_, 1, 2);
			for (int i = 0; i < nk; i++) {
				Ref k = Pick(rng_, s.refs);
				if (k.type == T::kInt && Chance(rng_, 25)) {
					k.sql = "(" + k.sql + " % 3)";
				}
				keys.push_back(ordinals ? std::to_string(items.size() + 1) : k.sql);
				add(k);
			}
			int na = Rand(rng_, 1, 3);
			for (int i = 0; i < na; i++) {
				add(Aggregate(s));
			}
			std::string group = Join(keys);
			int sets = Rand(rng_, 1, 100);
			if (sets <= 5) {
				group = "ROLLUP (" + group + ")";
			} else if (sets <= 8) {
				group = "CUBE (" + group + ")";
			} else if (sets <= 10) {
				group = "GROUPING SETS ((" + group + "), ())";
			}
			g.sql = "SELECT " + Join(items) + " FROM " + s.from + where + " GROUP BY " + group;
			if (Chance(rng_, 20)) {
				g.sql += " HAVING count(*) > 1";
			}
		} else if (shape <= 78) {
			// A global aggregate (one row, also over no rows).
			int na = Rand(rng_, 1, 3);
			for (int i = 0; i < na; i++) {
				add(Aggregate(s));
			}
			g.sql = "SELECT " + Join(items) + " FROM " + s.from + where;
		} else if (shape <= 88) {
			int n = Rand(rng_, 1, 3);
			for (int i = 0; i < n; i++) {
				add(Pick(rng_, s.refs));
			}
			g.sql = "SELECT DISTINCT " + Join(items) + " FROM " + s.from + where;
		} else {
			// Window functions: partitions by a plain column, ordered by another.
			int n = Rand(rng_, 1, 2);
			for (int i = 0; i < n; i++) {
				add(Expression(Pick(rng_, s.refs), false));
			}
			std::vector<Ref> orderable;
			for (const auto &r : s.refs) {
				if (Orderable(r.type)) {
					orderable.push_back(r);
				}
			}
			if (orderable.empty()) {
				orderable.push_back({"1", T::kInt}); // a scope of jsonb only
			}
			const Ref &part = Pick(rng_, orderable);
			const Ref &ord = Pick(rng_, orderable);
			std::string over = "OVER (PARTITION BY " + part.sql + " ORDER BY " + ord.sql + ")";
			int kind = Rand(rng_, 1, 100);
			if (kind <= 25) {
				add({"rank() " + over, T::kInt});
			} else if (kind <= 45) {
				add({"dense_rank() " + over, T::kInt});
			} else if (kind <= 65) {
				add({"count(*) OVER (PARTITION BY " + part.sql + ")", T::kInt});
			} else if (kind <= 80) {
				auto exact = OfType(s, T::kNum);
				add({exact.empty() ? "count(*) " + over
				                   : "sum(" + Pick(rng_, exact).sql + ") " + over,
				     exact.empty() ? T::kInt : T::kNum});
			} else {
				add({"row_number() " + over, T::kInt});
				NotDeterministic("row_number() over ties");
			}
			g.sql = "SELECT " + Join(items) + " FROM " + s.from + where;
		}
		return g;
	}

	// Branches with one signature, combined by UNION [ALL] / INTERSECT [ALL] / EXCEPT [ALL].
	Generated SetOperation(int depth) {
		static const std::vector<T> kSetTypes{T::kInt,   T::kNum,  T::kFloat, T::kTextCi,
		                                      T::kTextC, T::kMood, T::kJson};
		std::vector<T> sig;
		int n = Rand(rng_, 1, 3);
		for (int i = 0; i < n; i++) {
			sig.push_back(Pick(rng_, kSetTypes));
		}
		Generated g = Select(depth + 1, sig);
		int branches = Chance(rng_, 20) ? 3 : 2;
		for (int i = 1; i < branches; i++) {
			Generated b = Select(depth + 1, sig);
			std::string op =
			    Pick(rng_, std::vector<std::string>{"UNION ALL", "UNION ALL", "UNION", "INTERSECT",
			                                        "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"});
			g.sql += " " + op + " " + b.sql;
		}
		g.types = sig;
		return g;
	}

	static std::string TypeName(T t) {
		switch (t) {
		case T::kInt:
			return "int";
		case T::kNum:
			return "numeric";
		case T::kFloat:
			return "float8";
		case T::kTextCi:
			return "text COLLATE fz.ci";
		case T::kTextC:
			return "text COLLATE \"C\"";
		case T::kMood:
			return "fz.mood";
		case T::kPos:
			return "fz.pos";
		case T::kArr:
			return "int[]";
		case T::kJson:
			return "jsonb";
		case T::kTs:
			return "timestamptz";
		case T::kMoney:
			return "fz.money2";
		case T::kBool:
			return "boolean";
		case T::kPair:
			return "fz.pair";
		}
		return "text";
	}

	static std::string Join(const std::vector<std::string> &items) {
		std::string out;
		for (const auto &i : items) {
			out += (out.empty() ? "" : ", ") + i;
		}
		return out;
	}

	std::mt19937 &rng_;
	int alias_ = 0;
	std::vector<CteDef> cte_defs_;
	std::string base_;
	bool deterministic_ = true;
	std::string why_not_;
};

// ------------------------------------------------------------------------------------------------
// The DML workload.

std::vector<std::string> RandomDml(std::mt19937 &rng, Values &v) {
	std::vector<std::string> out;
	int n = Rand(rng, 2, 8);
	for (int i = 0; i < n; i++) {
		const TableDef &t = Pick(rng, Tables());
		int op = Rand(rng, 1, 100);
		std::string table = "fz." + t.name;
		if (op <= 40) {
			int rows = Rand(rng, 1, 3);
			std::string values;
			for (int r = 0; r < rows; r++) {
				std::string row;
				for (const auto &c : t.columns) {
					std::string val =
					    c.name == "id" ? std::to_string(Rand(rng, 1, 30)) : v.Of(c.type);
					row += (row.empty() ? "" : ", ") + val;
				}
				values += (values.empty() ? "(" : ", (") + row + ")";
			}
			out.push_back("INSERT INTO " + table + " VALUES " + values);
		} else if (op <= 75) {
			// Updates of any column, keys included (k, id), to values or NULL.
			const Column &c = Pick(rng, t.columns);
			std::string val = c.name == "id"
			                      ? (Chance(rng, 50) ? "id + 1" : std::to_string(Rand(rng, 1, 30)))
			                      : v.Of(c.type, 20);
			std::string where =
			    Pick(rng, std::vector<std::string>{"k = " + std::to_string(Rand(rng, 0, 5)),
			                                       "k IS NULL", "m = 'ok'", "c = 'x'",
			                                       "k % 2 = " + std::to_string(Rand(rng, 0, 1))});
			out.push_back("UPDATE " + table + " SET " + c.name + " = " + val + " WHERE " + where);
		} else if (op <= 92) {
			out.push_back("DELETE FROM " + table + " WHERE " +
			              Pick(rng, std::vector<std::string>{
			                            "k = " + std::to_string(Rand(rng, 0, 5)), "k IS NULL",
			                            "m = 'sad'", "c = 'y'", "s = 'a'"}));
		} else {
			T t2 = Pick(rng, std::vector<T>{T::kNum, T::kFloat, T::kTextCi, T::kJson});
			for (auto &s : v.Flip(t2)) {
				out.push_back(s);
			}
		}
	}
	return out;
}

// ------------------------------------------------------------------------------------------------
// The test.

bool Forbidden(const std::string &sqlstate) {
	return sqlstate == "XX000" || sqlstate == "42704" || sqlstate == "42P01" || sqlstate == "42883";
}

struct Case {
	int index = 0;
	Generated query;
	// Stream tables accepted, by mode ("FULL", "DIFFERENTIAL", "AUTO").
	std::map<std::string, std::string> accepted;
	bool broken = false; // a failure was recorded: no more checks of this case
};

class QueryFuzz : public ClusterTest {
  protected:
	void SetUp() override {
		ClusterTest::SetUp();
		EnsureExtension();
		// AUTO refreshes DIFFERENTIAL whenever it can, whatever the share of changed rows.
		conn_->Exec("ALTER DATABASE " + db() +
		            " SET pg_trickle.differential_max_change_ratio = 1000");
		conn_ = Connect();
		cmp_ = Connect();
		cmp_->Exec("SET extra_float_digits = 3");
	}

	void TearDown() override {
		cmp_.reset();
		ClusterTest::TearDown();
	}

	// Drops every stream table, one transaction each, while the scheduler runs: a drop just
	// works (DropRaceTest checks it under load).
	void DropAll() {
		conn_->Exec("DO $$ DECLARE r record; BEGIN LOOP "
		            "SELECT pgt_schema, pgt_name INTO r FROM pgtrickle.pgt_stream_tables "
		            "ORDER BY pgt_id DESC LIMIT 1; "
		            "EXIT WHEN NOT FOUND; PERFORM pgtrickle.drop_stream_table("
		            "quote_ident(r.pgt_schema) || '.' || quote_ident(r.pgt_name), true); "
		            "COMMIT; END LOOP; END $$");
	}

	void Fail(Case &c, unsigned seed, const std::string &what) {
		c.broken = true;
		std::ostringstream out;
		out << "fuzz seed " << seed << " (rerun: PGT_FUZZ_SEED=" << seed
		    << " PGT_FUZZ_BATCHES=1), query " << c.index << ": " << what
		    << "\n  query: " << c.query.sql;
		failures_.push_back(out.str());
	}

	// Runs a pg_trickle call; 55P03 (the scheduler is busy with it) is retried.
	std::optional<SqlError> Call(const std::string &sql) {
		std::optional<SqlError> err;
		WaitFor(
		    [&] {
			    err = conn_->TryExec(sql);
			    return !err || err->sqlstate != "55P03";
		    },
		    60s, 100ms);
		return err;
	}

	void CreateAll(Case &c, unsigned seed, int batch) {
		for (std::string mode : {"FULL", "DIFFERENTIAL", "AUTO"}) {
			std::string name = "fz_" + std::to_string(batch) + "_" + std::to_string(c.index) + "_" +
			                   std::string(1, static_cast<char>(std::tolower(mode[0])));
			auto err =
			    Call("SELECT pgtrickle.create_stream_table('public." + name + "', $fz$" +
			         c.query.sql + "$fz$, schedule => '24h', refresh_mode => '" + mode + "')");
			if (!err) {
				c.accepted[mode] = name;
				stats_[mode + " accepted"]++;
				continue;
			}
			std::string msg = err->sqlstate + " " + err->message;
			if (Forbidden(err->sqlstate)) {
				Fail(c, seed, mode + " create failed with a forbidden SQLSTATE: " + msg);
			} else if (mode != "DIFFERENTIAL") {
				Fail(c, seed, mode + " refused a legal query: " + msg);
			} else if (err->sqlstate != "0A000" ||
			           !std::regex_search(err->message,
			                              std::regex("(not support|not allowed) \\S"))) {
				Fail(c, seed, "DIFFERENTIAL refused without 0A000 naming the construct: " + msg);
			} else {
				stats_["DIFFERENTIAL refused"]++;
				refusals_[err->message]++;
			}
		}
	}

	void RefreshAndCheck(Case &c, unsigned seed, const std::string &context) {
		for (const auto &[mode, st] : c.accepted) {
			if (c.broken) {
				return;
			}
			auto err = Call("SELECT pgtrickle.refresh_stream_table('public." + st + "')");
			if (err) {
				Fail(c, seed,
				     mode + " refresh failed: " + err->sqlstate + " " + err->message +
				         (err->detail.empty() ? "" : " (" + err->detail + ")") + "\n" + context);
				return;
			}
			stats_["refreshes"]++;
		}
		if (!c.query.deterministic) {
			stats_["equality skipped (" + c.query.why_not + ")"]++;
			return;
		}
		for (const auto &[mode, st] : c.accepted) {
			std::string diff = IdentityDiff(*cmp_, "SELECT * FROM public." + st, c.query.sql);
			if (!diff.empty()) {
				Fail(c, seed,
				     mode + " stream table differs from its query by identity:\n" + diff + context);
				return;
			}
			stats_["comparisons"]++;
		}
	}

	// One batch: fresh sources and data, `queries` queries, `cycles` rounds of DML + refresh.
	void Batch(unsigned seed, int batch, int queries, int cycles) {
		std::mt19937 rng(seed);
		DropAll();
		conn_->Exec(kSchema);
		Values v(rng);
		for (int i = 0; i < 4; i++) {
			for (const auto &s : RandomDml(rng, v)) {
				conn_->Exec(s); // flips included: the variant state must match the data
			}
		}
		for (const auto &t : Tables()) {
			for (int i = 0; i < 6; i++) {
				std::string row;
				for (const auto &col : t.columns) {
					std::string val =
					    col.name == "id" ? std::to_string(Rand(rng, 1, 30)) : v.Of(col.type);
					row += (row.empty() ? "" : ", ") + val;
				}
				conn_->Exec("INSERT INTO fz." + t.name + " VALUES (" + row + ")");
			}
		}
		Gen gen(rng);
		std::vector<Case> cases;
		{
			Case base;
			base.index = queries; // after the queries' indexes
			base.query.sql = kBaseQuery;
			CreateAll(base, seed, batch);
			for (const char *mode : {"DIFFERENTIAL", "AUTO", "FULL"}) {
				if (base.accepted.count(mode) != 0) {
					gen.SetBase(base.accepted[mode]);
					break;
				}
			}
			stats_["queries"]++;
			cases.push_back(std::move(base));
		}
		for (int i = 0; i < queries; i++) {
			Case c;
			c.index = i;
			c.query = gen.Query();
			// The generator aims at legal SQL; a query PostgreSQL itself rejects is not a case.
			if (auto err = conn_->TryExec("SELECT count(*) FROM (" + c.query.sql + ") __q")) {
				stats_["invalid queries skipped"]++;
				if (invalid_examples_.size() < 5) {
					invalid_examples_.push_back(err->sqlstate + " " + err->message + ": " +
					                            c.query.sql);
				}
				continue;
			}
			stats_["queries"]++;
			CreateAll(c, seed, batch);
			cases.push_back(std::move(c));
		}
		for (auto &c : cases) {
			RefreshAndCheck(c, seed, "after creation");
		}
		for (int cycle = 0; cycle < cycles; cycle++) {
			auto dml = RandomDml(rng, v);
			std::string context = "cycle " + std::to_string(cycle) + " ran:\n";
			conn_->Exec("BEGIN");
			for (const auto &s : dml) {
				context += "  " + s + ";\n";
				if (auto err = conn_->TryExec(s)) {
					// A domain CHECK or similar: the statement is not part of the workload.
					conn_->Exec("ROLLBACK");
					ADD_FAILURE() << "workload statement failed: " << err->sqlstate << " "
					              << err->message << ": " << s;
					return;
				}
			}
			conn_->Exec("COMMIT");
			for (auto &c : cases) {
				RefreshAndCheck(c, seed, context);
			}
		}
	}

	std::unique_ptr<Conn> cmp_;
	std::vector<std::string> failures_;
	std::map<std::string, long> stats_;
	std::map<std::string, long> refusals_;
	std::vector<std::string> invalid_examples_;
};

TEST_F(QueryFuzz, EveryLegalQueryWorksOrIsRefusedClearly) {
	const bool long_run = LongRun();
	const unsigned seed = static_cast<unsigned>(
	    EnvLong("PGT_FUZZ_SEED", long_run ? static_cast<long>(std::time(nullptr) % 100000) : 1));
	const int queries = static_cast<int>(EnvLong("PGT_FUZZ_QUERIES", 8));
	const int cycles = static_cast<int>(EnvLong("PGT_FUZZ_CYCLES", 3));
	const long batches = EnvLong("PGT_FUZZ_BATCHES", long_run ? 1000000 : 8);
	const auto deadline = std::chrono::steady_clock::now() +
	                      std::chrono::minutes(EnvLong("PGT_FUZZ_MINUTES", long_run ? 15 : 1000));
	std::cout << "[ fuzz     ] seed " << seed << " (PGT_FUZZ_SEED), " << queries << " queries x "
	          << cycles << " cycles per batch" << std::endl;
	long done = 0;
	for (long b = 0; b < batches && std::chrono::steady_clock::now() < deadline; b++) {
		Batch(seed + static_cast<unsigned>(b), static_cast<int>(b), queries, cycles);
		done++;
		if (long_run && done % 10 == 0) {
			std::cout << "[ fuzz     ] " << done << " batches, " << failures_.size()
			          << " failure(s) so far" << std::endl;
		}
	}
	DropAll();
	std::ostringstream summary;
	summary << "[ fuzz     ] seed " << seed << ": " << done << " batch(es)";
	for (const auto &[k, n] : stats_) {
		summary << "; " << k << " " << n;
	}
	summary << "\n[ fuzz     ] DIFFERENTIAL refusals:";
	for (const auto &[m, n] : refusals_) {
		summary << "\n    " << n << "x " << m;
	}
	for (const auto &e : invalid_examples_) {
		summary << "\n[ fuzz     ] invalid (skipped): " << e;
	}
	std::cout << summary.str() << std::endl;
	// Invalid queries are generator mistakes; they must stay rare or the fuzzer tests little.
	EXPECT_LE(stats_["invalid queries skipped"], std::max(2L, stats_["queries"] / 10))
	    << "too many generated queries are not legal SQL";
	for (const auto &f : failures_) {
		ADD_FAILURE() << f;
	}
}

} // namespace
} // namespace pgt::e2e
