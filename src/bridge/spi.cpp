// SPI wrapper (see spi.hpp).
#include "bridge/spi.hpp"

#include "bridge/guard.hpp"

#include <exception>
#include <unordered_map>

extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "access/xact.h"
#include "utils/snapmgr.h"
#include "nodes/params.h"
#include "optimizer/optimizer.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
}

namespace pgtrickle::bridge {

std::string SpiResult::Get(std::size_t r, std::size_t c, const std::string &fallback) const {
	if (r >= rows.size() || c >= rows[r].size() || !rows[r][c]) {
		return fallback;
	}
	return *rows[r][c];
}

SpiResult SpiExec(const std::string &sql, const std::vector<Value> &args,
                  const SpiOptions &options) {
	int nargs = static_cast<int>(args.size());
	// Parameters as palloc'd C data so that no C++ object is alive inside the guarded calls.
	Oid *types = nargs ? PgCall([&] { return (Oid *)palloc(sizeof(Oid) * nargs); }) : nullptr;
	Datum *values =
	    nargs ? PgCall([&] { return (Datum *)palloc(sizeof(Datum) * nargs); }) : nullptr;
	char *nulls = PgCall([&] { return (char *)palloc0(nargs + 1); });
	for (int i = 0; i < nargs; i++) {
		types[i] = TEXTOID;
		if (args[i]) {
			const char *s = args[i]->c_str();
			values[i] = PgCall([&] { return PointerGetDatum(cstring_to_text(s)); });
			nulls[i] = ' ';
		} else {
			values[i] = (Datum)0;
			nulls[i] = 'n';
		}
	}
	const char *query = sql.c_str();
	SPIPlanPtr cached = nullptr;
	if (options.cache_plan) {
		static std::unordered_map<std::string, SPIPlanPtr> plans;
		auto it = plans.find(sql);
		if (it == plans.end()) {
			cached = PgCall([&] {
				SPIPlanPtr plan = SPI_prepare(query, nargs, types);
				if (plan == NULL) {
					elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
				}
				if (SPI_keepplan(plan) != 0) {
					elog(ERROR, "SPI_keepplan failed");
				}
				return plan;
			});
			it = plans.emplace(sql, cached).first;
		}
		cached = it->second;
	}
	int rc = PgCall([&] {
		if (cached != nullptr) {
			if (options.snapshot != nullptr) {
				return SPI_execute_snapshot(cached, values, nulls, options.snapshot,
				                            InvalidSnapshot, options.read_only, true,
				                            options.limit);
			}
			return SPI_execute_plan(cached, values, nulls, options.read_only, options.limit);
		}
		if (options.snapshot != nullptr) {
			SPIPlanPtr plan = SPI_prepare(query, nargs, types);
			if (plan == NULL) {
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			}
			return SPI_execute_snapshot(plan, values, nulls, options.snapshot, InvalidSnapshot,
			                            options.read_only, true, options.limit);
		}
		return SPI_execute_with_args(query, nargs, types, values, nulls, options.read_only,
		                             options.limit);
	});
	if (rc < 0) {
		throw core::Error(core::kSqlstateInternalError,
		                  std::string("SPI failed: ") + SPI_result_code_string(rc),
		                  "Statement: " + sql);
	}
	SpiResult result;
	result.processed = SPI_processed;
	SPITupleTable *table = SPI_tuptable;
	if (table != nullptr && table->tupdesc != nullptr) {
		int natts = table->tupdesc->natts;
		result.rows.reserve(SPI_processed);
		for (uint64 r = 0; r < SPI_processed; r++) {
			Row row;
			row.reserve(natts);
			HeapTuple tuple = table->vals[r];
			for (int c = 1; c <= natts; c++) {
				char *v = PgCall([&] { return SPI_getvalue(tuple, table->tupdesc, c); });
				if (v == nullptr) {
					row.emplace_back(std::nullopt);
				} else {
					row.emplace_back(std::string(v));
					pfree(v);
				}
			}
			result.rows.push_back(std::move(row));
		}
		PgCall([&] { SPI_freetuptable(table); });
	}
	return result;
}

PlanEstimate EstimateStatement(const std::string &sql, const std::vector<Value> &args) {
	int nargs = static_cast<int>(args.size());
	const char *query = sql.c_str();
	// The values as C strings, for the guarded call (no C++ object is built inside it).
	std::vector<const char *> texts;
	texts.reserve(args.size());
	for (const auto &a : args) {
		texts.push_back(a ? a->c_str() : nullptr);
	}
	const char *const *text_values = texts.data();
	PlanEstimate estimate;
	PlanEstimate *out = &estimate;
	PgCall([&] {
		// Parse trees and plans live in a context of their own, freed at the end (an error frees
		// it with the transaction's memory).
		MemoryContext planning = AllocSetContextCreate(CurrentMemoryContext, "pg_trickle estimate",
		                                               ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(planning);
		Oid *types = (Oid *)palloc(sizeof(Oid) * (nargs + 1));
		ParamListInfo params = makeParamList(nargs);
		for (int i = 0; i < nargs; i++) {
			types[i] = TEXTOID;
			ParamExternData *p = &params->params[i];
			p->isnull = text_values[i] == NULL;
			p->value = p->isnull ? (Datum)0 : PointerGetDatum(cstring_to_text(text_values[i]));
			p->pflags = PARAM_FLAG_CONST;
			p->ptype = TEXTOID;
		}
		List *raw = pg_parse_query(query);
		if (list_length(raw) != 1) {
			elog(ERROR, "pg_trickle: a cost estimate needs exactly one statement");
		}
		List *queries = pg_analyze_and_rewrite_fixedparams(linitial_node(RawStmt, raw), query,
		                                                   types, nargs, NULL);
		ListCell *lc;
		foreach (lc, queries) {
			Query *q = lfirst_node(Query, lc);
			if (q->commandType == CMD_UTILITY) {
				elog(ERROR, "pg_trickle: a cost estimate needs a planable statement");
			}
			PlannedStmt *stmt = pg_plan_query(q, query, 0, params);
			out->cost += stmt->planTree->total_cost;
			out->rows += stmt->planTree->plan_rows;
		}
		MemoryContextSwitchTo(old);
		MemoryContextDelete(planning);
	});
	return estimate;
}

double CpuTupleCost() {
	return cpu_tuple_cost;
}

SpiScope::SpiScope() : uncaught_(std::uncaught_exceptions()) {
	PgCall([] {
		if (SPI_connect() != SPI_OK_CONNECT) {
			elog(ERROR, "SPI_connect failed");
		}
	});
}

SpiScope::~SpiScope() {
	// On the error path the transaction abort disconnects SPI; calling SPI_finish there could
	// itself raise an error while an exception is in flight.
	if (std::uncaught_exceptions() == uncaught_) {
		SPI_finish();
	}
}

std::string QuoteIdent(const std::string &ident) {
	const char *s = ident.c_str();
	return std::string(PgCall([&] { return quote_identifier(s); }));
}

std::string QuoteLiteral(const std::string &literal) {
	const char *s = literal.c_str();
	return std::string(PgCall([&] { return quote_literal_cstr(s); }));
}

std::string QualifiedName(const std::string &schema, const std::string &name) {
	return QuoteIdent(schema) + "." + QuoteIdent(name);
}

std::string ClipName(const std::string &name, int max_bytes) {
	const char *s = name.c_str();
	int len = static_cast<int>(name.size());
	int clipped = PgCall([&] { return pg_mbcliplen(s, len, max_bytes); });
	return name.substr(0, static_cast<std::size_t>(clipped));
}

void InTransaction(const std::function<void()> &f) {
	PgCall([] {
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	});
	{
		SpiScope spi;
		f();
	}
	PgCall([] {
		PopActiveSnapshot();
		CommitTransactionCommand();
	});
}

} // namespace pgtrickle::bridge
