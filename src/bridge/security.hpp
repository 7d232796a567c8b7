// Running code as another role. The rule (SPEC §9, docs/security.md): a stream table's query, and
// every function it calls, is parsed, planned and run only as the stream table's owner inside a
// security-restricted operation (AsQueryOwner), like REFRESH MATERIALIZED VIEW does. Catalog
// writes run as the extension's owner (AsExtensionOwner; users cannot write the catalog
// directly) and must never wrap the planning or execution of user SQL.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::bridge {

// Switches the current user for the scope (SetUserIdAndSecContext; never raises). A
// (sub)transaction abort restores the previous user by itself. `restricted` adds
// SECURITY_RESTRICTED_OPERATION and a GUC nest level: settings user code changes inside the
// scope (set_config(..., false) included) are undone when it ends, so they cannot reach the
// caller's session. A restricted scope stays restricted in every scope nested in it.
class AsUser {
  public:
	AsUser(Oid role, bool restricted);
	~AsUser();
	AsUser(const AsUser &) = delete;
	AsUser &operator=(const AsUser &) = delete;

  private:
	Oid saved_user_;
	int saved_context_;
	int guc_nest_level_ = 0;
	int uncaught_;
};

// The scope in which user SQL of a stream table owned by `owner` may run: AsUser(owner, true).
class AsQueryOwner : public AsUser {
  public:
	explicit AsQueryOwner(Oid owner);
};

// Owner of the pgtrickle schema (the role that created the extension). C++ regime.
Oid ExtensionOwner();

// Catalog writes: AsUser(ExtensionOwner(), false). Inside an AsQueryOwner scope the operation
// stays security-restricted.
class AsExtensionOwner : public AsUser {
  public:
	AsExtensionOwner();
};

// Whether the current user may see what a stream table's change buffers and failures reveal
// (pending-change counts, error messages): a member of the owning role (superusers included)
// or of pg_read_all_stats, as pg_stat_activity shows other sessions' queries. C++ regime.
bool MaySeeDetails(Oid owner);

} // namespace pgtrickle::bridge
