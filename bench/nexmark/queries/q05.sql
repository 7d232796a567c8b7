-- Nexmark q5, hot items: per 10-second window (a fixed window on the event time), the auctions
-- with the most bids.
WITH counts AS (
    SELECT auction, date_bin('10 seconds', date_time, timestamp '2026-01-01') AS starttime,
           count(*) AS num
    FROM bid
    GROUP BY 1, 2
)
SELECT c.auction, c.starttime, c.num
FROM counts c
JOIN (SELECT starttime, max(num) AS maxn FROM counts GROUP BY starttime) m
  ON c.starttime = m.starttime AND c.num = m.maxn
