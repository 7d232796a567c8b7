-- Nexmark q8, monitor new users: persons who opened an auction in the 10-second window in which
-- they registered.
SELECT DISTINCT p.id, p.name, date_bin('10 seconds', p.date_time, timestamp '2026-01-01') AS starttime
FROM person p
JOIN auction a
  ON a.seller = p.id
 AND date_bin('10 seconds', a.date_time, timestamp '2026-01-01')
     = date_bin('10 seconds', p.date_time, timestamp '2026-01-01')
