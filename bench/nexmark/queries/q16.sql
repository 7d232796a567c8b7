-- Nexmark q16, channel statistics report: per channel and minute.
SELECT channel, date_trunc('minute', date_time) AS minute,
       count(*) AS total_bids,
       count(*) FILTER (WHERE price < 10000) AS rank1_bids,
       count(*) FILTER (WHERE price >= 50000) AS rank3_bids,
       count(DISTINCT bidder) AS total_bidders,
       count(DISTINCT auction) AS total_auctions
FROM bid
GROUP BY channel, date_trunc('minute', date_time)
