/* SPDX-License-Identifier: MIT */
/*
 * `status` and `list` on SQL Server: application locks as sys.dm_tran_locks
 * shows them, joined with sys.dm_exec_sessions for the session behind each
 * (its id, host, program and login time), over an ODBC connection of the
 * command's own. SQL Server keeps only the first 32 characters of an
 * applock's resource in plain text (resource_description is
 * "<principal>:[<first 32 characters>]:(<hash of the rest>)"), so a name is
 * matched on those 32 characters of its resource: names alike in them are
 * not told apart, and the output says so.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sqllock/odbc.h"

static const char applocks_sql[] =
    "SELECT l.request_session_id, l.resource_description, l.request_mode,"
    " l.request_status, s.host_name, s.program_name,"
    " CONVERT(varchar(19), s.login_time, 126)"
    " FROM sys.dm_tran_locks l"
    " JOIN sys.dm_exec_sessions s ON s.session_id = l.request_session_id"
    " WHERE l.resource_type = 'APPLICATION' AND l.resource_database_id = DB_ID()"
    " ORDER BY l.resource_description, l.request_status, l.request_session_id";

enum { KEPT = 32 }; /* characters of the resource SQL Server shows */

/* The first KEPT characters (code points) of the UTF-8 string s, in out. */
static void kept_of(const char *s, char *out, size_t size)
{
    size_t i = 0, chars = 0;
    while (s[i] && chars < KEPT && i + 4 < size) {
        size_t n = 1;
        while ((s[i + n] & 0xc0) == 0x80)
            n++;
        i += n;
        chars++;
    }
    memcpy(out, s, i);
    out[i] = '\0';
}

/* The resource text inside "p:[...]:(h)"; NULL when not in that shape. */
static char *resource_of(char *desc)
{
    char *open = strchr(desc, '[');
    char *close = strstr(desc, "]:(");
    if (!open || !close || close < open)
        return NULL;
    for (char *next; (next = strstr(close + 1, "]:(")) != NULL;)
        close = next; /* the name may hold "]:(" itself */
    *close = '\0';
    return open + 1;
}

static const char *mode_of(const char *m)
{
    return strcmp(m, "X") == 0    ? "exclusive"
           : strcmp(m, "S") == 0  ? "shared"
           : strcmp(m, "U") == 0  ? "update"
           : strcmp(m, "IS") == 0 ? "intent-shared"
           : strcmp(m, "IX") == 0 ? "intent-exclusive"
                                  : m;
}

/* One row of the query: the session, resource_description (the resource
   at res in it: an offset, as rows move when the array grows), mode,
   status, and host, program, login time (v, maybe NULL). */
struct row {
    char sid[16], desc[1200], mode[16], status[16], v[3][256];
    size_t res;
    int null[3];
};

static void col(SQLHSTMT st, int i, char *buf, size_t n, int *null)
{
    SQLLEN ind = 0;
    buf[0] = '\0';
    if (!SQL_SUCCEEDED(SQLGetData(st, (SQLUSMALLINT)i, SQL_C_CHAR, buf, (SQLLEN)n, &ind)) ||
        ind == SQL_NULL_DATA) {
        buf[0] = '\0';
        *null = 1;
    } else {
        *null = 0;
    }
}

static void print_row(int json, int with_name, const char *res, const char *mode,
                      const char *status, const char *sid, char *const v[3])
{
    int held = strcmp(status, "GRANT") == 0;
    if (json) {
        fputs("{\"resource\":", stdout);
        cli_json_string(stdout, res);
        printf(",\"mode\":\"%s\",\"state\":\"%s\",\"session_id\":%s", mode,
               held ? "held" : "waiting", sid);
        const char *names[3] = {"host", "program", "session_start"};
        for (int i = 0; i < 3; i++) {
            printf(",\"%s\":", names[i]);
            if (v[i])
                cli_json_string(stdout, v[i]);
            else
                fputs("null", stdout);
        }
        fputs(",\"kind\":\"applock\"}\n", stdout);
        return;
    }
    if (with_name) { /* a list line, as a lease's begins kind=lease */
        fputs("kind=applock", stdout);
        cli_put_field(stdout, "resource", res);
        fputc(' ', stdout);
    }
    printf("state=%s mode=%s session=%s", held ? "held" : "waiting", mode, sid);
    cli_put_field(stdout, "host", v[0]);
    cli_put_field(stdout, "program", v[1]);
    cli_put_field(stdout, "session_start", v[2]);
    fputc('\n', stdout);
}

static void diag(const char *what, SQLSMALLINT type, SQLHANDLE h)
{
    SQLCHAR state[6] = "", msg[512] = "";
    SQLINTEGER native = 0;
    SQLSMALLINT len = 0;
    (void)SQLGetDiagRec(type, h, 1, state, &native, msg, sizeof(msg), &len);
    cli_err("%s failed: [%s] %s", what, (char *)state, (char *)msg);
}

/*
 * Connects to the odbc: url. When its DBMS is SQL Server, prints the
 * applocks (of name only, when name is not NULL) and returns the exit
 * status (status: 1 when name is held); else returns -1 and prints
 * nothing (the caller refuses the URL).
 */
int applocks_show(const char *url, const char *command, const char *name, int json)
{
    SQLHENV env = SQL_NULL_HENV;
    SQLHDBC dbc = SQL_NULL_HDBC;
    SQLHSTMT st = SQL_NULL_HSTMT;
    int code = CLI_EXIT_UNAVAILABLE;
    const char *cs = url + 5; /* after "odbc:" */
    if (strncmp(cs, "backend=", 8) == 0)
        cs += strcspn(cs, ";") + (cs[strcspn(cs, ";")] == ';');
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env)) ||
        !SQL_SUCCEEDED(SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0)) ||
        !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc))) {
        cli_err("%s: out of memory for ODBC handles", command);
        goto out;
    }
    /* The driver's message names the user and server, never the password. */
    if (!SQL_SUCCEEDED(SQLDriverConnect(dbc, NULL, (SQLCHAR *)cs, SQL_NTS, NULL, 0, NULL,
                                        SQL_DRIVER_NOPROMPT))) {
        diag("connecting", SQL_HANDLE_DBC, dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, dbc);
        dbc = SQL_NULL_HDBC;
        goto out;
    }
    char dbms[64] = "";
    SQLSMALLINT len;
    if (!SQL_SUCCEEDED(SQLGetInfo(dbc, SQL_DBMS_NAME, dbms, sizeof(dbms), &len)) ||
        strcmp(dbms, "Microsoft SQL Server") != 0) {
        code = -1;
        goto out;
    }
    char want[SQLLOCK_MSSQL_RESOURCE_MAX + 1] = "", kept[KEPT * 4 + 1] = "";
    if (name) {
        sqllock_mssql_resource(name, want, sizeof(want));
        kept_of(want, kept, sizeof(kept));
    }
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st)) ||
        !SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *)applocks_sql, SQL_NTS))) {
        diag("reading sys.dm_tran_locks", SQL_HANDLE_STMT, st);
        goto out;
    }
    struct row *rows = NULL;
    int n = 0, held = 0;
    SQLRETURN r;
    while ((r = SQLFetch(st)) == SQL_SUCCESS || r == SQL_SUCCESS_WITH_INFO) {
        struct row w;
        int skip;
        col(st, 1, w.sid, sizeof(w.sid), &skip);
        col(st, 2, w.desc, sizeof(w.desc), &skip);
        col(st, 3, w.mode, sizeof(w.mode), &skip);
        col(st, 4, w.status, sizeof(w.status), &skip);
        for (int i = 0; i < 3; i++)
            col(st, 5 + i, w.v[i], sizeof(w.v[i]), &w.null[i]);
        char *res = resource_of(w.desc);
        if (!res || (name && strcmp(res, kept) != 0))
            continue;
        w.res = (size_t)(res - w.desc);
        struct row *more = realloc(rows, (size_t)(n + 1) * sizeof(*rows));
        if (!more) {
            cli_err("%s: out of memory", command);
            free(rows);
            goto out;
        }
        rows = more;
        rows[n] = w;
        held += strcmp(w.status, "GRANT") == 0;
        n++;
    }
    if (r != SQL_NO_DATA) {
        diag("reading sys.dm_tran_locks", SQL_HANDLE_STMT, st);
        free(rows);
        goto out;
    }
    if (name && !json)
        printf("lock \"%s\" (matched on the first %d characters of its SQL Server resource, "
               "all sys.dm_tran_locks shows: \"%s\") %s\n",
               name, KEPT, kept, held ? "is held" : "is free");
    for (int i = 0; i < n; i++) {
        char *v[3];
        for (int k = 0; k < 3; k++)
            v[k] = rows[i].null[k] ? NULL : rows[i].v[k];
        print_row(json, !name, rows[i].desc + rows[i].res, mode_of(rows[i].mode), rows[i].status,
                  rows[i].sid, v);
    }
    free(rows);
    code = name && held ? 1 : 0;
out:
    if (st)
        SQLFreeHandle(SQL_HANDLE_STMT, st);
    if (dbc) {
        SQLDisconnect(dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, dbc);
    }
    if (env)
        SQLFreeHandle(SQL_HANDLE_ENV, env);
    return code;
}
