-- sqllock lease and run-once tables, SQL Server (T-SQL) dialect.
-- Written, NOT run here: no SQL Server can be installed in this project's CI
-- (see README's Backends table). Names are keyed by their SHA-256 (32 bytes),
-- because an index key is limited to 900 bytes and names may be 1024; the
-- name itself is kept beside it. Times are SYSUTCDATETIME().
-- NOTE: no lease backend over SQL Server is wired up in this version yet.
IF OBJECT_ID(N'dbo.sqllock_lease', N'U') IS NULL
CREATE TABLE dbo.sqllock_lease (
    name_hash   binary(32)     NOT NULL PRIMARY KEY,
    name        varbinary(1024) NOT NULL,
    owner_host  nvarchar(255)  NOT NULL,
    owner_pid   bigint         NOT NULL,
    owner_id    varchar(64)    NOT NULL,
    token       bigint         NOT NULL,
    acquired_at datetime2(3)   NOT NULL,
    expires_at  datetime2(3)   NOT NULL,
    min_until   datetime2(3)   NOT NULL,
    released    bit            NOT NULL DEFAULT 0
);
IF OBJECT_ID(N'dbo.sqllock_once', N'U') IS NULL
CREATE TABLE dbo.sqllock_once (
    name_hash   binary(32)     NOT NULL PRIMARY KEY,
    name        varbinary(1024) NOT NULL,
    done_at     datetime2(3)   NOT NULL,
    done_by     nvarchar(255)  NOT NULL,
    token       bigint         NOT NULL
);
