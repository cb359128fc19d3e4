/* SPDX-License-Identifier: MIT */
/*
 * Operations run by a backend's step function: how one begins, and how a
 * blocking call runs it to its end, waiting in between. The non-blocking
 * API (nonblock.c) steps the very same operations from an event loop, so
 * both paths share every statement and every decision; only who waits
 * differs.
 */
#include <stddef.h>
#include <stdlib.h>

#include "sqllock_int.h"

sqllock_status sqllock__op_begin(sqllock_client *c, struct sqllock_op *op, sqllock_step_fn step,
                                 size_t op_size, enum sqllock_op_kind kind, sqllock_lock *l,
                                 int64_t wait_ms)
{
    /* The step's space, then room for an error kept for the first poll
       (nonblock.c), aligned as malloc aligns. */
    size_t align = sizeof(max_align_t), at = (op_size + align - 1) / align * align;
    void *space = malloc(at + sizeof(struct sqllock_err));
    if (!space)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "out of memory");
    op->kind = kind;
    op->step = step;
    op->lock = l;
    op->wait_ms = wait_ms;
    op->stage = 0;
    op->ended = 0;
    op->outcome = SQLLOCK_OK;
    op->space = space;
    op->ended_err = (struct sqllock_err *)(void *)((char *)space + at);
    op->wait = (struct sqllock_wait){.fd = -1, .events = 0, .until_ms = -1, .cancelable = 0};
    return SQLLOCK_OK;
}

void sqllock__op_end(struct sqllock_op *op)
{
    free(op->space);
    op->space = NULL;
    op->ended_err = NULL;
    op->kind = SQLLOCK_OP_NONE;
}

sqllock_status sqllock__op_run(sqllock_client *c, enum sqllock_op_kind kind, sqllock_lock *l,
                               int64_t wait_ms)
{
    const struct sqllock_backend *be = l->be;
    if (!be->step)
        return kind == SQLLOCK_OP_ACQUIRE   ? be->acquire(c, l, wait_ms)
               : kind == SQLLOCK_OP_RELEASE ? be->release(c, l)
               : kind == SQLLOCK_OP_EXTEND  ? be->extend(c, l, wait_ms)
                                            : be->check(c, l);
    sqllock_status st = sqllock__op_begin(c, &c->op, be->step, be->op_size, kind, l, wait_ms);
    return st == SQLLOCK_OK ? sqllock__op_block(c, &c->op) : st;
}

sqllock_status sqllock__op_block(sqllock_client *c, struct sqllock_op *op)
{
    sqllock_status st;
    /* A failed poll() (out of memory) is stepped through like a wake-up:
       the step reads what it can and asks again. */
    while ((st = op->step(c, op)) == SQLLOCK_PENDING)
        (void)sqllock__wait(c, &op->wait);
    sqllock__op_end(op);
    return st;
}
