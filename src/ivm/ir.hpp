// The operator IR of the DIFFERENTIAL engine (see docs/architecture.md, "Differential refresh").
//
// The analyzed defining query (views expanded, non-recursive CTEs inlined) becomes a tree of
// operators. Every relation of the tree is a Z-set: rows with a signed int8 weight (DBSP's
// signed multisets). Each operator produces SQL for three states of its output:
//   New    the output as of the refresh snapshot,
//   Old    the output as of the previous refresh (leaves: old = new + (−Δ)),
//   Delta  New − Old, as rows with signed weights (not necessarily consolidated).
// Each SQL text is one SELECT whose columns are the operator's columns in order followed by the
// weight; consumers name them positionally (__pgt_c1 .. __pgt_cN, __pgt_w). Expressions of the
// user's query are printed by PostgreSQL's deparser (pg_get_querydef of a node tree): user text is
// never pasted into SQL.
//
// Each operator kind lives in its own file (src/ivm/op_*.cpp) whose header comment states its delta
// rule; a kind that is built from a query level registers a Lowering (PGT_IVM_LOWERING) that the
// Builder tries in priority order. Adding an operator is one file plus its registration.
#pragma once

#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
#include "nodes/parsenodes.h"
}

namespace pgtrickle::ivm {

enum class Mode { kNew = 0, kOld = 1, kDelta = 2 };

// A query the engine cannot maintain; reason names the construct (for the 0A000 message).
struct Unsupported {
	std::string reason;
};
[[noreturn]] void Reject(const std::string &reason);

struct Column {
	std::string name; // for descriptions only (SQL names columns positionally)
	Oid type;
	int32 typmod;
	Oid collation;
};

class Builder;
struct AlgebraicPlan; // ivm/algebraic.hpp

class Op {
  public:
	explicit Op(std::string kind);
	virtual ~Op() = default;
	Op(const Op &) = delete;
	Op &operator=(const Op &) = delete;

	// SQL of the output in `mode`: columns() then __pgt_w (int8). Cached per mode.
	const std::string &Sql(Mode mode);
	// Whether every row of the output in `mode` (kNew or kOld) has weight exactly 1, so that the
	// rows are the multiset itself (no consolidation needed before a non-linear consumer).
	virtual bool Unit(Mode mode) const {
		return mode == Mode::kNew;
	}
	// The Old state as rows of weight 1 (the multiset itself), when the operator can produce it
	// more cheaply than consolidating its Old SQL (Bag reads it); empty otherwise. C++ regime.
	virtual std::string UnitOldSql() {
		return "";
	}
	// For a grouping operator (GROUP BY / DISTINCT) whose keys are all output columns: the output
	// positions of its keys (in key order) and the SQL of the affected keys (SELECT DISTINCT
	// __pgt_c1..__pgt_cM of the input's delta). The top of a plan then applies by deleting and
	// recomputing those groups in the storage table.
	virtual bool SelectedKeys(std::vector<int> *outputs, std::string *key_sql) {
		return false;
	}
	// For a top-level aggregation whose aggregates all have an algebraic rule (COUNT, SUM and
	// AVG over integers and numeric, MIN/MAX over identity-typed values) and whose keys are
	// selected and compared by identity: fills *plan (op_aggregate.cpp). C++ regime.
	virtual bool Algebraic(AlgebraicPlan *plan) {
		return false;
	}
	// e.g. "aggregate(join(scan public.t1, scan public.t2))" (explain_st).
	virtual std::string Describe() const;

	const std::string &kind() const {
		return kind_;
	}
	// Whether this operator or one below it is of `kind`.
	bool Contains(const std::string &kind) const {
		if (kind_ == kind) {
			return true;
		}
		for (const auto &child : children) {
			if (child->Contains(kind)) {
				return true;
			}
		}
		return false;
	}
	// A name unique within the plan for a CTE this operator's SQL defines ("__pgt_k7").
	std::string KeyCte() const {
		return "__pgt_k" + std::to_string(id_);
	}
	// Whether the output can differ between Old and New: some leaf below it has changes in this
	// refresh. A quiet operator (no leaves, or every leaf without pending changes: Builder::quiet)
	// has an empty delta and Old = New, so its consumers read the tables as they are (indexes
	// usable) instead of their new contents minus their changes.
	bool Changes() const {
		return !leaves.empty() && !quiet_;
	}
	std::vector<Column> columns;
	std::vector<std::unique_ptr<Op>> children;
	std::vector<Oid> leaves; // base relations read (with repeats), in walk order

  protected:
	virtual std::string Generate(Mode mode) = 0;

  private:
	friend void MarkQuiet(Op &op, const std::vector<Oid> &quiet);
	std::string kind_;
	int id_;
	bool quiet_ = false;
	std::string cache_[3];
	bool cached_[3] = {false, false, false};
};

// A lowering turns one query level into an operator, or returns nullptr when the level is not
// its kind (the next registered lowering is tried). It may Reject.
using Lowering = std::unique_ptr<Op> (*)(Query *q, Builder &b);

struct LoweringRegistration {
	const char *name;
	int priority; // lower runs first
	Lowering lower;
};

// Registers a lowering at load time (static initializer; no PostgreSQL calls).
class LoweringRegistrar {
  public:
	LoweringRegistrar(const char *name, int priority, Lowering lower);
};
#define PGT_IVM_LOWERING(name, priority, fn)                                                       \
	static ::pgtrickle::ivm::LoweringRegistrar pgt_ivm_lowering_##name(#name, priority, fn)

class Builder {
  public:
	// Turns a query level into an operator: checks what no operator maintains, then tries the
	// registered lowerings. C++ regime.
	std::unique_ptr<Op> Build(Query *q);
	// The operator reading one FROM item: a base table (scan) or a subquery.
	std::unique_ptr<Op> BuildRte(RangeTblEntry *rte);
	// Sources with no pending change in this refresh (their delta is empty, their old contents
	// are their new ones); BuildPlan marks every operator whose leaves are all quiet. Empty when
	// unknown (explain_st without a refresh, the FULL paths): every source may change.
	std::vector<Oid> quiet;
};

// Marks op and the operators below it quiet where all their leaves are in `quiet` (BuildPlan).
void MarkQuiet(Op &op, const std::vector<Oid> &quiet);

// The whole plan: parses nothing; q is the analyzed, rewritten defining query. Inlines CTEs,
// checks the whole tree and builds the root. C++ regime.
std::unique_ptr<Op> BuildPlan(Query *q, Builder &b);

// Non-recursive CTEs become subqueries at every reference (each reference its own copy), so that
// operators only ever see tables and subqueries. Rejects WITH RECURSIVE. C++ regime.
void InlineCtes(Query *q);

} // namespace pgtrickle::ivm
