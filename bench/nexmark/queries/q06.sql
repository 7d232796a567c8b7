-- Nexmark q6, average selling price per seller: for each auction, the average winning bid of
-- its seller's last 10 auctions (ordered by expiry) up to this one.
SELECT q.seller, q.id, q.expires,
       avg(q.final) OVER (PARTITION BY q.seller ORDER BY q.expires, q.id
                          ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS avg_final
FROM (SELECT a.id, a.seller, a.expires, max(b.price) AS final
      FROM auction a JOIN bid b ON a.id = b.auction
      WHERE b.date_time BETWEEN a.date_time AND a.expires
      GROUP BY a.id, a.seller, a.expires) q
