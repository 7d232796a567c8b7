-- Nexmark q17, auction statistics report: per auction and minute.
SELECT auction, date_trunc('minute', date_time) AS minute,
       count(*) AS total_bids,
       count(*) FILTER (WHERE price < 10000) AS rank1_bids,
       count(*) FILTER (WHERE price >= 50000) AS rank3_bids,
       min(price) AS min_price, max(price) AS max_price, avg(price) AS avg_price,
       sum(price) AS sum_price
FROM bid
GROUP BY auction, date_trunc('minute', date_time)
