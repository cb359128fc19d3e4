/*
 * sqllock_run_once against a real PostgreSQL over libpq: many processes
 * starting one migration at once run it once; a failed or killed run is
 * retried by the next caller; a later caller skips; a forgotten marker makes
 * it run again. Processes meet at pipe barriers and report what they saw.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static int wait_child(pid_t pid)
{
    int ws;
    if (waitpid(pid, &ws, 0) != pid)
        return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

struct job {
    int fd;         /* where a run reports that it started */
    int result;     /* what fn returns */
    int hang;       /* pause() instead of returning: to be killed */
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
    CHECK(ran == 1 && j.runs == 1);
    j.result = 0; /* the next caller runs it, and it works this time */
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == 1 && j.runs == 2);
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == 0 && j.runs == 2);
    int existed = -1;
    CHECK_ST(sqllock_once_forget(&existed, c, name), SQLLOCK_OK, c);
    CHECK(existed == 1);
    CHECK_ST(sqllock_once_forget(&existed, c, name), SQLLOCK_OK, c);
    CHECK(existed == 0);
    CHECK_ST(sqllock_run_once(&ran, c, name, 0, job, &j), SQLLOCK_OK, c);
    CHECK(ran == 1 && j.runs == 3);
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
    CHECK(ran == 1 && j.runs == 1);
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

static const struct tcase cases[] = {
    {"eight_at_once", t_eight_at_once,
     "8 processes start one migration at once: it runs once, later callers skip it"},
    {"failed_run_retried", t_failed_run_retried,
     "a failed run records nothing and the next caller runs it; forget re-arms it"},
    {"killed_run_retried", t_killed_run_retried,
     "a runner killed by SIGKILL records nothing and the next caller runs it"},
    {"bad_arguments", t_bad_arguments, "NULL and empty arguments are EINVAL"},
};

T_MAIN(cases)
