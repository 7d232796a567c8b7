// Running code as another role: catalog writes run as the extension's owner (users cannot write
// the catalog directly), refreshes run as the stream table's owner.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::bridge {

// Switches the current user for the scope (SetUserIdAndSecContext; never raises). A
// (sub)transaction abort restores the previous user by itself.
class AsUser {
  public:
	AsUser(Oid role, bool restricted);
	~AsUser();
	AsUser(const AsUser &) = delete;
	AsUser &operator=(const AsUser &) = delete;

  private:
	Oid saved_user_;
	int saved_context_;
};

// Owner of the pgtrickle schema (the role that created the extension). C++ regime.
Oid ExtensionOwner();

// Catalog writes: AsUser(ExtensionOwner()).
class AsExtensionOwner : public AsUser {
  public:
	AsExtensionOwner();
};

} // namespace pgtrickle::bridge
