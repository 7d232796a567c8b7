-- Nexmark: the three event streams as tables (in the current schema), with their event times.
-- Run before nexmark.sql. A bid has a key of its own (its event number), so that the update stream
-- can correct and retract single bids; persons and auctions keep Nexmark's ids.
CREATE TABLE person (
    id            bigint PRIMARY KEY,
    name          text NOT NULL,
    email_address text NOT NULL,
    credit_card   text NOT NULL,
    city          text NOT NULL,
    state         text NOT NULL,
    date_time     timestamp NOT NULL,
    extra         text NOT NULL
);

CREATE TABLE auction (
    id          bigint PRIMARY KEY,
    item_name   text NOT NULL,
    description text NOT NULL,
    initial_bid bigint NOT NULL,
    reserve     bigint NOT NULL,
    date_time   timestamp NOT NULL,
    expires     timestamp NOT NULL,
    seller      bigint NOT NULL,
    category    integer NOT NULL,
    extra       text NOT NULL
);

CREATE TABLE bid (
    id        bigint PRIMARY KEY,
    auction   bigint NOT NULL,
    bidder    bigint NOT NULL,
    price     bigint NOT NULL,
    channel   text NOT NULL,
    url       text NOT NULL,
    date_time timestamp NOT NULL,
    extra     text NOT NULL
);

-- Nexmark q13's side input: a small static table keyed by auction id modulo 100.
CREATE TABLE side_input (
    key   bigint PRIMARY KEY,
    value text NOT NULL
);
