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

} // namespace pgtrickle::bridge
