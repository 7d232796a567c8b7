-- Secondary indexes a DBA would create for the Nexmark queries; run after the load, then ANALYZE.
CREATE INDEX bid_auction_idx ON bid (auction);
CREATE INDEX bid_bidder_idx ON bid (bidder);
CREATE INDEX auction_seller_idx ON auction (seller);
ANALYZE person, auction, bid, side_input;
