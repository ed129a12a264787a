/*
 * check.h - always-on assertions.
 *
 * MPFS_ASSERT(cond) checks an invariant in every build type: unlike
 * the standard assert macro, it is not compiled out by NDEBUG (Release and RelWithDebInfo
 * define it), so the expression is always evaluated and a broken invariant
 * always stops the process with the file, line and expression.  That also
 * makes a side effect inside it (mkdtemp in a test fixture) safe, though
 * code should still not rely on that.  For invariants only, never for I/O
 * outcomes: those return -errno (STYLE.md).
 *
 * No locking: it only formats one line to stderr and aborts.
 */
#ifndef MPFS_BASE_CHECK_H
#define MPFS_BASE_CHECK_H

__attribute__((noreturn)) void mpfs_assert_fail(const char *expr, const char *file, int line,
                                                const char *func);

#define MPFS_ASSERT(cond)                                                      \
    do {                                                                       \
        if (__builtin_expect(!(cond), 0))                                      \
            mpfs_assert_fail(#cond, __FILE__, __LINE__, __func__);             \
    } while (0)

#endif
