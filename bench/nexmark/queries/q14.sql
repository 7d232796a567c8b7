-- Nexmark q14, calculation: bids converted to euros between 10,000 and 50,000, with their part
-- of the day and the number of c in extra.
SELECT auction, bidder, 0.908 * price AS price,
       CASE WHEN extract(hour FROM date_time) >= 8 AND extract(hour FROM date_time) <= 18
            THEN 'dayTime'
            WHEN extract(hour FROM date_time) <= 6 OR extract(hour FROM date_time) >= 20
            THEN 'nightTime'
            ELSE 'otherTime' END AS bid_time_type,
       date_time, extra,
       length(extra) - length(replace(extra, 'c', '')) AS c_counts
FROM bid
WHERE 0.908 * price > 10000 AND 0.908 * price < 50000
