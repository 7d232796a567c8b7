-- Foreign keys (TPC-H clause 1.4.2) and the secondary indexes a DBA would create for the 22
-- queries and the refresh functions: one on every foreign key that is not the leading column of a
-- primary key, plus the date columns the queries filter on. Run after gen.sql.

ALTER TABLE nation   ADD FOREIGN KEY (n_regionkey) REFERENCES region;
ALTER TABLE supplier ADD FOREIGN KEY (s_nationkey) REFERENCES nation;
ALTER TABLE customer ADD FOREIGN KEY (c_nationkey) REFERENCES nation;
ALTER TABLE partsupp ADD FOREIGN KEY (ps_partkey)  REFERENCES part;
ALTER TABLE partsupp ADD FOREIGN KEY (ps_suppkey)  REFERENCES supplier;
ALTER TABLE orders   ADD FOREIGN KEY (o_custkey)   REFERENCES customer;
ALTER TABLE lineitem ADD FOREIGN KEY (l_orderkey)  REFERENCES orders;
ALTER TABLE lineitem ADD FOREIGN KEY (l_partkey, l_suppkey) REFERENCES partsupp;

CREATE INDEX nation_regionkey_idx    ON nation (n_regionkey);
CREATE INDEX supplier_nationkey_idx  ON supplier (s_nationkey);
CREATE INDEX customer_nationkey_idx  ON customer (c_nationkey);
CREATE INDEX partsupp_suppkey_idx    ON partsupp (ps_suppkey);
CREATE INDEX orders_custkey_idx      ON orders (o_custkey);
CREATE INDEX orders_orderdate_idx    ON orders (o_orderdate);
CREATE INDEX lineitem_part_supp_idx  ON lineitem (l_partkey, l_suppkey);
CREATE INDEX lineitem_suppkey_idx    ON lineitem (l_suppkey);
CREATE INDEX lineitem_shipdate_idx   ON lineitem (l_shipdate);

ANALYZE region, nation, part, supplier, partsupp, customer, orders, lineitem;
