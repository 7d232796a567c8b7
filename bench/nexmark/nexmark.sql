-- Nexmark event generator and update stream, in SQL (schema `nexmark`).
--
-- Run after schema.sql (which creates person, auction, bid and side_input in the current schema):
--     SELECT nexmark.generate(n_events => 100000, seed => 1);   -- load the first n events
--     (indexes.sql)                                            -- secondary indexes, ANALYZE
--     SELECT nexmark.step(1000, cycle);                         -- one cycle (below)
--
-- The event stream follows Nexmark's proportions and id scheme: in every block of 50 events, event
-- 0 is a new person, events 1-3 are new auctions and events 4-49 are bids. Event e happens at
-- 2026-01-01 00:00 + e x 10 ms (event time, the date_time columns; `timestamp`, so that bucketing
-- it with date_bin/date_trunc is IMMUTABLE). Person ids are 1000 + e / 50, auction ids
-- 1000 + 3 x (e / 50) + (e % 50 - 1), bid ids are their event number. A bid goes to one of the 10
-- newest auctions half of the time ("hot" auctions) and to one of the 200 newest otherwise; its
-- bidder is one of the 10 (or 100) newest persons; an auction's seller one of the 100 newest
-- persons; auctions expire 5-60 s after they open; categories are 10-19.
--
-- Determinism: every random value is a hash of (seed, stream, key) through hashint8extended (as in
-- bench/tpch/tpch.sql), never random(): a seed and a number of events give the same rows whatever
-- the plan, and step() is deterministic given the data it runs on, the seed and the cycle.
--
-- nexmark.step(n, cycle), in the caller's transaction:
--   * appends the next n events (persons, auctions, bids);
--   * corrects the price of n/100 recent bids (among the last 20,000 events) (UPDATE);
--   * retracts n/100 bids chosen among all events so far (DELETE; an id that is not a live bid
--     is skipped);
--   * moves max(1, n/500) persons to another city and state (UPDATE);
--   * recategorizes max(1, n/500) auctions and extends their expiry (UPDATE);
--   * cancels one auction (DELETE; its bids stay, as orphans, which the joins drop).

CREATE SCHEMA IF NOT EXISTS nexmark;

-- Uniform random integer in [lo, hi] from (seed, stream, key).
CREATE FUNCTION nexmark.rnd(seed bigint, stream integer, key bigint, lo bigint, hi bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lo + (hashint8extended(key * 131 + stream, seed) & 9223372036854775807) % (hi - lo + 1);

-- Event time of event e.
CREATE FUNCTION nexmark.event_time(e bigint) RETURNS timestamp LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN timestamp '2026-01-01 00:00:00' + e * interval '10 milliseconds';

-- Word i of a small list, chosen by a hash.
CREATE FUNCTION nexmark.word(seed bigint, stream integer, key bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY['vintage', 'red', 'antique', 'signed', 'rare', 'mint', 'lamp', 'chair', 'guitar',
              'watch', 'camera', 'book', 'poster', 'bicycle', 'vase', 'coin'])
       [1 + nexmark.rnd(seed, stream, key, 0, 15)::int];

CREATE TABLE nexmark.params (
    seed       bigint NOT NULL,
    next_event bigint NOT NULL
);

-- Insert events lo .. hi - 1.
CREATE FUNCTION nexmark.insert_events(seed bigint, lo bigint, hi bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO person
    SELECT 1000 + e / 50,
           (ARRAY['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah',
                  'Deiter', 'Walter'])[1 + nexmark.rnd(seed, 1, e, 0, 10)::int] || ' ' ||
           (ARRAY['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones',
                  'Noris'])[1 + nexmark.rnd(seed, 2, e, 0, 8)::int],
           left(md5(seed::text || 'mail' || e::text), 7) || '@' ||
               left(md5(e::text || 'dom' || seed::text), 5) || '.com',
           nexmark.rnd(seed, 3, e, 1000, 9999)::text || ' ' || nexmark.rnd(seed, 4, e, 1000, 9999)::text
               || ' ' || nexmark.rnd(seed, 5, e, 1000, 9999)::text || ' '
               || nexmark.rnd(seed, 6, e, 1000, 9999)::text,
           (ARRAY['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend',
                  'Redmond', 'Seattle', 'Kent', 'Cheyenne'])[1 + nexmark.rnd(seed, 7, e, 0, 9)::int],
           (ARRAY['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'])[1 + nexmark.rnd(seed, 8, e, 0, 5)::int],
           nexmark.event_time(e),
           left(md5(seed::text || 'px' || e::text), nexmark.rnd(seed, 9, e, 0, 16)::int)
    FROM generate_series(((lo + 49) / 50) * 50, hi - 1, 50) e;

    INSERT INTO auction
    SELECT 1000 + 3 * (e / 50) + (e % 50 - 1),
           nexmark.word(seed, 20, e) || ' ' || nexmark.word(seed, 21, e),
           nexmark.word(seed, 22, e) || ' ' || nexmark.word(seed, 23, e) || ' '
               || nexmark.word(seed, 24, e),
           nexmark.rnd(seed, 25, e, 1, 1000),
           nexmark.rnd(seed, 25, e, 1, 1000) + nexmark.rnd(seed, 26, e, 1, 5000),
           nexmark.event_time(e),
           nexmark.event_time(e) + nexmark.rnd(seed, 27, e, 5, 60) * interval '1 second',
           greatest(1000, 1000 + e / 50 - nexmark.rnd(seed, 28, e, 0, 99)),
           nexmark.rnd(seed, 29, e, 10, 19)::int,
           left(md5(seed::text || 'ax' || e::text), nexmark.rnd(seed, 30, e, 0, 16)::int)
    FROM generate_series(lo, hi - 1) e
    WHERE e % 50 BETWEEN 1 AND 3;

    INSERT INTO bid
    SELECT e,
           greatest(1000, 1000 + 3 * (e / 50) + 2 -
                    CASE WHEN nexmark.rnd(seed, 40, e, 0, 1) = 0 THEN nexmark.rnd(seed, 41, e, 0, 9)
                         ELSE nexmark.rnd(seed, 42, e, 0, 199) END),
           greatest(1000, 1000 + e / 50 -
                    CASE WHEN nexmark.rnd(seed, 43, e, 0, 1) = 0 THEN nexmark.rnd(seed, 44, e, 0, 9)
                         ELSE nexmark.rnd(seed, 45, e, 0, 99) END),
           nexmark.rnd(seed, 46, e, 100, 100000),
           CASE WHEN nexmark.rnd(seed, 47, e, 0, 9) < 9
                THEN (ARRAY['Google', 'Facebook', 'Baidu', 'Apple'])[1 + nexmark.rnd(seed, 48, e, 0, 3)::int]
                ELSE 'channel-' || nexmark.rnd(seed, 49, e, 0, 9999)::text END,
           'https://www.nexmark.com/' || nexmark.word(seed, 50, e) || '/' || nexmark.word(seed, 51, e)
               || '/item.htm?query=1&channel_id=' || nexmark.rnd(seed, 52, e, 0, 999)::text,
           nexmark.event_time(e),
           left(md5(seed::text || 'bx' || e::text), nexmark.rnd(seed, 53, e, 0, 16)::int)
    FROM generate_series(lo, hi - 1) e
    WHERE e % 50 >= 4;
END
$$;

-- Load the first n_events events into the (empty) tables, and the side input.
CREATE FUNCTION nexmark.generate(n_events bigint, seed bigint DEFAULT 1) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM nexmark.params;
    INSERT INTO nexmark.params VALUES (seed, n_events);
    PERFORM nexmark.insert_events(seed, 0, n_events);
    INSERT INTO side_input SELECT k, 'side-' || k FROM generate_series(0, 99) k;
END
$$;

-- k random numbers in [lo, hi) for (stream, cycle).
CREATE FUNCTION nexmark.pick(seed bigint, stream integer, cycle integer, k bigint, lo bigint, hi bigint)
RETURNS bigint[] LANGUAGE sql IMMUTABLE
RETURN (SELECT coalesce(array_agg(nexmark.rnd(seed, stream, cycle::bigint * 1000003 + i, lo,
                                              greatest(lo, hi - 1))), '{}')
        FROM generate_series(1, k) i);

-- One cycle: the next n events plus the update stream (see the top of this file). Returns the
-- number of rows changed.
CREATE FUNCTION nexmark.step(n bigint DEFAULT 1000, cycle integer DEFAULT 0) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    p nexmark.params;
    rows bigint := n;
    c bigint;
    hi bigint;
BEGIN
    SELECT * INTO STRICT p FROM nexmark.params;
    hi := p.next_event + n;
    PERFORM nexmark.insert_events(p.seed, p.next_event, hi);
    UPDATE nexmark.params SET next_event = hi;

    UPDATE bid SET price = price + nexmark.rnd(p.seed, 60, id * 7 + cycle, 1, 1000)
    WHERE id = ANY (nexmark.pick(p.seed, 61, cycle, n / 100, greatest(0, hi - 20000), hi));
    GET DIAGNOSTICS c = ROW_COUNT;
    rows := rows + c;
    DELETE FROM bid WHERE id = ANY (nexmark.pick(p.seed, 62, cycle, n / 100, 0, hi));
    GET DIAGNOSTICS c = ROW_COUNT;
    rows := rows + c;
    UPDATE person
    SET city = (ARRAY['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend',
                      'Redmond', 'Seattle', 'Kent', 'Cheyenne'])[1 + nexmark.rnd(p.seed, 63, id + cycle, 0, 9)::int],
        state = (ARRAY['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'])[1 + nexmark.rnd(p.seed, 64, id + cycle, 0, 5)::int]
    WHERE id = ANY (nexmark.pick(p.seed, 65, cycle, greatest(1, n / 500), 1000, 1000 + hi / 50));
    GET DIAGNOSTICS c = ROW_COUNT;
    rows := rows + c;
    UPDATE auction
    SET category = nexmark.rnd(p.seed, 66, id + cycle, 10, 19)::int,
        expires = expires + nexmark.rnd(p.seed, 67, id + cycle, 1, 10) * interval '1 second'
    WHERE id = ANY (nexmark.pick(p.seed, 68, cycle, greatest(1, n / 500), 1000, 1000 + 3 * (hi / 50)));
    GET DIAGNOSTICS c = ROW_COUNT;
    rows := rows + c;
    DELETE FROM auction WHERE id = ANY (nexmark.pick(p.seed, 69, cycle, 1, 1000, 1000 + 3 * (hi / 50)));
    GET DIAGNOSTICS c = ROW_COUNT;
    RETURN rows + c;
END
$$;
