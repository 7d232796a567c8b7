// Role switching helpers (see security.hpp).
#include "bridge/security.hpp"

#include "bridge/guard.hpp"

#include <exception>

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/syscache.h"
}

namespace pgtrickle::bridge {

AsUser::AsUser(Oid role, bool restricted) : uncaught_(std::uncaught_exceptions()) {
	GetUserIdAndSecContext(&saved_user_, &saved_context_);
	int context = saved_context_ | SECURITY_LOCAL_USERID_CHANGE;
	if (restricted) {
		context |= SECURITY_RESTRICTED_OPERATION;
	}
	SetUserIdAndSecContext(role, context);
	if (restricted) {
		guc_nest_level_ = NewGUCNestLevel();
	}
}

AsUser::~AsUser() {
	// Settings changed inside are discarded. On the error path the (sub)transaction abort pops
	// the level itself (as in PinnedSearchPath); AtEOXact_GUC only restores saved values.
	if (guc_nest_level_ > 0 && std::uncaught_exceptions() == uncaught_) {
		AtEOXact_GUC(false, guc_nest_level_);
	}
	SetUserIdAndSecContext(saved_user_, saved_context_);
}

AsQueryOwner::AsQueryOwner(Oid owner) : AsUser(owner, true) {
}

Oid ExtensionOwner() {
	return PgCall([]() -> Oid {
		Oid nsp = get_namespace_oid("pgtrickle", false);
		HeapTuple tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
		if (!HeapTupleIsValid(tuple)) {
			elog(ERROR, "cache lookup failed for namespace %u", nsp);
		}
		Oid owner = ((Form_pg_namespace)GETSTRUCT(tuple))->nspowner;
		ReleaseSysCache(tuple);
		return owner;
	});
}

AsExtensionOwner::AsExtensionOwner() : AsUser(ExtensionOwner(), false) {
}

bool MaySeeDetails(Oid owner) {
	return PgCall([&] {
		Oid user = GetUserId();
		return has_privs_of_role(user, owner) || has_privs_of_role(user, ROLE_PG_READ_ALL_STATS);
	});
}

} // namespace pgtrickle::bridge
