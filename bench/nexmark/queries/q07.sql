-- Nexmark q7, highest bid: per 10-second window, the bids at the highest price.
SELECT b.auction, b.price, b.bidder, b.date_time
FROM bid b
JOIN (SELECT date_bin('10 seconds', date_time, timestamp '2026-01-01') AS starttime,
             max(price) AS maxprice
      FROM bid GROUP BY 1) m
  ON date_bin('10 seconds', b.date_time, timestamp '2026-01-01') = m.starttime
 AND b.price = m.maxprice
