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

core::Error FromErrorData(const ErrorData *edata) {
	return core::Error(unpack_sql_state(edata->sqlerrcode), ToString(edata->message),
	                   ToString(edata->detail), ToString(edata->hint));
}

// Plain C copies of an error, so nothing with a destructor is alive when ereport longjmps.
struct RawError {
	int code;
	char *message;
	char *detail;
	char *hint;
};

RawError ToRaw(const core::Error &e) {
	return RawError{SqlstateToCode(e.Sqlstate()), pstrdup(e.what()),
	                e.Detail().empty() ? nullptr : pstrdup(e.Detail().c_str()),
	                e.Hint().empty() ? nullptr : pstrdup(e.Hint().c_str())};
}

[[noreturn]] void RaiseRaw(const RawError &raw) {
	ereport(ERROR, (errcode(raw.code), errmsg_internal("%s", raw.message),
	                raw.detail ? errdetail_internal("%s", raw.detail) : 0,
	                raw.hint ? errhint("%s", raw.hint) : 0));
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
		out->code = ERRCODE_OUT_OF_MEMORY;
		out->message = const_cast<char *>("out of memory");
		out->detail = nullptr;
		out->hint = nullptr;
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
