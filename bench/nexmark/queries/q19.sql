-- Nexmark q19, auction top-K: the 10 highest bids of each auction.
SELECT id, auction, bidder, price, rn
FROM (SELECT id, auction, bidder, price,
             row_number() OVER (PARTITION BY auction ORDER BY price DESC, id) AS rn
      FROM bid) b
WHERE rn <= 10
