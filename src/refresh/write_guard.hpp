// Protects storage tables from DML by anyone but the extension: a statement trigger refuses
// writes unless this backend is inside an InternalWriteScope (a refresh).
#pragma once

namespace pgtrickle::refresh {

// Marks the current backend as writing stream-table storage for the scope's lifetime.
class InternalWriteScope {
  public:
	InternalWriteScope();
	~InternalWriteScope();
	InternalWriteScope(const InternalWriteScope &) = delete;
	InternalWriteScope &operator=(const InternalWriteScope &) = delete;
};

// Resets the flag when a transaction or subtransaction aborts (an error may skip destructors
// in PG-regime code). Called from _PG_init.
void RegisterWriteGuardCallbacks();

} // namespace pgtrickle::refresh
