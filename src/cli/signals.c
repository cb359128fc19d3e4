/* SPDX-License-Identifier: MIT */
/*
 * Signals for `run`. A handler may do almost nothing, so it only queues the
 * signal on a self-pipe (which the main loop polls together with its
 * timeouts) and, for the terminating ones, asks the lock client to stop
 * waiting with the async-signal-safe sqllock_cancel(). A signal that was
 * ignored when sqllock started (nohup, a background job of a
 * non-interactive shell) stays ignored, for PROGRAM too.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "cli.h"

static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};

static int pipe_fds[2] = {-1, -1};
static _Atomic(sqllock_client *) cancel_client;
static atomic_int first_terminating;

static void on_signal(int sig, siginfo_t *info, void *context)
{
    (void)context;
    int saved = errno;
    if (sig != SIGCHLD) {
        /* Recorded before the client is read, and the client is set before
           this is read (signals_set_client): either way no signal is lost. */
        int none = 0;
        atomic_compare_exchange_strong(&first_terminating, &none, sig);
        sqllock_cancel(atomic_load(&cancel_client));
    }
    unsigned char msg[2] = {(unsigned char)sig, info && info->si_code == SI_KERNEL};
    /* Non-blocking: a flood may be dropped, never block the handler. The
       loop wakes at least every second and reaps its child each time, so a
       dropped SIGCHLD costs at most that second. */
    (void)!write(pipe_fds[1], msg, sizeof(msg));
    errno = saved;
}

int signals_init(void)
{
    if (pipe(pipe_fds) != 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (fcntl(pipe_fds[i], F_SETFL, O_NONBLOCK) != 0 ||
            fcntl(pipe_fds[i], F_SETFD, FD_CLOEXEC) != 0)
            return -1;
    for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++) {
        struct sigaction old, sa = {0};
        if (sigaction(caught[i], NULL, &old) != 0)
            return -1;
        if (old.sa_handler == SIG_IGN && caught[i] != SIGCHLD)
            continue;
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART | (caught[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
        sigemptyset(&sa.sa_mask);
        if (sigaction(caught[i], &sa, NULL) != 0)
            return -1;
    }
    return 0;
}

void signals_set_client(sqllock_client *c)
{
    atomic_store(&cancel_client, c);
}

int signals_terminating(void)
{
    return atomic_load(&first_terminating);
}

int signals_fd(void)
{
    return pipe_fds[0];
}

int signals_next(int *from_kernel)
{
    unsigned char msg[2];
    ssize_t n;
    do
        n = read(pipe_fds[0], msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(msg))
        return 0;
    *from_kernel = msg[1];
    return msg[0];
}
