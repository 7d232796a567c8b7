// Protects storage tables from DML by anyone but the extension: a statement trigger refuses
// writes unless this backend is inside an InternalWriteScope (a refresh) for that very table.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::refresh {

// Marks the current backend as writing the storage table `relid` for the scope's lifetime. Only
// that table: a trigger of the owner firing during the refresh cannot write another stream table.
class InternalWriteScope {
  public:
	explicit InternalWriteScope(Oid relid);
	~InternalWriteScope();
	InternalWriteScope(const InternalWriteScope &) = delete;
	InternalWriteScope &operator=(const InternalWriteScope &) = delete;
};

// Resets the flag when a transaction or subtransaction aborts (an error may skip destructors
// in PG-regime code). Called from _PG_init.
void RegisterWriteGuardCallbacks();

} // namespace pgtrickle::refresh
