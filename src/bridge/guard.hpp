// The two-way error bridge between C++ exceptions and PostgreSQL's ereport/longjmp, and the one
// internal-subtransaction helper. See docs/architecture.md, "Two regimes".
//
//  * Entry guard (PGT_FUNCTION, InvokeGuarded): every extern "C" function PostgreSQL calls runs its
//    C++ body inside try/catch; a caught exception is reported with ereport(ERROR) only after the
//    catch block is left, keeping SQLSTATE, detail and hint.
//  * Call guard (PgCall): C++ code calls anything that may ereport(ERROR) through PgCall, which
//    catches the PostgreSQL error, copies it out, flushes the error state and throws core::Error.
//    The lambda given to PgCall must not create C++ objects with destructors.
//  * RunInSubtransaction: runs C++ code in an internal subtransaction (the PL/pgSQL EXCEPTION
//    block pattern); on error the subtransaction is rolled back and the error returned.
#pragma once

#include "core/error.hpp"

#include <functional>
#include <optional>
#include <type_traits>

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

namespace pgtrickle::bridge {

// Raises the given error as a PostgreSQL ERROR. PG regime: does not return.
[[noreturn]] void RaiseError(const core::Error &error);

// Calls fn, converting any C++ exception into a PostgreSQL ERROR (raised after the catch block).
// PG regime (may ereport).
void RunCppOrRaise(const std::function<void()> &fn);

Datum InvokeGuarded(Datum (*impl)(FunctionCallInfo), FunctionCallInfo fcinfo);

namespace detail {
// Runs fn(arg) under PG_TRY; a PostgreSQL error is copied, flushed and thrown as core::Error.
void PgCallImpl(void (*fn)(void *), void *arg);
} // namespace detail

// Call guard: runs a PG-regime lambda; PostgreSQL errors become core::Error exceptions.
template <typename F> auto PgCall(F &&f) {
	using R = decltype(f());
	if constexpr (std::is_void_v<R>) {
		detail::PgCallImpl([](void *p) { (*static_cast<std::remove_reference_t<F> *>(p))(); }, &f);
	} else {
		struct Ctx {
			std::remove_reference_t<F> *f;
			R result;
		} ctx{&f, R{}};
		detail::PgCallImpl(
		    [](void *p) {
			    auto *c = static_cast<Ctx *>(p);
			    c->result = (*c->f)();
		    },
		    &ctx);
		return ctx.result;
	}
}

// Runs fn (C++ regime) inside an internal subtransaction of the current transaction. On success
// the subtransaction is released (its work becomes part of the enclosing transaction) and nullopt
// is returned; on any error it is rolled back and the error is returned. Memory context and
// resource owner are restored in both cases. Must be called inside a transaction.
std::optional<core::Error> RunInSubtransaction(const std::function<void()> &fn);

// Copies a palloc'd-or-not C string into std::string ("" for NULL).
inline std::string ToString(const char *s) {
	return s ? std::string(s) : std::string();
}

} // namespace pgtrickle::bridge

// Defines a SQL-callable C function whose body is C++ and runs under the entry guard:
//   PGT_FUNCTION(pgtrickle_version) { ... return Datum; }
#define PGT_FUNCTION(name)                                                                         \
	extern "C" {                                                                                   \
	PG_FUNCTION_INFO_V1(name);                                                                     \
	}                                                                                              \
	static Datum name##_impl(FunctionCallInfo fcinfo);                                             \
	extern "C" PGDLLEXPORT Datum name(PG_FUNCTION_ARGS) {                                          \
		return pgtrickle::bridge::InvokeGuarded(name##_impl, fcinfo);                              \
	}                                                                                              \
	static Datum name##_impl(FunctionCallInfo fcinfo)
