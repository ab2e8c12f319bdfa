-- Venues are registered plugins named by slug, not a closed enum: the venue columns carry the
-- slug. Rows written with the old numbering (1 Polymarket, 2 Kalshi) are translated.
ALTER TABLE orders ALTER COLUMN venue TYPE text
    USING CASE venue WHEN 1 THEN 'polymarket' WHEN 2 THEN 'kalshi' ELSE venue::text END;
ALTER TABLE fills ALTER COLUMN venue TYPE text
    USING CASE venue WHEN 1 THEN 'polymarket' WHEN 2 THEN 'kalshi' ELSE venue::text END;
ALTER TABLE positions ALTER COLUMN venue TYPE text
    USING CASE venue WHEN 1 THEN 'polymarket' WHEN 2 THEN 'kalshi' ELSE venue::text END;
ALTER TABLE orders ADD CONSTRAINT orders_venue_slug CHECK (venue ~ '^[a-z][a-z0-9]{1,30}$');
ALTER TABLE fills ADD CONSTRAINT fills_venue_slug CHECK (venue ~ '^[a-z][a-z0-9]{1,30}$');
ALTER TABLE positions ADD CONSTRAINT positions_venue_slug CHECK (venue ~ '^[a-z][a-z0-9]{1,30}$');
