/* SPDX-License-Identifier: MIT */
/*
 * Operations run by a backend's step function: how one begins, and how a
 * blocking call runs it to its end, waiting in between. The non-blocking
 * API (nonblock.c) steps the very same operations from an event loop, so
 * both paths share every statement and every decision; only who waits
 * differs.
 */
#include "sqllock_int.h"

void sqllock__op_begin(struct sqllock_op *op, const struct sqllock_backend *be,
                       enum sqllock_op_kind kind, sqllock_lock *l, int64_t wait_ms)
{
    /* The backend's space is its own to fill as its stages go. */
    op->kind = kind;
    op->be = be;
    op->lock = l;
    op->wait_ms = wait_ms;
    op->stage = 0;
    op->ended = 0;
    op->outcome = SQLLOCK_OK;
    op->wait = (struct sqllock_wait){.fd = -1, .events = 0, .until_ms = -1, .cancelable = 0};
}

sqllock_status sqllock__op_block(sqllock_client *c, struct sqllock_op *op)
{
    sqllock_status st;
    /* A failed poll() (out of memory) is stepped through like a wake-up:
       the step reads what it can and asks again. */
    while ((st = op->be->step(c, op)) == SQLLOCK_PENDING)
        (void)sqllock__wait(c, &op->wait);
    op->kind = SQLLOCK_OP_NONE;
    return st;
}
