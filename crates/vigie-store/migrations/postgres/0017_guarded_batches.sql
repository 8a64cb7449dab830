-- A batch of allocations decided without the pools' lock (PostgreSQL's writer, on what
-- it last wrote) is written in one statement that commits on its own. That statement
-- first takes the lock the writer otherwise takes before deciding (every pool and the
-- audit chain's head, in the same order), compares the head it locked (as last
-- committed) with the one the batch was decided on, and gives the number of locked
-- rows where they are the same to this function, which fails the whole statement when
-- there are none: another writer committed first, and the batch is decided again under
-- the lock. Every write that changes what the engine decides on appends to the audit
-- chain, so a head that did not move means nothing the batch was decided on changed.
CREATE FUNCTION vigie_expect_head(same bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    IF same = 0 THEN
        RAISE EXCEPTION 'the audit head moved: another writer committed since this batch was decided'
            USING ERRCODE = 'VGH01';
    END IF;
    RETURN same;
END
$$;
