-- Nexmark q18, find last bid: the last bid of each bidder on each auction.
SELECT id, auction, bidder, price, date_time
FROM (SELECT id, auction, bidder, price, date_time,
             row_number() OVER (PARTITION BY bidder, auction ORDER BY date_time DESC, id DESC) AS rn
      FROM bid) b
WHERE rn = 1
