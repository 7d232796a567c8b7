// Implementation of the error bridge and the subtransaction helper (see guard.hpp).
#include "bridge/guard.hpp"

#include <cstring>
#include <new>
#include <string>

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

namespace pgtrickle::bridge {

namespace {

int SqlstateToCode(const std::string &sqlstate) {
	if (sqlstate.size() != 5) {
		return ERRCODE_INTERNAL_ERROR;
	}
	return MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
}

std::string Str(const char *s) {
	return s ? std::string(s) : std::string();
}

// Every field of a caught PostgreSQL error (the entry guard re-raises them all).
core::Error FromErrorData(const ErrorData *edata) {
	core::Error error(unpack_sql_state(edata->sqlerrcode), Str(edata->message), Str(edata->detail),
	                  Str(edata->hint));
	core::ErrorFields &f = error.MutableFields();
	f.detail_log = Str(edata->detail_log);
	f.context = Str(edata->context);
	f.schema_name = Str(edata->schema_name);
	f.table_name = Str(edata->table_name);
	f.column_name = Str(edata->column_name);
	f.datatype_name = Str(edata->datatype_name);
	f.constraint_name = Str(edata->constraint_name);
	f.cursorpos = edata->cursorpos;
	f.internalpos = edata->internalpos;
	f.internal_query = Str(edata->internalquery);
	return error;
}

// Plain C copies of an error, so nothing with a destructor is alive when ereport longjmps.
// NULL means "not set".
struct RawError {
	int code;
	char *message;
	char *detail;
	char *hint;
	char *detail_log;
	char *context;
	char *schema_name;
	char *table_name;
	char *column_name;
	char *datatype_name;
	char *constraint_name;
	int cursorpos;
	int internalpos;
	char *internal_query;
};

char *DupOrNull(const std::string &s) {
	return s.empty() ? nullptr : pstrdup(s.c_str());
}

RawError ToRaw(const core::Error &e) {
	const core::ErrorFields &f = e.Fields();
	RawError raw{};
	raw.code = SqlstateToCode(e.Sqlstate());
	raw.message = pstrdup(e.what());
	raw.detail = DupOrNull(e.Detail());
	raw.hint = DupOrNull(e.Hint());
	raw.detail_log = DupOrNull(f.detail_log);
	raw.context = DupOrNull(f.context);
	raw.schema_name = DupOrNull(f.schema_name);
	raw.table_name = DupOrNull(f.table_name);
	raw.column_name = DupOrNull(f.column_name);
	raw.datatype_name = DupOrNull(f.datatype_name);
	raw.constraint_name = DupOrNull(f.constraint_name);
	raw.cursorpos = f.cursorpos;
	raw.internalpos = f.internalpos;
	raw.internal_query = DupOrNull(f.internal_query);
	return raw;
}

// Raises the error with every field it carries. The original CONTEXT comes first; the error
// context callbacks active here (e.g. the PL/pgSQL function that called us) append their lines
// after it, exactly as for an error raised in place.
[[noreturn]] void RaiseRaw(const RawError &raw) {
	ereport(
	    ERROR,
	    (errcode(raw.code), errmsg_internal("%s", raw.message),
	     raw.detail ? errdetail_internal("%s", raw.detail) : 0,
	     raw.detail_log ? errdetail_log("%s", raw.detail_log) : 0,
	     raw.hint ? errhint("%s", raw.hint) : 0,
	     raw.context ? errcontext_msg("%s", raw.context) : 0,
	     raw.schema_name ? err_generic_string(PG_DIAG_SCHEMA_NAME, raw.schema_name) : 0,
	     raw.table_name ? err_generic_string(PG_DIAG_TABLE_NAME, raw.table_name) : 0,
	     raw.column_name ? err_generic_string(PG_DIAG_COLUMN_NAME, raw.column_name) : 0,
	     raw.datatype_name ? err_generic_string(PG_DIAG_DATATYPE_NAME, raw.datatype_name) : 0,
	     raw.constraint_name ? err_generic_string(PG_DIAG_CONSTRAINT_NAME, raw.constraint_name) : 0,
	     raw.cursorpos > 0 ? errposition(raw.cursorpos) : 0,
	     raw.internalpos > 0 ? internalerrposition(raw.internalpos) : 0,
	     raw.internal_query ? internalerrquery(raw.internal_query) : 0));
	pg_unreachable();
}

// Runs fn and, if it throws, returns the error as palloc'd C strings (PG regime).
bool CatchCpp(const std::function<void()> &fn, RawError *out) {
	try {
		fn();
		return false;
	} catch (const core::Error &e) {
		*out = ToRaw(e);
	} catch (const std::bad_alloc &) {
		*out = RawError{};
		out->code = ERRCODE_OUT_OF_MEMORY;
		out->message = const_cast<char *>("out of memory");
	} catch (const std::exception &e) {
		*out = ToRaw(core::Error(core::kSqlstateInternalError, e.what()));
	} catch (...) {
		*out = ToRaw(core::Error(core::kSqlstateInternalError, "unknown C++ exception"));
	}
	return true;
}

} // namespace

void RaiseError(const core::Error &error) {
	RawError raw = ToRaw(error);
	RaiseRaw(raw);
}

void RunCppOrRaise(const std::function<void()> &fn) {
	RawError raw{};
	if (CatchCpp(fn, &raw)) {
		RaiseRaw(raw);
	}
}

Datum InvokeGuarded(Datum (*impl)(FunctionCallInfo), FunctionCallInfo fcinfo) {
	Datum result = (Datum)0;
	RawError raw{};
	if (CatchCpp([&] { result = impl(fcinfo); }, &raw)) {
		RaiseRaw(raw);
	}
	return result;
}

namespace detail {

void PgCallImpl(void (*fn)(void *), void *arg) {
	MemoryContext oldcontext = CurrentMemoryContext;
	ErrorData *volatile edata = nullptr;
	PG_TRY();
	{ fn(arg); }
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	if (edata != nullptr) {
		core::Error error = FromErrorData(edata);
		FreeErrorData(edata);
		throw error;
	}
}

} // namespace detail

std::optional<core::Error> RunInSubtransaction(const std::function<void()> &fn) {
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData *volatile edata = nullptr;

	PgCall([] { BeginInternalSubTransaction(NULL); });
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		RunCppOrRaise(fn);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();

	if (edata != nullptr) {
		core::Error error = FromErrorData(edata);
		FreeErrorData(edata);
		return error;
	}
	return std::nullopt;
}

} // namespace pgtrickle::bridge
