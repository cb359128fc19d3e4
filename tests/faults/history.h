/* SPDX-License-Identifier: MIT */
/*
 * Histories of a fault run (Jepsen-style): every client process appends one
 * line per event to a file of its own, fault injectors to theirs, and the
 * checker (checker.c) reads them all back. One line, written with a single
 * write(2) on an O_APPEND descriptor so that lines never interleave:
 *
 *   mono_ns  proc  event  name  token  server_ts  detail      (tab-separated)
 *
 * mono_ns   CLOCK_MONOTONIC in ns: one kernel, so one clock for every process
 *           and network namespace of the run.
 * proc      the client's id (no blanks); for fault lines, the victim.
 * event     acquire_invoke acquire_ok acquire_fail acquire_indeterminate
 *           release_invoke release_ok release_fail lost fault session_gone
 * name      the lock name, or "-".
 * token     the fencing token, or "-".
 * server_ts the server's clock_timestamp() from a statement run under the
 *           event's lock (blanks replaced by 'T'), or "-".
 * detail    free text without tabs or newlines, or "-". Words the checker
 *           reads: deadline_ns=<mono> on acquire_ok (a lease's client-side
 *           deadline: acquire start + ttl), backend=<pid> (the session
 *           the lock is taken in) on acquire_invoke, acquire_ok and
 *           session_gone, ttl_ms=<ms> on acquire_invoke (> 0: a lease),
 *           until_ns=<mono> on session_gone.
 *
 * session_gone (written by an injector; mono taken just BEFORE the fault is
 * issued, so the server cannot have freed the victim's locks earlier) says
 * that from mono on the server no longer holds the victim's session locks.
 * With backend=<pid> only that backend's session ended (pg_terminate_backend);
 * with until_ns=<t> every session of the victim that existed before t ended
 * (server stopped: no new session can start before t). Leases, whose rows
 * outlive sessions, are not affected.
 */
#ifndef SQLLOCK_FAULTS_HISTORY_H
#define SQLLOCK_FAULTS_HISTORY_H

#include <stdint.h>

#define HIST_FIELD_MAX 256

/* The events, in the order of the format's list; HIST_NONE: unknown. */
enum hist_event {
    HIST_ACQUIRE_INVOKE,
    HIST_ACQUIRE_OK,
    HIST_ACQUIRE_FAIL,
    HIST_ACQUIRE_INDETERMINATE,
    HIST_RELEASE_INVOKE,
    HIST_RELEASE_OK,
    HIST_RELEASE_FAIL,
    HIST_LOST,
    HIST_FAULT,
    HIST_SESSION_GONE,
    HIST_NONE
};

struct hist_line {
    int64_t mono_ns;
    enum hist_event event;
    int64_t token; /* -1 for "-" */
    char proc[HIST_FIELD_MAX];
    char name[HIST_FIELD_MAX];
    char server_ts[64];
    char detail[HIST_FIELD_MAX];
};

int64_t hist_mono_ns(void);
const char *hist_event_str(enum hist_event e);
/* A sqllock_status (an int here: sqllock.h is not needed) by its enum
   name without the prefix ("OK", "LOST", "ECONNECT"), for details. */
const char *hist_status_name(int s);

/* Opens path for appending (created 0644); -1 with errno on failure. */
int hist_open(const char *path);
/*
 * Appends one line stamped now (or at mono_ns when it is > 0). name,
 * server_ts, detail: NULL or "" print "-"; token < 0 prints "-". Tabs and
 * newlines in the texts become blanks. 0, or -1 when the write failed.
 */
int hist_write(int fd, int64_t mono_ns, const char *proc, enum hist_event e, const char *name,
               int64_t token, const char *server_ts, const char *detail);

/* Parses one line (without its newline): 0, or -1 when malformed. */
int hist_parse(const char *line, struct hist_line *out);

/* The value of "key=<int>" among detail's blank-separated words: 1 and *out
   set when present, 0 otherwise. */
int hist_detail_ll(const char *detail, const char *key, int64_t *out);

#endif
