/* SPDX-License-Identifier: MIT */
/*
 * sqllock_run_once against a real PostgreSQL over libpq: many processes
 * starting one migration at once run it once; a failed or killed run is
 * retried by the next caller; a later caller skips; a forgotten marker makes
 * it run again; what *ran_out says tells each outcome apart, a marker the
 * database refuses included. Processes meet at pipe barriers and report
 * what they saw.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#ifdef T_WITH_ODBC
#include "odbc_support.h"
#endif

static int wait_child(pid_t pid)
{
    int ws;
    if (waitpid(pid, &ws, 0) != pid)
        return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

struct job {
    int fd;     /* where a run reports that it started */
    int result; /* what fn returns */
    int hang;   /* pause() instead of returning: to be killed */
    int runs;
};

static int job(void *payload)
{
    struct job *j = payload;
    j->runs++;
    if (j->fd >= 0 && write(j->fd, "R", 1) != 1)
        return 99;
    if (j->hang)
        for (;;)
            pause();
    usleep(200000); /* a migration takes a while: the others must wait for it */
    return j->result;
}

#define PROCS 8
static void t_eight_at_once(void)
{
    const char *name = t_tag("migrate");
    int ready[2], go[2], runs[2], res[2];
    CHECK(pipe(ready) == 0 && pipe(go) == 0 && pipe(runs) == 0 && pipe(res) == 0);
    pid_t pids[PROCS];
    fflush(stdout);
    for (int k = 0; k < PROCS; k++) {
        pids[k] = fork();
        CHECK(pids[k] >= 0);
        if (pids[k] == 0) {
            close(go[1]);
            sqllock_client *c = t_client(t_tag("once"));
            char b = c ? 'r' : 'x';
            if (write(ready[1], &b, 1) != 1 || !c)
                _exit(2);
            if (read(go[0], &b, 1) != 0) /* barrier: the parent closes the pipe */
                _exit(3);
            struct job j = {runs[1], 0, 0, 0};
            int ran = -1;
            sqllock_status st = sqllock_run_once(&ran, c, name, SQLLOCK_WAIT_FOREVER, job, &j);
            int out[3] = {st, ran, j.runs};
            if (write(res[1], out, sizeof(out)) != sizeof(out))
                _exit(4);
            sqllock_client_free(c);
            _exit(0);
        }
    }
    close(go[0]);
    for (int k = 0; k < PROCS; k++) {
        char b;
        CHECK(read(ready[0], &b, 1) == 1 && b == 'r');
    }
    close(go[1]);
    int ran_total = 0;
    for (int k = 0; k < PROCS; k++) {
        int out[3];
        CHECK(read(res[0], out, sizeof(out)) == sizeof(out));
        CHECKF(out[0] == SQLLOCK_OK, "a caller got %d", out[0]);
        CHECKF(out[1] == out[2], "ran %d but fn ran %d times", out[1], out[2]);
        ran_total += out[1];
    }
    for (int k = 0; k < PROCS; k++)
        CHECK(wait_child(pids[k]) == 0);
    close(runs[1]);
    char buf[64];
    ssize_t n = read(runs[0], buf, sizeof(buf));
    CHECKF(ran_total == 1 && n == 1, "%d callers ran it, %zd runs reported", ran_total, n);
    /* A later caller skips it. */
    sqllock_client *c = t_client(t_tag("once-later"));
    CHECK(c);
    struct job j = {-1, 0, 0, 0};
    int ran = -1;
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == 0 && j.runs == 0);
    printf("run once: %d processes at once, fn ran once; a later caller skipped it\n", PROCS);
    sqllock_client_free(c);
    close(ready[0]), close(ready[1]), close(runs[0]), close(res[0]), close(res[1]);
}

static void t_failed_run_retried(void)
{
    const char *name = t_tag("fails");
    sqllock_client *c = t_client(t_tag("once"));
    CHECK(c);
    struct job j = {-1, 1, 0, 0};
    int ran = -1;
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == SQLLOCK_RAN_FN_FAILED && j.runs == 1);
    j.result = 0; /* the next caller runs it, and it works this time */
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == SQLLOCK_RAN_RECORDED && j.runs == 2);
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == 0 && j.runs == 2);
    int existed = -1;
    CHECK_ST(sqllock_once_forget(&existed, c, name), SQLLOCK_OK, c);
    CHECK(existed == 1);
    CHECK_ST(sqllock_once_forget(&existed, c, name), SQLLOCK_OK, c);
    CHECK(existed == 0);
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == SQLLOCK_RAN_RECORDED && j.runs == 3);
    sqllock_client_free(c);
}

static void t_killed_run_retried(void)
{
    const char *name = t_tag("killed");
    int runs[2];
    CHECK(pipe(runs) == 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sqllock_client *c = t_client(t_tag("once-victim"));
        struct job j = {runs[1], 0, 1, 0};
        int ran;
        (void)sqllock_run_once(&ran, c, name, 0, job, &j);
        _exit(5); /* never reached: fn hangs until killed */
    }
    char b;
    CHECK(read(runs[0], &b, 1) == 1);
    sqllock_client *c = t_client(t_tag("once"));
    CHECK(c);
    struct job j = {-1, 0, 0, 0};
    int ran = -1;
    /* While it runs, a caller that will not wait neither runs nor skips it. */
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_BUSY, c);
    CHECK(ran == 0 && j.runs == 0);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(wait_child(pid) == 128 + SIGKILL);
    if (strcmp(sqllock_backend_name(c), "lease") == 0) {
        /* SQLite has no session locks: the run was guarded by a 10-minute
           lease, which outlives its killed runner. The job is neither done
           nor runnable until that expires (documented). */
        CHECK_ST(sqllock_run_once(&ran, c, name, 200, job, &j), SQLLOCK_TIMEOUT, c);
        int existed = -1;
        CHECK_ST(sqllock_once_forget(&existed, c, name), SQLLOCK_OK, c);
        CHECK(ran == 0 && j.runs == 0 && existed == 0);
        sqllock_client_free(c);
        close(runs[0]), close(runs[1]);
        return;
    }
    CHECK_ST(sqllock_run_once(&ran, c, name, 10000, job, &j), SQLLOCK_OK, c);
    CHECK(ran == SQLLOCK_RAN_RECORDED && j.runs == 1);
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == 0 && j.runs == 1);
    sqllock_client_free(c);
    close(runs[0]), close(runs[1]);
}

static void t_bad_arguments(void)
{
    sqllock_client *c = t_client(t_tag("once"));
    CHECK(c);
    struct job j = {-1, 0, 0, 0};
    int ran = -1;
    CHECK_ST(sqllock_run_once(&ran, NULL, "x", 0, job, &j), SQLLOCK_EINVAL, NULL);
    CHECK_ST(sqllock_run_once(&ran, c, NULL, 0, job, &j), SQLLOCK_EINVAL, c);
    CHECK_ST(sqllock_run_once(&ran, c, "", 0, job, &j), SQLLOCK_EINVAL, c);
    CHECK_ST(sqllock_run_once(&ran, c, "x", 0, NULL, &j), SQLLOCK_EINVAL, c);
    CHECK(ran == 0);
    CHECK_ST(sqllock_once_forget(NULL, c, NULL), SQLLOCK_EINVAL, c);
    /* ran_out may be NULL. */
    const char *name = t_tag("noran");
    CHECK_ST(sqllock_run_once(NULL, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(j.runs == 1);
    sqllock_client_free(c);
}

/*
 * Makes the database refuse (refuse = 1) or accept again the run-once
 * marker of name: a trigger on sqllock_once that raises for that name
 * alone, so that other tests' markers are untouched. Created from a
 * connection of the test's own: the admin connection on PostgreSQL, a
 * second ODBC connection to the file on SQLite. 1 on success.
 */
static int refuse_marker(sqllock_client *c, const char *name, int refuse)
{
    char sql[512];
    if (strcmp(sqllock_backend_name(c), "lease") == 0) {
#ifdef T_WITH_ODBC
        if (refuse)
            snprintf(sql, sizeof(sql),
                     "CREATE TRIGGER \"%s\" BEFORE INSERT ON sqllock_once "
                     "WHEN NEW.name = CAST('%s' AS BLOB) BEGIN SELECT RAISE(ABORT, "
                     "'marker refused by a test trigger'); END",
                     name, name);
        else
            snprintf(sql, sizeof(sql), "DROP TRIGGER \"%s\"", name);
        struct t_odbc o;
        if (!t_odbc_open(&o, t_url(), t_tag("refuser")))
            return 0;
        int ok = t_odbc_exec(&o, sql);
        t_odbc_close(&o);
        return ok;
#else
        t_fail(__FILE__, __LINE__, "a SQLite client in a build without ODBC");
        return 0;
#endif
    }
    PGconn *admin = t_admin();
    if (!admin)
        return 0;
    if (refuse)
        snprintf(sql, sizeof(sql),
                 "CREATE FUNCTION \"%s\"() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
                 "RAISE EXCEPTION 'marker refused by a test trigger'; END$$; "
                 "CREATE TRIGGER \"%s\" BEFORE INSERT ON sqllock_once FOR EACH ROW "
                 "WHEN (NEW.name = convert_to('%s', 'UTF8')) EXECUTE FUNCTION \"%s\"()",
                 name, name, name, name);
    else
        snprintf(sql, sizeof(sql), "DROP TRIGGER \"%s\" ON sqllock_once; DROP FUNCTION \"%s\"()",
                 name, name);
    int ok = t_exec(admin, sql);
    PQfinish(admin);
    return ok;
}

/* fn that succeeds, after a trigger that refuses its marker was created:
   something changed the database while the job ran. */
struct refused_job {
    sqllock_client *c;
    const char *name;
    int runs, armed;
};

static int refused_job(void *payload)
{
    struct refused_job *j = payload;
    j->runs++;
    j->armed = refuse_marker(j->c, j->name, 1);
    return 0;
}

/*
 * Each outcome of sqllock_run_once has its own *ran_out: fn failed (OK,
 * FN_FAILED, nothing recorded), ran and recorded (OK, RECORDED), already
 * done (OK, NONE), and ran but the marker was refused (an error,
 * NOT_RECORDED), after which the next caller runs fn again. fn ran exactly
 * when ran is non-zero.
 */
static void t_outcomes(void)
{
    const char *name = t_tag("outcomes"), *refused = t_tag("refused");
    sqllock_client *c = t_client(t_tag("once"));
    CHECK(c);
    CHECK(SQLLOCK_RAN_NONE == 0 && SQLLOCK_RAN_RECORDED == 1 && SQLLOCK_RAN_FN_FAILED == 2 &&
          SQLLOCK_RAN_NOT_RECORDED == 3);
    struct job j = {-1, 1, 0, 0};
    int ran = -1;
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECKF(ran == SQLLOCK_RAN_FN_FAILED && j.runs == 1, "fn failed: ran %d", ran);
    j.result = 0;
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECKF(ran == SQLLOCK_RAN_RECORDED && j.runs == 2, "recorded: ran %d", ran);
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECKF(ran == SQLLOCK_RAN_NONE && j.runs == 2, "done: ran %d", ran);

    struct refused_job rj = {c, refused, 0, 0};
    sqllock_status st = sqllock_run_once(&ran, c, refused, 0, refused_job, &rj);
    printf("refused marker: %s, ran %d, errcode \"%s\": %s\n", sqllock_status_str(st), ran,
           sqllock_errcode(c), sqllock_errmsg(c));
    int unarmed = rj.armed && refuse_marker(c, refused, 0);
    CHECK(rj.armed && unarmed);
    CHECKF(st < 0 && ran == SQLLOCK_RAN_NOT_RECORDED && rj.runs == 1, "%s, ran %d",
           sqllock_status_str(st), ran);
    /* Not recorded: the next caller runs it, and records it this time. */
    CHECK_ST(sqllock_run_once(&ran, c, refused, 0, job, &j), SQLLOCK_OK, c);
    CHECKF(ran == SQLLOCK_RAN_RECORDED && j.runs == 3, "after the refusal: ran %d", ran);
    sqllock_client_free(c);
}

/*
 * When the marker cannot be recorded, the caller sees the database's
 * reason: the status of the failed record (ESERVER), its SQLSTATE in
 * sqllock_errcode (P0001, raise_exception, over libpq; the driver's over
 * ODBC) and its message, not those of the release that ran after it.
 */
static void t_not_recorded_keeps_sqlstate(void)
{
    const char *refused = t_tag("refused-code");
    sqllock_client *c = t_client(t_tag("once"));
    CHECK(c);
    struct refused_job rj = {c, refused, 0, 0};
    int ran = -1;
    sqllock_status st = sqllock_run_once(&ran, c, refused, 0, refused_job, &rj);
    char code[6], msg[1024];
    snprintf(code, sizeof(code), "%s", sqllock_errcode(c));
    snprintf(msg, sizeof(msg), "%s", sqllock_errmsg(c));
    sqllock_status last = sqllock_last_status(c);
    printf("%s, errcode \"%s\": %s\n", sqllock_status_str(st), code, msg);
    int unarmed = rj.armed && refuse_marker(c, refused, 0);
    CHECK(rj.armed && unarmed);
    CHECK_ST(st, SQLLOCK_ESERVER, c);
    CHECKF(code[0], "no SQLSTATE after a refused marker: %s", msg);
    if (strncmp(t_url(), "odbc:", 5) != 0)
        CHECKF(strcmp(code, "P0001") == 0, "SQLSTATE %s", code);
    CHECKF(strstr(msg, "recording it done") && strstr(msg, "marker refused by a test trigger"),
           "%s", msg);
    CHECK(last == SQLLOCK_ESERVER && ran == SQLLOCK_RAN_NOT_RECORDED);
    sqllock_client_free(c);
}

static const struct tcase cases[] = {
    {"eight_at_once", t_eight_at_once,
     "8 processes start one migration at once: it runs once, later callers skip it"},
    {"failed_run_retried", t_failed_run_retried,
     "a failed run records nothing and the next caller runs it; forget re-arms it"},
    {"killed_run_retried", t_killed_run_retried,
     "a runner killed by SIGKILL records nothing and the next caller runs it"},
    {"bad_arguments", t_bad_arguments, "NULL and empty arguments are EINVAL"},
    {"outcomes", t_outcomes,
     "*ran_out tells fn failed, ran and recorded, already done and ran-but-not-recorded "
     "apart; a marker the database refused is run again by the next caller"},
    {"not_recorded_keeps_sqlstate", t_not_recorded_keeps_sqlstate,
     "a refused marker's status, SQLSTATE and message reach the caller, not the release's"},
};

T_MAIN(cases)
