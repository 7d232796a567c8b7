// Included last by every file in src/core: the core must never see PostgreSQL headers.
#pragma once
#ifdef POSTGRES_H
static_assert(false, "src/core must not include postgres.h");
#endif
