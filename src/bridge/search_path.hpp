// Pins search_path = pg_catalog, pg_temp for the scope, so that SQL the extension runs (often as
// the extension owner) and stored defining queries resolve the same way whoever calls.
#pragma once

namespace pgtrickle::bridge {

class PinnedSearchPath {
  public:
	PinnedSearchPath();
	~PinnedSearchPath();
	PinnedSearchPath(const PinnedSearchPath &) = delete;
	PinnedSearchPath &operator=(const PinnedSearchPath &) = delete;

  private:
	int nest_level_;
	int uncaught_;
};

// Sets one setting for the scope, as SET LOCAL would for a statement: restored when the scope
// ends, also when a C++ exception leaves it (a caller may catch it and go on in the same
// transaction, where no abort would pop the setting). `context` is the setting's GucContext.
// Construct in the C++ regime (the setting is applied through the call guard).
class ScopedSetting {
  public:
	ScopedSetting(const char *name, const char *value, int context);
	~ScopedSetting();
	ScopedSetting(const ScopedSetting &) = delete;
	ScopedSetting &operator=(const ScopedSetting &) = delete;

  private:
	int nest_level_;
	int uncaught_;
};

} // namespace pgtrickle::bridge
