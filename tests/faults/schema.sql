-- What the fault runs record on the server, for the checker (checker.c).
-- Load after sql/postgresql.sql (the grant_log trigger sits on its lease
-- table). Every log has an id from a sequence taken while the row it is
-- about is locked, so id order is the server's order of those writes.

-- One counter per lock name, incremented read-sleep-write under the lock.
-- fence: the highest token the store has seen for the name, from fenced
-- reads and writes alike, so a stale holder cannot write over a value read
-- by a newer one (fencing the write alone would not stop that lost update).
CREATE TABLE counters (
    name  text   PRIMARY KEY,
    value bigint NOT NULL DEFAULT 0,
    fence bigint NOT NULL DEFAULT 0
);

-- One row per committed counter write, inserted by the writing statement.
CREATE TABLE counter_log (
    id    bigserial PRIMARY KEY,
    name  text        NOT NULL,
    value bigint      NOT NULL,
    proc  text        NOT NULL,
    token bigint,
    ts    timestamptz NOT NULL
);

-- Every fenced write attempt, accepted or not.
CREATE TABLE fence_log (
    id       bigserial PRIMARY KEY,
    name     text        NOT NULL,
    token    bigint      NOT NULL,
    proc     text        NOT NULL,
    ts       timestamptz NOT NULL,
    accepted boolean     NOT NULL
);

-- Every grant of a lease (insert, or an update that changes the token).
CREATE TABLE grant_log (
    id    bigserial PRIMARY KEY,
    name  text        NOT NULL,
    token bigint      NOT NULL,
    ts    timestamptz NOT NULL
);

CREATE FUNCTION grant_log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.token IS DISTINCT FROM OLD.token THEN
        INSERT INTO grant_log (name, token, ts)
        VALUES (convert_from(NEW.name, 'UTF8'), NEW.token, clock_timestamp());
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER grant_log AFTER INSERT OR UPDATE ON sqllock_lease
    FOR EACH ROW EXECUTE FUNCTION grant_log_row();
