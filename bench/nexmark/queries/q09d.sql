-- Nexmark q9 written with DISTINCT ON (the same rows as q09).
SELECT DISTINCT ON (a.id) a.id, a.item_name, a.seller, a.category, b.id AS bid_id, b.price,
       b.bidder, b.date_time AS bid_time
FROM auction a JOIN bid b ON a.id = b.auction
WHERE b.date_time BETWEEN a.date_time AND a.expires
ORDER BY a.id, b.price DESC, b.date_time, b.id
