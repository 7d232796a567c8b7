-- Nexmark q0, passthrough: every bid.
SELECT auction, bidder, price, date_time, extra FROM bid
