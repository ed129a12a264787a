/*
 * test_check.c - MPFS_ASSERT stays on when NDEBUG is defined (what Release
 * and RelWithDebInfo builds do): its expression is evaluated and a false
 * one aborts with file, line and expression on stderr.
 */
#define NDEBUG 1

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/check.h"

static int calls;
static int bump(void)
{
    return ++calls;
}

static void test_evaluated_under_ndebug(void **state)
{
    calls = 0;
    MPFS_ASSERT(bump() == 1);
    assert_int_equal(calls, 1);
}

static void test_false_aborts_with_message(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        int x = 1;
        MPFS_ASSERT(x == 2);
        _exit(0);
    }
    close(p[1]);
    char buf[512] = {0};
    size_t used = 0;
    ssize_t n;
    while (used < sizeof(buf) - 1 && (n = read(p[0], buf + used, sizeof(buf) - 1 - used)) > 0)
        used += (size_t)n;
    close(p[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(buf, "test_check.c:"));
    assert_non_null(strstr(buf, "assertion failed: x == 2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluated_under_ndebug),
        cmocka_unit_test(test_false_aborts_with_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
