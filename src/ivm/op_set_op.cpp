// set operation by per-row counts: A UNION B, A INTERSECT [ALL] B, A EXCEPT [ALL] B.
//
// Rule (Z-sets): for each row r with multiplicities a = A(r), b = B(r) (rows matched by the
// types' "=", as PostgreSQL's set operations do), the output multiplicity is
//   UNION: [a + b > 0]   INTERSECT: [a > 0 ∧ b > 0]   INTERSECT ALL: min(a, b)
//   EXCEPT: [a > 0 ∧ b = 0]   EXCEPT ALL: max(a − b, 0)
// The operator is keyed by the whole row: with K = the rows of ΔA ⊎ ΔB (affected-key
// recomputation, exact because each output row depends only on the counts of equal rows),
//   Δ = f(A_new|K, B_new|K) − f(A_old|K, B_old|K)
// netted by identity. Counts are sums of weights, so the inputs need no consolidation.
#include "ivm/ops.hpp"
#include "ivm/setops.hpp"
#include "ivm/sql.hpp"

namespace pgtrickle::ivm {

namespace {

class SetOp : public Op {
  public:
	SetOp(SetOperation op, bool all, std::vector<Column> cols, std::unique_ptr<Op> left,
	      std::unique_ptr<Op> right)
	    : Op(Kind(op, all)), op_(op), all_(all) {
		columns = std::move(cols);
		children.push_back(std::move(left));
		children.push_back(std::move(right));
		for (const auto &c : children) {
			leaves.insert(leaves.end(), c->leaves.begin(), c->leaves.end());
		}
	}

	bool Unit(Mode mode) const override {
		return mode != Mode::kDelta && !all_;
	}

  protected:
	std::string Generate(Mode mode) override {
		if (mode != Mode::kDelta) {
			return Counts(mode, "");
		}
		std::size_t n = columns.size();
		std::string k = KeyCte();
		std::string keys = "SELECT DISTINCT " + Names(n, false, "d") + " FROM (" +
		                   Inputs(Mode::kDelta) + ") AS d(" + Names(n, false) +
		                   ", __pgt_l, __pgt_r)";
		std::string pred = KeyPredicate("x", k, columns);
		std::vector<std::string> cols;
		for (std::size_t i = 0; i < n; i++) {
			cols.push_back("__pgt_c" + std::to_string(i + 1));
		}
		std::string rows = "SELECT " + Names(n, true, "p") + " FROM (" + Counts(Mode::kNew, pred) +
		                   ") p UNION ALL SELECT " + Names(n, false, "o") + ", -o.__pgt_w FROM (" +
		                   Counts(Mode::kOld, pred) + ") o";
		return "WITH " + k + " AS MATERIALIZED (\n" + keys + "\n) " +
		       NetByIdentity(rows, cols, KindsOf(columns));
	}

  private:
	static std::string Kind(SetOperation op, bool all) {
		std::string name = op == SETOP_UNION       ? "union"
		                   : op == SETOP_INTERSECT ? "intersect"
		                                           : "except";
		return all ? name + "_all" : name;
	}

	// Both inputs' rows in one relation: columns, then the weight as __pgt_l (A) or __pgt_r (B).
	// An Old input is consolidated by identity first: the value that represents a row in the
	// output must be one present in the old state (a +'A' and −'A' pair that cancels must not
	// stand for the 'a' that remains).
	std::string Inputs(Mode mode) {
		return "SELECT " + Prefix(CastColumns(*children[0], columns, "a")) +
		       "a.__pgt_w, 0::pg_catalog.int8 FROM " + Input(*children[0], mode, "a") +
		       " UNION ALL SELECT " + Prefix(CastColumns(*children[1], columns, "b")) +
		       "0::pg_catalog.int8, b.__pgt_w FROM " + Input(*children[1], mode, "b");
	}

	static std::string Input(Op &child, Mode mode, const std::string &alias) {
		if (mode != Mode::kOld || child.Unit(mode)) {
			return From(child, mode, alias);
		}
		return "(" + Consolidate(child, mode) + ") AS " + alias + "(" +
		       Names(child.columns.size(), true) + ")";
	}

	std::string Counts(Mode mode, const std::string &pred) {
		std::size_t n = columns.size();
		const std::string a = "pg_catalog.sum(x.__pgt_l)";
		const std::string b = "pg_catalog.sum(x.__pgt_r)";
		std::string rule;
		switch (op_) {
		case SETOP_UNION:
			rule = "CASE WHEN " + a + " + " + b + " > 0 THEN 1 ELSE 0 END";
			break;
		case SETOP_INTERSECT:
			rule = all_ ? "LEAST(" + a + ", " + b + ")"
			            : "CASE WHEN " + a + " > 0 AND " + b + " > 0 THEN 1 ELSE 0 END";
			break;
		default:
			rule = all_ ? "GREATEST(" + a + " - " + b + ", 0)"
			            : "CASE WHEN " + a + " > 0 AND " + b + " <= 0 THEN 1 ELSE 0 END";
			break;
		}
		return "SELECT " + Names(n, true, "g") + " FROM (SELECT " + Names(n, false, "x") + ", (" +
		       rule + ")::pg_catalog.int8 AS __pgt_w FROM (" + Inputs(mode) + ") AS x(" +
		       Names(n, false) + ", __pgt_l, __pgt_r)" + (pred.empty() ? "" : " WHERE " + pred) +
		       " GROUP BY " + Names(n, false, "x") + ") g WHERE g.__pgt_w > 0";
	}

	SetOperation op_;
	bool all_;
};

template <SetOperation kOp, bool kAll>
std::unique_ptr<Op> Make(std::vector<Column> cols, std::unique_ptr<Op> left,
                         std::unique_ptr<Op> right) {
	return std::make_unique<SetOp>(kOp, kAll, std::move(cols), std::move(left), std::move(right));
}

} // namespace

static SetOpRegistrar union_registrar(SETOP_UNION, false, Make<SETOP_UNION, false>);
static SetOpRegistrar intersect_registrar(SETOP_INTERSECT, false, Make<SETOP_INTERSECT, false>);
static SetOpRegistrar intersect_all_registrar(SETOP_INTERSECT, true, Make<SETOP_INTERSECT, true>);
static SetOpRegistrar except_registrar(SETOP_EXCEPT, false, Make<SETOP_EXCEPT, false>);
static SetOpRegistrar except_all_registrar(SETOP_EXCEPT, true, Make<SETOP_EXCEPT, true>);

} // namespace pgtrickle::ivm
