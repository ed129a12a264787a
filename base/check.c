/*
 * check.c - see check.h.  Writes with one write(2) so the line is whole even
 * when another thread is logging, then aborts (core dump, debugger stop).
 */
#include "base/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void mpfs_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "mpfs: %s:%d: %s: assertion failed: %s\n", file, line,
                     func, expr);
    if (n > 0) {
        ssize_t w = write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
        (void)w;
    }
    abort();
}
