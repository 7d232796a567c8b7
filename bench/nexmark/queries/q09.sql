-- Nexmark q9, winning bids: each auction with its highest bid placed while it was open (earliest
-- bid first on a tie), with row_number.
SELECT id, item_name, seller, category, bid_id, price, bidder, bid_time
FROM (SELECT a.id, a.item_name, a.seller, a.category, b.id AS bid_id, b.price, b.bidder,
             b.date_time AS bid_time,
             row_number() OVER (PARTITION BY a.id ORDER BY b.price DESC, b.date_time, b.id) AS rn
      FROM auction a JOIN bid b ON a.id = b.auction
      WHERE b.date_time BETWEEN a.date_time AND a.expires) w
WHERE rn = 1
