-- Nexmark q11, user sessions: a bidder's session ends after 10 seconds without a bid; the number
-- of bids of each session (session windows, with lag and a running sum).
SELECT bidder, session, count(*) AS bid_count, min(date_time) AS starttime,
       max(date_time) AS endtime
FROM (SELECT bidder, date_time,
             sum(new_session) OVER (PARTITION BY bidder ORDER BY date_time, id) AS session
      FROM (SELECT bidder, date_time, id,
                   CASE WHEN date_time - lag(date_time) OVER (PARTITION BY bidder ORDER BY date_time, id)
                             <= interval '10 seconds'
                        THEN 0 ELSE 1 END AS new_session
            FROM bid) s) t
GROUP BY bidder, session
