/* SPDX-License-Identifier: MIT */
/*
 * hung_host SOCKDIR PORT: a failover whose old primary hangs rather than
 * refusing (a frozen host, a network that drops). The URL lists first a
 * TCP listener of this process that never accepts (the kernel completes
 * the handshake, libpq sends its startup packet, no answer ever comes),
 * then the real server (SOCKDIR, PORT), with connect_timeout=2 and
 * target_session_attrs=read-write. libpq gives up on a host after
 * connect_timeout and tries the next one; a client must then reach the
 * second server, blocking (sqllock_connect) and driven by an event loop
 * (sqllock_connect_start, the same steps a reconnect in
 * sqllock_acquire_start takes). Prints each outcome and its time; exit 0
 * when both connected and took a lock, 1 otherwise.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sqllock.h"
#include "support.h"

/* A listening socket on 127.0.0.1 that nobody accepts on: its port, or -1. */
static int silent_listener(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(*fd, 16) != 0 ||
        getsockname(*fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    return ntohs(a.sin_port);
}

/* One way of connecting, judged: connected, and a lock taken on it. */
static int tried(const char *how, sqllock_client *c, sqllock_status st, long long ms)
{
    sqllock_lock *l = NULL;
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = 0;
    if (st == SQLLOCK_OK)
        st = sqllock_acquire(&l, c, "hung_host", &o);
    printf("%s: %s after %lld ms%s%s\n", how, sqllock_status_str(st), ms,
           st == SQLLOCK_OK ? "" : ": ", st == SQLLOCK_OK ? "" : sqllock_errmsg(c));
    if (l)
        (void)sqllock_release(l);
    sqllock_client_free(c);
    return st == SQLLOCK_OK;
}

int main(int argc, char **argv)
{
    char url[1024];
    int fd, ok = 1;
    sqllock_client *c = NULL;

    if (argc != 3) {
        fprintf(stderr, "usage: hung_host SOCKDIR PORT\n");
        return 2;
    }
    int port = silent_listener(&fd);
    if (port < 0) {
        perror("hung_host: listener");
        return 2;
    }
    snprintf(url, sizeof url,
             "host=127.0.0.1,%s port=%d,%s dbname=sqllock_test user=sqllock_test"
             " connect_timeout=2 target_session_attrs=read-write",
             argv[1], port, argv[2]);

    long long t0 = t_now_ms();
    sqllock_status st = sqllock_connect(&c, url);
    ok &= tried("sqllock_connect", c, st, t_now_ms() - t0);
    c = NULL;
    t0 = t_now_ms();
    st = sqllock_connect_start(&c, url);
    st = t_drive(NULL, c, st);
    ok &= tried("sqllock_connect_start", c, st, t_now_ms() - t0);
    close(fd);
    return ok ? 0 : 1;
}
