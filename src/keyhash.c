/* SPDX-License-Identifier: MIT */
/*
 * The name -> advisory key rule: Bob Jenkins' lookup3 hash as PostgreSQL's
 * hash_bytes_extended() computes it on a little-endian server, with seed 0.
 * That is what hashtextextended(name, 0) returns for a text value whose
 * bytes are the name (deterministic collations hash the raw bytes), so a
 * psql user can take the same lock with plain SQL. Defined byte-wise here,
 * the result is the same on every client platform.
 */
#include "sqllock_int.h"

static uint32_t rot(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

#define MIX(a, b, c)                                                                            \
    do {                                                                                        \
        a -= c;                                                                                 \
        a ^= rot(c, 4);                                                                         \
        c += b;                                                                                 \
        b -= a;                                                                                 \
        b ^= rot(a, 6);                                                                         \
        a += c;                                                                                 \
        c -= b;                                                                                 \
        c ^= rot(b, 8);                                                                         \
        b += a;                                                                                 \
        a -= c;                                                                                 \
        a ^= rot(c, 16);                                                                        \
        c += b;                                                                                 \
        b -= a;                                                                                 \
        b ^= rot(a, 19);                                                                        \
        a += c;                                                                                 \
        c -= b;                                                                                 \
        c ^= rot(b, 4);                                                                         \
        b += a;                                                                                 \
    } while (0)

#define FINAL(a, b, c)                                                                          \
    do {                                                                                        \
        c ^= b;                                                                                 \
        c -= rot(b, 14);                                                                        \
        a ^= c;                                                                                 \
        a -= rot(c, 11);                                                                        \
        b ^= a;                                                                                 \
        b -= rot(a, 25);                                                                        \
        c ^= b;                                                                                 \
        c -= rot(b, 16);                                                                        \
        a ^= c;                                                                                 \
        a -= rot(c, 4);                                                                         \
        b ^= a;                                                                                 \
        b -= rot(a, 14);                                                                        \
        c ^= b;                                                                                 \
        c -= rot(b, 24);                                                                        \
    } while (0)

static uint32_t le32(const unsigned char *k)
{
    return (uint32_t)k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
}

uint64_t sqllock__hashtext64(const unsigned char *k, size_t len)
{
    uint32_t a, b, c;
    a = b = c = 0x9e3779b9u + (uint32_t)len + 3923095u;

    while (len >= 12) {
        a += le32(k);
        b += le32(k + 4);
        c += le32(k + 8);
        MIX(a, b, c);
        k += 12;
        len -= 12;
    }
    /* The last 0..11 bytes; the lowest byte of c is left for the length. */
    switch (len) {
    case 11: c += (uint32_t)k[10] << 24; /* fall through */
    case 10: c += (uint32_t)k[9] << 16;  /* fall through */
    case 9: c += (uint32_t)k[8] << 8;    /* fall through */
    case 8: b += (uint32_t)k[7] << 24;   /* fall through */
    case 7: b += (uint32_t)k[6] << 16;   /* fall through */
    case 6: b += (uint32_t)k[5] << 8;    /* fall through */
    case 5: b += k[4];                   /* fall through */
    case 4: a += (uint32_t)k[3] << 24;   /* fall through */
    case 3: a += (uint32_t)k[2] << 16;   /* fall through */
    case 2: a += (uint32_t)k[1] << 8;    /* fall through */
    case 1: a += k[0];
    }
    FINAL(a, b, c);
    return (uint64_t)b << 32 | c;
}

int64_t sqllock_advisory_key(const char *name)
{
    if (!name)
        return 0;
    size_t len = 0;
    while (name[len])
        len++;
    return (int64_t)sqllock__hashtext64((const unsigned char *)name, len);
}
