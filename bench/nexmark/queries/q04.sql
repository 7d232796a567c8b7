-- Nexmark q4, average price per category: the average of the winning (highest) bids, placed
-- while the auction was open, of the auctions of each category.
SELECT q.category, avg(q.final) AS avg_final
FROM (SELECT a.id, a.category, max(b.price) AS final
      FROM auction a JOIN bid b ON a.id = b.auction
      WHERE b.date_time BETWEEN a.date_time AND a.expires
      GROUP BY a.id, a.category) q
GROUP BY q.category
