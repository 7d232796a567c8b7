-- Nexmark q20, expand bid with auction: bids on auctions of category 10 with the auction's
-- details.
SELECT b.auction, b.bidder, b.price, b.channel, b.date_time, a.item_name, a.initial_bid,
       a.reserve, a.expires, a.seller, a.category
FROM bid b JOIN auction a ON a.id = b.auction
WHERE a.category = 10
