-- The order ledger projected from execution reports (arbiter.platform.store.ledger).
--
-- Reports carry neither the limit price nor, for a REJECT, the order size, so both become
-- optional; the projector fills what it learns. filled/fees only grow, once per new fill
-- (fills are keyed by venue trade id), and leaves is what the venue can still fill.

ALTER TABLE orders ALTER COLUMN qty_micros DROP NOT NULL;
ALTER TABLE orders ALTER COLUMN limit_price_micros DROP NOT NULL;
ALTER TABLE orders
    ADD COLUMN filled_micros bigint      NOT NULL DEFAULT 0 CHECK (filled_micros >= 0),
    ADD COLUMN leaves_micros bigint      NOT NULL DEFAULT 0 CHECK (leaves_micros >= 0),
    ADD COLUMN fees_micros   bigint      NOT NULL DEFAULT 0 CHECK (fees_micros >= 0),
    ADD COLUMN reason        text,
    ADD COLUMN updated_at    timestamptz NOT NULL DEFAULT now();

-- Each fill names its instrument, so positions can be rebuilt from fills alone.
ALTER TABLE fills
    ADD COLUMN market_id text,
    ADD COLUMN outcome   smallint;
