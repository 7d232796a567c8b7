// scan: a base table L (a table, a partitioned table, or a stream table) read by the query.
//
// Rule (Z-sets):   New(L) = the table at the refresh snapshot, every row with weight +1
//                  Δ(L)   = its captured changes since the previous refresh, +1 per inserted and
//                           −1 per deleted row (an UPDATE is both), netted by binary identity
//                  Old(L) = New(L) + (−Δ(L))   (not consolidated: +r and −r may both appear)
// (for a source with no pending change in this refresh, Δ(L) = 0 and Old(L) = New(L): Op::Changes)
// Changes come through pgtrickle._pending_changes(), which checks the reader's privileges on the
// source. Netting first means a row inserted and then fixed (or deleted) before the refresh is
// never evaluated by the query's expressions, while an update that only changes a value's
// representation (1.0 -> 1.00, 'a' -> 'A' under a case-insensitive collation) stays a delete and
// an insert. Every attribute is a column (dropped ones as a NULL::int4 placeholder) so that the
// query's Vars keep their attribute numbers.
#include "analyze/query_analysis.hpp"
#include "bridge/guard.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;
using bridge::QuoteIdent;

class Scan : public Op {
  public:
	explicit Scan(Oid relid) : Op("scan"), relid_(relid) {
		leaves.push_back(relid);
		PgCall([&] {
			Relation rel = relation_open(relid, AccessShareLock);
			TupleDesc desc = RelationGetDescr(rel);
			for (int i = 0; i < desc->natts; i++) {
				Form_pg_attribute att = TupleDescAttr(desc, i);
				if (att->attisdropped) {
					columns.push_back(Column{"", INT4OID, -1, InvalidOid});
				} else {
					columns.push_back(Column{NameStr(att->attname), att->atttypid, att->atttypmod,
					                         att->attcollation});
				}
			}
			relation_close(rel, AccessShareLock);
		});
		name_ = PgCall([&] {
			return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
			                                  get_rel_name(relid));
		});
	}

	std::string Describe() const override {
		return "scan " + name_;
	}

  protected:
	std::string Generate(Mode mode) override {
		std::string r_list;
		std::string b_list;
		std::vector<std::string> cols;
		Lists(&r_list, &b_list, &cols);
		std::string new_sql =
		    "SELECT " + Prefix(r_list) + "1::pg_catalog.int8 AS __pgt_w FROM " + name_ + " r";
		if (mode == Mode::kNew) {
			return new_sql;
		}
		if (mode == Mode::kDelta) {
			return Materialized(Netted(b_list, cols, "1", "-1"));
		}
		return new_sql + " UNION ALL " +
		       Materialized(Netted(b_list, cols, "-1", "1")); // old = new − Δ
	}

  public:
	// Old as rows of weight 1, for consumers that need the multiset (Bag): the table's rows whose
	// key column k (the first column whose "=" is implied by identity) is not among the changed
	// rows' keys, as they are, plus the consolidation of the few rows that share a key with a
	// change and the negated changes. A filter from above (an affected-key restriction) reaches
	// the table's index; nothing is sorted but the rows of changed keys (consolidating
	// new + (−Δ) sorted or hashed the whole table).
	std::string UnitOldSql() override {
		std::vector<ImageKind> kinds = KindsOf(columns);
		std::size_t key = 0;
		while (key < columns.size() &&
		       (columns[key].name.empty() || kinds[key] == ImageKind::kOther)) {
			key++;
		}
		if (key == columns.size()) {
			return "";
		}
		std::string r_list;
		std::string b_list;
		std::vector<std::string> cols;
		Lists(&r_list, &b_list, &cols);
		std::string kname = "__pgt_c" + std::to_string(key + 1);
		std::string col = "r." + QuoteIdent(columns[key].name);
		std::string op = EqualityOperator(columns[key].type);
		std::string keys = "SELECT __pgt_c1 FROM __pgt_nk WHERE __pgt_c1 IS NOT NULL";
		std::string null_key = "EXISTS (SELECT 1 FROM __pgt_nk WHERE __pgt_c1 IS NULL)";
		std::string table = " FROM " + name_ + " r";
		std::string stored = "SELECT " + Prefix(r_list) + "1::pg_catalog.int8 AS __pgt_w" + table;
		// The rows sharing a key with a change, through the key's index ("= ANY (array)" alone,
		// not re-tested against the whole array per row), and the NULL key when a change has it.
		std::string shared = stored + " WHERE " + col + " " + op + " ANY (ARRAY(" + keys +
		                     "))\nUNION ALL\n" + stored + " WHERE " + col + " IS NULL AND " +
		                     null_key + "\nUNION ALL\nSELECT " + Prefix(JoinNames(cols, "d.")) +
		                     "-d.__pgt_w FROM __pgt_net d";
		// The others: one hashed lookup per row (a hashed SubPlan, kept by "IS NOT TRUE").
		std::string unchanged = stored + " WHERE (" + col + " " + op + " ANY (" + keys +
		                        ")) IS NOT TRUE AND (" + col + " IS NOT NULL OR NOT " + null_key +
		                        ")";
		return "SELECT * FROM (WITH __pgt_net AS MATERIALIZED (\n" +
		       Netted(b_list, cols, "1", "-1") + "\n), __pgt_nk AS MATERIALIZED (SELECT DISTINCT " +
		       kname + " AS __pgt_c1 FROM __pgt_net)\n" + unchanged + "\nUNION ALL\nSELECT " +
		       Prefix(JoinNames(cols, "n.")) + "1::pg_catalog.int8 FROM (" +
		       NetByIdentity(shared, cols, kinds) +
		       ") n CROSS JOIN LATERAL pg_catalog.generate_series(1, n.__pgt_w) AS __pgt_g) AS "
		       "__pgt_o";
	}

  private:
	static std::string JoinNames(const std::vector<std::string> &cols, const std::string &prefix) {
		std::string out;
		for (std::size_t i = 0; i < cols.size(); i++) {
			out += (i ? ", " : "") + prefix + cols[i];
		}
		return out;
	}

	// The select lists of the table (alias r) and of its change set (alias b), every attribute as
	// __pgt_cI (a dropped one as NULL::int4), and the output names.
	void Lists(std::string *r_list, std::string *b_list, std::vector<std::string> *cols) const {
		for (std::size_t i = 0; i < columns.size(); i++) {
			std::string out = "__pgt_c" + std::to_string(i + 1);
			cols->push_back(out);
			if (columns[i].name.empty()) {
				*r_list += (i ? ", " : "") + std::string("NULL::pg_catalog.int4 AS ") + out;
				*b_list += (i ? ", " : "") + std::string("NULL::pg_catalog.int4 AS ") + out;
			} else {
				*r_list += (i ? ", " : "") + std::string("r.") + QuoteIdent(columns[i].name) +
				           " AS " + out;
				*b_list += (i ? ", " : "") + std::string("b.") + QuoteIdent(columns[i].name) +
				           " AS " + out;
			}
		}
	}

	// The pending changes netted by identity, weighted insert_weight / delete_weight.
	std::string Netted(const std::string &b_list, const std::vector<std::string> &cols,
	                   const char *insert_weight, const char *delete_weight) const {
		// The buffer's column list is the source's live columns, each with its type, typmod and
		// collation (a pending 'A' must compare like the table's 'A' under a case-insensitive
		// collation), named as the storage columns are (analyze::StorageColumns).
		std::string coldefs = "__pgt_xid pg_catalog.xid8, __pgt_action pg_catalog.\"char\"";
		for (const auto &column : analyze::StorageColumns(relid_)) {
			coldefs += ", " + QuoteIdent(column.name) + " " + column.type_sql;
		}
		std::string changes = "pgtrickle._pending_changes(" + std::to_string(relid_) +
		                      "::pg_catalog.oid, $1, $2, $3) AS b(" + coldefs + ")";
		std::string rows = "SELECT " + Prefix(b_list) + "CASE b.__pgt_action WHEN 'I' THEN " +
		                   insert_weight + "::pg_catalog.int8 ELSE " + delete_weight +
		                   "::pg_catalog.int8 END AS __pgt_w FROM " + changes;
		return NetByIdentity(rows, cols, KindsOf(columns));
	}

	// Netted once per statement (a MATERIALIZED CTE): a nested loop that reads the changes on its
	// inner side rescans the stored rows instead of re-running the netting per outer row (TPC-H
	// Q12: 374 × 1,576 change rows re-netted took 1.8 s).
	static std::string Materialized(const std::string &netted) {
		return "SELECT * FROM (WITH __pgt_net AS MATERIALIZED (\n" + netted +
		       "\n) SELECT * FROM __pgt_net) AS __pgt_m";
	}

  private:
	Oid relid_;
	std::string name_;
};

} // namespace

std::unique_ptr<Op> MakeScan(RangeTblEntry *rte) {
	if (rte->relkind == RELKIND_RELATION && rte->inh &&
	    PgCall([&] { return has_subclass(rte->relid); })) {
		Reject("tables with inheritance children (their changes are not captured)");
	}
	if (rte->tablesample != nullptr) {
		Reject("TABLESAMPLE (the sample depends on where rows are stored, not on their values)");
	}
	if (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE) {
		Reject(rte->relkind == RELKIND_MATVIEW ? "materialized views as sources"
		                                       : "foreign tables as sources");
	}
	if (!capture::BufferOf(rte->relid)) {
		Reject("a source without change capture");
	}
	return std::make_unique<Scan>(rte->relid);
}

} // namespace pgtrickle::ivm
