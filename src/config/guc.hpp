// pg_trickle.* configuration parameters (SPEC §3.3). Defined in _PG_init; read everywhere else.
#pragma once

namespace pgtrickle::config {

extern bool enabled;
extern int scheduler_interval_ms;
extern int min_schedule_seconds;
extern int max_consecutive_errors;
extern int diamond_consistency;     // core::DiamondConsistency as int
extern int diamond_schedule_policy; // core::SchedulePolicy as int
extern char *change_buffer_schema;
extern double differential_max_change_ratio;
extern double auto_full_min_saving;
extern int max_buffer_rows; // 0: unbounded

// Registers every GUC. PG regime; called from _PG_init.
void DefineGucs();

} // namespace pgtrickle::config
