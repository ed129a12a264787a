/*
 * itest.h - the assertion of the integration tests that are plain
 * programs (not cmocka): report the failure with its line and keep going,
 * so one run shows every broken expectation; main returns non-zero if
 * any failed.  The including file defines `static int g_failed;`.
 */
#ifndef MPFS_TESTS_INTEGRATION_ITEST_H
#define MPFS_TESTS_INTEGRATION_ITEST_H

#include <stdio.h>

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond);                                \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            g_failed++;                                                                            \
        }                                                                                          \
    } while (0)

#endif
