-- pgbench baseline for the uncontended scenario: the very statements sqllock
-- sends for a try and a release, one key per client (run with -M prepared,
-- so each is a prepared statement as sqllock's are). One pgbench
-- "transaction" is one acquire+release pair.
\set key 7340032000 + :client_id
SELECT pg_catalog.pg_try_advisory_lock(:key::pg_catalog.int8);
SELECT pg_catalog.pg_advisory_unlock(:key::pg_catalog.int8);
