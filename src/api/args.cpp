// Argument and result helpers (see args.hpp).
#include "api/args.hpp"

extern "C" {
#include "postgres.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
}

namespace pgtrickle::api {

using bridge::PgCall;

std::optional<std::string> TextArg(FunctionCallInfo fcinfo, int i) {
	if (PG_NARGS() <= i || PG_ARGISNULL(i)) {
		return std::nullopt;
	}
	char *s = PgCall([&] { return text_to_cstring(PG_GETARG_TEXT_PP(i)); });
	std::string out(s);
	pfree(s);
	return out;
}

std::string RequiredTextArg(FunctionCallInfo fcinfo, int i, const char *what) {
	auto v = TextArg(fcinfo, i);
	if (!v) {
		throw core::Error("22004", std::string(what) + " must not be null");
	}
	return *v;
}

std::optional<bool> BoolArg(FunctionCallInfo fcinfo, int i) {
	if (PG_NARGS() <= i || PG_ARGISNULL(i)) {
		return std::nullopt;
	}
	return PG_GETARG_BOOL(i);
}

std::optional<int> IntArg(FunctionCallInfo fcinfo, int i) {
	if (PG_NARGS() <= i || PG_ARGISNULL(i)) {
		return std::nullopt;
	}
	return PG_GETARG_INT32(i);
}

Datum ReturnRows(FunctionCallInfo fcinfo, const std::vector<TextRow> &rows) {
	PgCall([&] { InitMaterializedSRF(fcinfo, 0); });
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	AttInMetadata *meta = PgCall([&] { return TupleDescGetAttInMetadata(rsinfo->setDesc); });
	int natts = rsinfo->setDesc->natts;
	char **values = PgCall([&] { return (char **)palloc0(sizeof(char *) * (natts + 1)); });
	for (const auto &row : rows) {
		for (int c = 0; c < natts; c++) {
			values[c] = (c < static_cast<int>(row.size()) && row[c])
			                ? const_cast<char *>(row[c]->c_str())
			                : nullptr;
		}
		PgCall([&] {
			HeapTuple tuple = BuildTupleFromCStrings(meta, values);
			tuplestore_puttuple(rsinfo->setResult, tuple);
		});
	}
	return (Datum)0;
}

} // namespace pgtrickle::api
