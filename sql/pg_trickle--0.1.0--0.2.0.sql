-- pg_trickle 0.1.0 -> 0.2.0 upgrade script (ALTER EXTENSION pg_trickle UPDATE TO '0.2.0').
-- Every catalog change made in 0.2.0 appears twice: in pg_trickle--0.2.0.sql (fresh installs)
-- and here (upgrades); the ext_update test checks that both give identical catalogs.

\echo Use "ALTER EXTENSION pg_trickle UPDATE TO '0.2.0'" to load this file. \quit
