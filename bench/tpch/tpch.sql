-- TPC-H data generator, refresh functions and update stream, in SQL (schema `tpch`).
--
-- Run after schema.sql (which creates the eight tables in the current schema); then
--     SELECT tpch.generate(sf => 0.01, seed => 1);   -- load
--     (constraints.sql)                                -- foreign keys, indexes, ANALYZE
--     SELECT tpch.rf1(0.001, cycle);                   -- insert 0.1 % new orders with lineitems
--     SELECT tpch.rf2(0.001);                          -- delete the 0.1 % oldest orders
--     SELECT tpch.updates(0.001, cycle);               -- the update stream (see below)
--
-- Determinism: every random value is a hash of (seed, stream, key) through hashint8extended, never
-- random(), so a given seed and scale factor give the same rows whatever the plan, the order of
-- evaluation or parallelism; RF1, RF2 and the updates are deterministic given the data they run
-- on, the seed and the cycle number.
--
-- Distributions follow the TPC-H specification (3.0.1, clause 4.2.3) where the 22 queries depend
-- on them: cardinalities (SF x 10,000 suppliers, 200,000 parts, 4 suppliers per part with the
-- spec's supplier formula, 150,000 customers, 1,500,000 orders with 1-7 lineitems each), sparse
-- order keys (8 of every 32), customers whose key is a multiple of 3 place no orders, order dates
-- 1992-01-01 .. 1998-08-02, ship/commit/receipt date offsets, return flag and line status against
-- CURRENTDATE 1995-06-17, order status and total price derived from the lineitems, the retail
-- price formula, the word lists of part names, types, containers, segments, priorities, ship modes
-- and instructions, phone numbers whose country code is nation key + 10. Simplified: comments are
-- up to ten words drawn from a 64-word list (containing "special" and "requests", for Q13), and
-- 1 % of suppliers (the spec: 0.05 %) carry "Customer ... Complaints" in their comment (for Q16),
-- so that Q16's NOT IN has something to exclude at SF 0.01.

CREATE SCHEMA IF NOT EXISTS tpch;

-- Uniform random integer in [lo, hi] from (seed, stream, key).
CREATE FUNCTION tpch.rnd(seed bigint, stream integer, key bigint, lo bigint, hi bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lo + (hashint8extended(key * 131 + stream, seed) & 9223372036854775807) % (hi - lo + 1);

-- Word i (0..9) of a comment: six bits of hash h pick one of 64 words.
CREATE FUNCTION tpch.word(h bigint, i integer) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY[
    'furiously', 'slyly', 'carefully', 'blithely', 'quickly', 'fluffily', 'final', 'ironic',
    'even', 'bold', 'silent', 'regular', 'express', 'pending', 'special', 'unusual',
    'foxes', 'ideas', 'theodolites', 'pinto', 'beans', 'instructions', 'dependencies',
    'excuses', 'platelets', 'asymptotes', 'courts', 'dolphins', 'requests', 'accounts',
    'packages', 'deposits', 'sleep', 'wake', 'are', 'cajole', 'haggle', 'nag', 'use', 'boost',
    'affix', 'detect', 'integrate', 'maintain', 'nod', 'was', 'lose', 'sublate', 'solve',
    'thrash', 'promise', 'engage', 'about', 'above', 'according', 'to', 'across', 'after',
    'against', 'along', 'among', 'around', 'the', 'furious'])[1 + ((h >> (6 * i)) & 63)::int];

-- A comment of up to ten words from one hash, cut to 20..maxlen characters (plain expressions
-- only, so that PostgreSQL inlines it: the generator calls it once per row).
CREATE FUNCTION tpch.comment(seed bigint, stream integer, key bigint, maxlen integer)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN rtrim(left(tpch.word(hashint8extended(key * 131 + stream, seed), 0) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 1) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 2) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 3) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 4) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 5) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 6) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 7) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 8) || ' ' ||
                  tpch.word(hashint8extended(key * 131 + stream, seed), 9),
                  tpch.rnd(seed, stream + 1000, key, least(20, maxlen), maxlen)::int));

-- A phone number of nation `nk` (country code nk + 10).
CREATE FUNCTION tpch.phone(seed bigint, stream integer, key bigint, nk integer)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (nk + 10)::text || '-' || tpch.rnd(seed, stream, key, 100, 999)::text || '-'
       || tpch.rnd(seed, stream + 1, key, 100, 999)::text || '-'
       || tpch.rnd(seed, stream + 2, key, 1000, 9999)::text;

-- A random address of 10-40 characters.
CREATE FUNCTION tpch.address(seed bigint, stream integer, key bigint)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN left(md5(seed::text || '/' || stream::text || '/' || key::text)
            || md5(key::text || '/' || seed::text),
            tpch.rnd(seed, stream, key, 10, 40)::int);

-- The order key of the i-th order (1-based): 8 of every 32 keys are used, as in dbgen.
CREATE FUNCTION tpch.orderkey(i bigint) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((i - 1) / 8) * 32 + (i - 1) % 8 + 1;

-- Retail price of a part (spec 4.2.3).
CREATE FUNCTION tpch.retailprice(pk bigint) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN round((90000 + ((pk / 10) % 20001) + 100 * (pk % 1000))::numeric / 100, 2);

-- The j-th (0..3) supplier of part pk among nsupp suppliers (spec 4.2.3, PS_SUPPKEY).
CREATE FUNCTION tpch.partsupp_suppkey(pk bigint, j bigint, nsupp bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (pk + (j * ((nsupp / 4) + (pk - 1) / nsupp))) % nsupp + 1;

-- A customer key that places orders (not a multiple of 3) among ncust customers.
CREATE FUNCTION tpch.ordering_custkey(seed bigint, stream integer, key bigint, ncust bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (tpch.rnd(seed, stream, key, 0, greatest(2 * ncust / 3 - 1, 0)) / 2) * 3
       + tpch.rnd(seed, stream, key, 0, greatest(2 * ncust / 3 - 1, 0)) % 2 + 1;

-- Sizes of a scale factor, and the generation parameters the refresh functions reuse.
CREATE TABLE tpch.params (
    sf      numeric NOT NULL,
    seed    bigint  NOT NULL,
    nsupp   bigint  NOT NULL,
    npart   bigint  NOT NULL,
    ncust   bigint  NOT NULL,
    norders bigint  NOT NULL,
    nclerks bigint  NOT NULL
);

-- The lineitems of order okey placed on odate (1-7 lines).
CREATE FUNCTION tpch.lines(seed bigint, nsupp bigint, npart bigint, okey bigint, odate date)
RETURNS TABLE (l_orderkey bigint, l_partkey integer, l_suppkey integer, l_linenumber integer,
               l_quantity numeric, l_extendedprice numeric, l_discount numeric, l_tax numeric,
               l_returnflag text, l_linestatus text, l_shipdate date, l_commitdate date,
               l_receiptdate date, l_shipinstruct text, l_shipmode text, l_comment text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT okey, pk::int, tpch.partsupp_suppkey(pk, tpch.rnd(seed, 21, lk, 0, 3), nsupp)::int,
           ln::int, qty, qty * tpch.retailprice(pk),
           tpch.rnd(seed, 22, lk, 0, 10)::numeric / 100,
           tpch.rnd(seed, 23, lk, 0, 8)::numeric / 100,
           CASE WHEN rdate <= date '1995-06-17'
                THEN (ARRAY['R', 'A'])[tpch.rnd(seed, 24, lk, 1, 2)] ELSE 'N' END,
           CASE WHEN sdate > date '1995-06-17' THEN 'O' ELSE 'F' END,
           sdate, odate + tpch.rnd(seed, 25, lk, 30, 90)::int, rdate,
           (ARRAY['DELIVER IN PERSON', 'COLLECT COD', 'NONE', 'TAKE BACK RETURN'])
               [tpch.rnd(seed, 26, lk, 1, 4)],
           (ARRAY['REG AIR', 'AIR', 'RAIL', 'SHIP', 'TRUCK', 'MAIL', 'FOB'])
               [tpch.rnd(seed, 27, lk, 1, 7)],
           tpch.comment(seed, 28, lk, 44)
    FROM generate_series(1, tpch.rnd(seed, 20, okey, 1, 7)) ln,
         LATERAL (SELECT okey * 8 + ln AS lk) k,
         LATERAL (SELECT tpch.rnd(seed, 29, lk, 1, npart) AS pk,
                         tpch.rnd(seed, 30, lk, 1, 50)::numeric AS qty,
                         odate + tpch.rnd(seed, 31, lk, 1, 121)::int AS sdate) a,
         LATERAL (SELECT sdate + tpch.rnd(seed, 32, lk, 1, 30)::int AS rdate) b;
END;

-- Inserts the orders with keys okeys and their lineitems, in one statement (the orders' status
-- and total price are derived from the lineitems; the foreign key from lineitem to orders is
-- checked at the end of the statement). Used by generate() and rf1().
CREATE FUNCTION tpch.insert_orders(okeys bigint[]) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    p tpch.params;
    n bigint;
BEGIN
    SELECT * INTO STRICT p FROM tpch.params;
    WITH li AS (
        SELECT l.*
        FROM unnest(okeys) k,
             LATERAL tpch.lines(p.seed, p.nsupp, p.npart, k,
                                date '1992-01-01' + tpch.rnd(p.seed, 10, k, 0, 2405)::int) l
    ), o AS (
        INSERT INTO orders
        SELECT l_orderkey, tpch.ordering_custkey(p.seed, 11, l_orderkey, p.ncust),
               CASE WHEN bool_and(l_linestatus = 'F') THEN 'F'
                    WHEN bool_and(l_linestatus = 'O') THEN 'O' ELSE 'P' END,
               sum(round(l_extendedprice * (1 + l_tax) * (1 - l_discount), 2)),
               date '1992-01-01' + tpch.rnd(p.seed, 10, l_orderkey, 0, 2405)::int,
               (ARRAY['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'])
                   [tpch.rnd(p.seed, 12, l_orderkey, 1, 5)],
               'Clerk#' || lpad(tpch.rnd(p.seed, 13, l_orderkey, 1, p.nclerks)::text, 9, '0'),
               0,
               tpch.comment(p.seed, 14, l_orderkey, 79)
        FROM li
        GROUP BY l_orderkey
        RETURNING 1
    )
    INSERT INTO lineitem SELECT * FROM li;
    SELECT count(*) INTO n FROM unnest(okeys);
    RETURN n;
END $$;

-- Loads all eight tables (which must be empty) at scale factor sf with the given seed.
CREATE FUNCTION tpch.generate(sf numeric, seed bigint DEFAULT 1) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p tpch.params;
BEGIN
    IF sf < 0.01 THEN
        RAISE EXCEPTION 'scale factor % is below 0.01', sf;
    END IF;
    DELETE FROM tpch.params;
    INSERT INTO tpch.params
    VALUES (sf, seed, round(10000 * sf), round(200000 * sf), round(150000 * sf),
            round(1500000 * sf), greatest(1, round(1000 * sf)))
    RETURNING * INTO p;

    INSERT INTO region VALUES
        (0, 'AFRICA', tpch.comment(seed, 1, 0, 152)),
        (1, 'AMERICA', tpch.comment(seed, 1, 1, 152)),
        (2, 'ASIA', tpch.comment(seed, 1, 2, 152)),
        (3, 'EUROPE', tpch.comment(seed, 1, 3, 152)),
        (4, 'MIDDLE EAST', tpch.comment(seed, 1, 4, 152));
    INSERT INTO nation
    SELECT i - 1, name, rk, tpch.comment(seed, 2, i, 152)
    FROM unnest(ARRAY['ALGERIA', 'ARGENTINA', 'BRAZIL', 'CANADA', 'EGYPT', 'ETHIOPIA', 'FRANCE',
                      'GERMANY', 'INDIA', 'INDONESIA', 'IRAN', 'IRAQ', 'JAPAN', 'JORDAN', 'KENYA',
                      'MOROCCO', 'MOZAMBIQUE', 'PERU', 'CHINA', 'ROMANIA', 'SAUDI ARABIA',
                      'VIETNAM', 'RUSSIA', 'UNITED KINGDOM', 'UNITED STATES'],
                ARRAY[0, 1, 1, 1, 4, 0, 3, 3, 2, 2, 4, 4, 2, 4, 0, 0, 0, 1, 2, 3, 4, 2, 3, 3, 1])
         WITH ORDINALITY AS x(name, rk, i);

    INSERT INTO supplier
    SELECT k, 'Supplier#' || lpad(k::text, 9, '0'), tpch.address(seed, 3, k), nk,
           tpch.phone(seed, 4, k, nk), tpch.rnd(seed, 7, k, -99999, 999999)::numeric / 100,
           CASE tpch.rnd(seed, 8, k, 1, 100)
               WHEN 1 THEN left(tpch.comment(seed, 9, k, 40), 40) || ' Customer '
                           || tpch.comment(seed, 15, k, 20) || ' Complaints'
               WHEN 2 THEN left(tpch.comment(seed, 9, k, 40), 40) || ' Customer '
                           || tpch.comment(seed, 15, k, 20) || ' Recommends'
               ELSE tpch.comment(seed, 9, k, 101) END
    FROM generate_series(1, p.nsupp) k,
         LATERAL (SELECT tpch.rnd(seed, 5, k, 0, 24)::int AS nk) n;

    INSERT INTO part
    SELECT k,
           (SELECT string_agg((ARRAY[
                'almond', 'antique', 'aquamarine', 'azure', 'beige', 'bisque', 'black',
                'blanched', 'blue', 'blush', 'brown', 'burlywood', 'burnished', 'chartreuse',
                'chiffon', 'chocolate', 'coral', 'cornflower', 'cornsilk', 'cream', 'cyan', 'dark',
                'deep', 'dim', 'dodger', 'drab', 'firebrick', 'floral', 'forest', 'frosted',
                'gainsboro', 'ghost', 'goldenrod', 'green', 'grey', 'honeydew', 'hot', 'indian',
                'ivory', 'khaki', 'lace', 'lavender', 'lawn', 'lemon', 'light', 'lime', 'linen',
                'magenta', 'maroon', 'medium', 'metallic', 'midnight', 'mint', 'misty',
                'moccasin', 'navajo', 'navy', 'olive', 'orange', 'orchid', 'pale', 'papaya',
                'peach', 'peru', 'pink', 'plum', 'powder', 'puff', 'purple', 'red', 'rose', 'rosy',
                'royal', 'saddle', 'salmon', 'sandy', 'seashell', 'sienna', 'sky', 'slate',
                'smoke', 'snow', 'spring', 'steel', 'tan', 'thistle', 'tomato', 'turquoise',
                'violet', 'wheat', 'white', 'yellow'])[tpch.rnd(seed, 40 + w, k, 1, 92)], ' '
                ORDER BY w)
            FROM generate_series(1, 5) w),
           'Manufacturer#' || m, 'Brand#' || m || tpch.rnd(seed, 46, k, 1, 5),
           (ARRAY['STANDARD', 'SMALL', 'MEDIUM', 'LARGE', 'ECONOMY', 'PROMO'])
               [tpch.rnd(seed, 47, k, 1, 6)] || ' ' ||
           (ARRAY['ANODIZED', 'BURNISHED', 'PLATED', 'POLISHED', 'BRUSHED'])
               [tpch.rnd(seed, 48, k, 1, 5)] || ' ' ||
           (ARRAY['TIN', 'NICKEL', 'BRASS', 'STEEL', 'COPPER'])[tpch.rnd(seed, 49, k, 1, 5)],
           tpch.rnd(seed, 50, k, 1, 50),
           (ARRAY['SM', 'LG', 'MED', 'JUMBO', 'WRAP'])[tpch.rnd(seed, 51, k, 1, 5)] || ' ' ||
           (ARRAY['CASE', 'BOX', 'BAG', 'JAR', 'PKG', 'PACK', 'CAN', 'DRUM'])
               [tpch.rnd(seed, 52, k, 1, 8)],
           tpch.retailprice(k), tpch.comment(seed, 53, k, 23)
    FROM generate_series(1, p.npart) k,
         LATERAL (SELECT tpch.rnd(seed, 45, k, 1, 5) AS m) x;

    INSERT INTO partsupp
    SELECT k, tpch.partsupp_suppkey(k, j, p.nsupp), tpch.rnd(seed, 60, k * 4 + j, 1, 9999),
           tpch.rnd(seed, 61, k * 4 + j, 100, 100000)::numeric / 100,
           tpch.comment(seed, 62, k * 4 + j, 199)
    FROM generate_series(1, p.npart) k, generate_series(0, 3) j;

    INSERT INTO customer
    SELECT k, 'Customer#' || lpad(k::text, 9, '0'), tpch.address(seed, 70, k), nk,
           tpch.phone(seed, 71, k, nk), tpch.rnd(seed, 74, k, -99999, 999999)::numeric / 100,
           (ARRAY['AUTOMOBILE', 'BUILDING', 'FURNITURE', 'MACHINERY', 'HOUSEHOLD'])
               [tpch.rnd(seed, 75, k, 1, 5)],
           tpch.comment(seed, 76, k, 117)
    FROM generate_series(1, p.ncust) k,
         LATERAL (SELECT tpch.rnd(seed, 77, k, 0, 24)::int AS nk) n;

    PERFORM tpch.insert_orders(ARRAY(SELECT tpch.orderkey(i)
                                     FROM generate_series(1, p.norders) i));
END $$;

-- Number of rows a fraction of the current orders is (at least 1).
CREATE FUNCTION tpch.batch(fraction float8) RETURNS bigint LANGUAGE sql STABLE
RETURN greatest(1, round(fraction * (SELECT count(*) FROM orders)))::bigint;

-- RF1 (spec 2.5.2): inserts fraction x |orders| new orders (default 0.1 %) with their 1-7
-- lineitems each, keys above the current maximum. `cycle` varies the data between calls.
CREATE FUNCTION tpch.rf1(fraction float8 DEFAULT 0.001, cycle integer DEFAULT 0)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint := tpch.batch(fraction);
    base bigint := (SELECT coalesce(max(o_orderkey), 0) FROM orders);
BEGIN
    -- Keys continue the sparse pattern (8 of every 32) after the current maximum.
    RETURN tpch.insert_orders(ARRAY(
        SELECT (base / 32 + 1) * 32 + tpch.orderkey(i) FROM generate_series(1, n) i));
END $$;

-- RF2 (spec 2.5.3): deletes the fraction x |orders| oldest orders (lowest keys) with their
-- lineitems.
CREATE FUNCTION tpch.rf2(fraction float8 DEFAULT 0.001) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint := tpch.batch(fraction);
    keys bigint[];
BEGIN
    keys := ARRAY(SELECT o_orderkey FROM orders ORDER BY o_orderkey LIMIT n);
    DELETE FROM lineitem WHERE l_orderkey = ANY (keys);
    DELETE FROM orders WHERE o_orderkey = ANY (keys);
    RETURN cardinality(keys);
END $$;

-- n existing order keys drawn at random (stream, cycle): the first key at or above random points
-- of the key range, distinct.
CREATE FUNCTION tpch.some_orders(n bigint, stream integer, cycle integer)
RETURNS SETOF bigint LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT DISTINCT o.o_orderkey
    FROM (SELECT min(o_orderkey) AS lo, max(o_orderkey) AS hi FROM orders) r,
         (SELECT seed FROM tpch.params) p,
         generate_series(1, n) g,
         LATERAL (SELECT o_orderkey FROM orders
                  WHERE o_orderkey >= tpch.rnd(p.seed, stream, cycle * 1000003 + g, r.lo, r.hi)
                  ORDER BY o_orderkey LIMIT 1) o;
END;

-- The update stream: about fraction x |orders| changed rows of each kind per call, all in the
-- caller's transaction. Changes non-key columns (prices, discounts, quantities, ship modes and
-- dates, order priority and status, segments, balances, supply costs), foreign keys (an order's
-- customer, a lineitem's part and supplier, a customer's and a supplier's nation) and primary
-- keys (lineitems renumbered within their order and moved to another order). Keeps every
-- foreign key valid. Returns the number of rows changed.
CREATE FUNCTION tpch.updates(fraction float8 DEFAULT 0.001, cycle integer DEFAULT 0)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    p tpch.params;
    n bigint := tpch.batch(fraction);
    total bigint := 0;
    c bigint;
BEGIN
    SELECT * INTO STRICT p FROM tpch.params;
    -- Lineitems of n/4 orders (about n rows): discount, tax, quantity and price, ship mode and
    -- dates, return flag.
    UPDATE lineitem
    SET l_discount = tpch.rnd(p.seed, 100, h, 0, 10)::numeric / 100,
        l_quantity = q, l_extendedprice = q * tpch.retailprice(l_partkey),
        l_shipmode = (ARRAY['REG AIR', 'AIR', 'RAIL', 'SHIP', 'TRUCK', 'MAIL', 'FOB'])
                         [tpch.rnd(p.seed, 101, h, 1, 7)],
        l_shipdate = l_shipdate + d, l_commitdate = l_commitdate + d,
        l_receiptdate = l_receiptdate + d,
        l_returnflag = CASE WHEN l_returnflag = 'N' THEN 'N'
                            ELSE (ARRAY['R', 'A'])[tpch.rnd(p.seed, 102, h, 1, 2)] END
    FROM (SELECT o AS ok FROM tpch.some_orders(greatest(1, n / 4), 103, cycle) o) s,
         LATERAL (SELECT cycle * 1000003 + ok AS h) hh,
         LATERAL (SELECT tpch.rnd(p.seed, 104, h, 1, 50)::numeric AS q,
                         tpch.rnd(p.seed, 105, h, -3, 3)::int AS d) v
    WHERE l_orderkey = ok;
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;

    -- Orders: priority, status, clerk; every other one moves to another customer.
    UPDATE orders
    SET o_orderpriority = (ARRAY['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'])
                              [tpch.rnd(p.seed, 110, h, 1, 5)],
        o_orderstatus = (ARRAY['F', 'O', 'P'])[tpch.rnd(p.seed, 111, h, 1, 3)],
        o_custkey = CASE WHEN h % 2 = 0 THEN tpch.ordering_custkey(p.seed, 112, h, p.ncust)
                         ELSE o_custkey END,
        o_totalprice = o_totalprice + tpch.rnd(p.seed, 113, h, -1000, 1000)::numeric / 100
    FROM (SELECT o AS ok FROM tpch.some_orders(greatest(1, n / 4), 114, cycle) o) s,
         LATERAL (SELECT cycle * 1000003 + ok AS h) hh
    WHERE o_orderkey = ok;
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;

    -- Lineitems moved to another part (and one of its suppliers): a foreign-key change.
    UPDATE lineitem
    SET l_partkey = pk, l_suppkey = tpch.partsupp_suppkey(pk, tpch.rnd(p.seed, 121, h, 0, 3),
                                                          p.nsupp),
        l_extendedprice = l_quantity * tpch.retailprice(pk)
    FROM (SELECT o AS ok FROM tpch.some_orders(greatest(1, n / 10), 122, cycle) o) s,
         LATERAL (SELECT cycle * 1000003 + ok AS h) hh,
         LATERAL (SELECT tpch.rnd(p.seed, 120, h, 1, p.npart) AS pk) v
    WHERE l_orderkey = ok AND l_linenumber = (SELECT min(l_linenumber) FROM lineitem
                                              WHERE l_orderkey = ok);
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;

    -- Primary-key changes: a lineitem renumbered within its order (the highest number + 10 is
    -- free), and a lineitem moved to another order (as number 100 + cycle, free in that order).
    UPDATE lineitem l
    SET l_linenumber = l.l_linenumber + 10
    FROM (SELECT o AS ok FROM tpch.some_orders(greatest(1, n / 20), 130, cycle) o) s
    WHERE l.l_orderkey = ok
      AND l.l_linenumber = (SELECT max(l_linenumber) FROM lineitem WHERE l_orderkey = ok);
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;
    UPDATE lineitem l
    SET l_orderkey = dst, l_linenumber = 100 + cycle
    FROM (SELECT DISTINCT ON (dst) src, dst
          FROM (SELECT o AS src, row_number() OVER (ORDER BY o) AS r
                FROM tpch.some_orders(greatest(1, n / 20), 131, cycle) o) a
          JOIN (SELECT o AS dst, row_number() OVER (ORDER BY o DESC) AS r
                FROM tpch.some_orders(greatest(1, n / 20), 132, cycle) o) b USING (r)
          WHERE src <> dst
          ORDER BY dst, src) m
    WHERE l.l_orderkey = m.src
      AND l.l_linenumber = (SELECT min(l_linenumber) FROM lineitem WHERE l_orderkey = m.src)
      AND NOT EXISTS (SELECT FROM lineitem x
                      WHERE x.l_orderkey = m.dst AND x.l_linenumber = 100 + cycle)
      -- an order keeps at least one lineitem
      AND (SELECT count(*) FROM lineitem WHERE l_orderkey = m.src) > 1;
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;

    -- Customers: market segment, balance, and every third one moves to another nation.
    UPDATE customer
    SET c_mktsegment = (ARRAY['AUTOMOBILE', 'BUILDING', 'FURNITURE', 'MACHINERY', 'HOUSEHOLD'])
                           [tpch.rnd(p.seed, 140, h, 1, 5)],
        c_acctbal = tpch.rnd(p.seed, 141, h, -99999, 999999)::numeric / 100,
        c_nationkey = CASE WHEN h % 3 = 0 THEN tpch.rnd(p.seed, 142, h, 0, 24)::int
                           ELSE c_nationkey END
    FROM (SELECT DISTINCT tpch.rnd(p.seed, 143, cycle * 1000003 + g, 1, p.ncust) AS ck
          FROM generate_series(1, greatest(1, n / 10)) g) s,
         LATERAL (SELECT cycle * 1000003 + ck AS h) hh
    WHERE c_custkey = ck;
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;

    -- Suppliers: balance, and a nation change.
    UPDATE supplier
    SET s_acctbal = tpch.rnd(p.seed, 150, h, -99999, 999999)::numeric / 100,
        s_nationkey = tpch.rnd(p.seed, 151, h, 0, 24)::int
    FROM (SELECT DISTINCT tpch.rnd(p.seed, 152, cycle * 1000003 + g, 1, p.nsupp) AS sk
          FROM generate_series(1, greatest(1, n / 100)) g) s,
         LATERAL (SELECT cycle * 1000003 + sk AS h) hh
    WHERE s_suppkey = sk;
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;

    -- Parts: retail price, size and container; partsupp: supply cost and available quantity.
    UPDATE part
    SET p_retailprice = p_retailprice + tpch.rnd(p.seed, 160, h, -500, 500)::numeric / 100,
        p_size = tpch.rnd(p.seed, 161, h, 1, 50),
        p_container = (ARRAY['SM', 'LG', 'MED', 'JUMBO', 'WRAP'])[tpch.rnd(p.seed, 162, h, 1, 5)]
                      || ' ' || (ARRAY['CASE', 'BOX', 'BAG', 'JAR', 'PKG', 'PACK', 'CAN', 'DRUM'])
                                    [tpch.rnd(p.seed, 163, h, 1, 8)]
    FROM (SELECT DISTINCT tpch.rnd(p.seed, 164, cycle * 1000003 + g, 1, p.npart) AS pk
          FROM generate_series(1, greatest(1, n / 20)) g) s,
         LATERAL (SELECT cycle * 1000003 + pk AS h) hh
    WHERE p_partkey = pk;
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;
    UPDATE partsupp
    SET ps_supplycost = tpch.rnd(p.seed, 170, h, 100, 100000)::numeric / 100,
        ps_availqty = tpch.rnd(p.seed, 171, h, 1, 9999)
    FROM (SELECT DISTINCT tpch.rnd(p.seed, 172, cycle * 1000003 + g, 1, p.npart) AS pk
          FROM generate_series(1, greatest(1, n / 10)) g) s,
         LATERAL (SELECT cycle * 1000003 + pk AS h) hh
    WHERE ps_partkey = pk
      AND ps_suppkey = tpch.partsupp_suppkey(pk, tpch.rnd(p.seed, 173, h, 0, 3), p.nsupp);
    GET DIAGNOSTICS c = ROW_COUNT;
    total := total + c;
    RETURN total;
END $$;
