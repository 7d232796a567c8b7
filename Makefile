# PGXS build of the pg_trickle module (C++17) and its pg_regress / isolation tests.
# The pure core, unit tests, benchmarks and end-to-end tests are built by CMakeLists.txt;
# both take the core sources from src/core/*.cpp.

EXTENSION = pg_trickle
MODULE_big = pg_trickle
DATA = $(sort $(wildcard sql/pg_trickle--*.sql))
PGFILEDESC = "pg_trickle - stream tables kept fresh by full or incremental refresh"

SRCS = $(sort $(wildcard src/*.cpp src/*/*.cpp))
OBJS = $(SRCS:.cpp=.o)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/pg_trickle--%,$(wildcard sql/*.sql))))
# Ports of the temporary instances (override to run several work trees at once).
REGRESS_PORT ?= 58432
ISOLATION_PORT ?= 58433
REGRESS_OPTS = --temp-instance=./tmp_check --port=$(REGRESS_PORT) --temp-config=tests/regress.conf --load-extension=pg_trickle
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --temp-instance=./tmp_check_iso --port=$(ISOLATION_PORT) --temp-config=tests/regress.conf --load-extension=pg_trickle

PG_CONFIG ?= pg_config
# Only the entry points PostgreSQL looks up by name are exported (PGDLLEXPORT); C++ symbols stay
# hidden so they cannot clash with other modules.
PG_CPPFLAGS = -Isrc -DPGDLLEXPORT='__attribute__((visibility("default")))'
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Wshadow -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-register -Wno-cast-function-type -fno-omit-frame-pointer \
	-fvisibility=hidden -fvisibility-inlines-hidden
ifeq ($(ERROR_ON_WARNING),1)
PG_CXXFLAGS += -Werror
endif
SHLIB_LINK += -lstdc++ -Wl,--version-script=$(srcdir)/src/exports.map

# No LLVM bitcode for the C++ objects.
override with_llvm := no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Header changes rebuild the objects that include them.
override CPPFLAGS += -MMD -MP
-include $(OBJS:.o=.d)

EXTRA_CLEAN = $(OBJS:.o=.d) results output_iso regression.diffs regression.out tmp_check tmp_check_iso

# Exported symbols: pgtrickle_*, pg_finfo_*, _PG_init and Pg_magic_func only.
.PHONY: check-exports
check-exports: $(shlib)
	@bad=$$(nm -D --defined-only $(shlib) | awk '{print $$3}' | grep -v -E '^(pgtrickle_|pg_finfo_pgtrickle_|_PG_init$$|Pg_magic_func$$)'); \
	if [ -n "$$bad" ]; then echo "unexpected exported symbols:"; echo "$$bad"; exit 1; fi; \
	echo "exported symbols OK"

.PHONY: format format-check
format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')
format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')
