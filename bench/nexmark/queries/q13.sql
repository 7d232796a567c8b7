-- Nexmark q13, bounded side input join: bids joined with a static table.
SELECT b.auction, b.bidder, b.price, b.date_time, s.value
FROM bid b JOIN side_input s ON s.key = b.auction % 100
