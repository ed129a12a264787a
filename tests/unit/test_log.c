/*
 * test_log.c - the daemon's log (base/log.c, logfile.h): a call site that
 * repeats is cut to `burst` lines per window and the next line says how
 * many were suppressed; the file is rotated past its size cap with a fixed
 * number of old files; long paths are shortened in the middle, keeping the
 * name; lines at or above the syslog level also reach a syslog socket, in
 * syslog's format, and an absent socket costs a dropped line, not a stall.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "base/log_syslog.h"
#include "base/logfile.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/mpfs-log-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void fail_once(int i)
{
    mpfs_warn("s3 read 'obj-%d' failed: %s", i, strerror(EIO));
}

static void test_rate_limit(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/rl.log", dir);
    assert_int_equal(mpfs_log_to_file(path, 0, 1), 0);
    mpfs_log_set_rate_limit(5, 200);
    for (int i = 0; i < 100; i++)
        fail_once(i);
    mpfs_warn("another site");
    char *text = slurp(path);
    assert_non_null(text);
    assert_int_equal(count_of(text, "failed: Input/output error"), 5);
    assert_int_equal(count_of(text, "another site"), 1);
    free(text);
    usleep(250000); /* the next window: one more line, carrying the count */
    fail_once(1000);
    text = slurp(path);
    assert_non_null(strstr(text, "'obj-1000' failed: Input/output error [95 similar lines suppressed]"));
    free(text);
    mpfs_log_set_rate_limit(10, 10000);
}

static void test_rotation(void **state)
{
    char path[128], old[140];
    snprintf(path, sizeof(path), "%s/rot.log", dir);
    assert_int_equal(mpfs_log_to_file(path, 4096, 2), 0);
    mpfs_log_set_rate_limit(0, 1000);
    char filler[200];
    memset(filler, 'x', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    for (int i = 0; i < 200; i++)
        mpfs_warn("line %d %s", i, filler);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size < 4096 + 400);
    snprintf(old, sizeof(old), "%s.1", path);
    assert_int_equal(stat(old, &st), 0);
    assert_true(st.st_size >= 4096 && st.st_size < 4096 + 400);
    snprintf(old, sizeof(old), "%s.2", path);
    assert_int_equal(stat(old, &st), 0);
    snprintf(old, sizeof(old), "%s.3", path);
    assert_int_equal(stat(old, &st), -1); /* only `keep` old files */
    char *text = slurp(path);
    assert_non_null(strstr(text, "line 199 "));
    free(text);
    mpfs_log_set_rate_limit(10, 10000);
}

static void test_short_path(void **state)
{
    char buf[32];
    assert_string_equal(mpfs_log_short(buf, sizeof(buf), "a/b.txt"), "a/b.txt");
    const char *longp = "datasets/imagenet/train/n01440764/n01440764_10026.JPEG";
    mpfs_log_short(buf, sizeof(buf), longp);
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
    assert_int_equal(strncmp(buf, "datasets/", 9), 0);
    assert_non_null(strstr(buf, "..."));
    assert_non_null(strstr(buf, "_10026.JPEG"));
}

/* A datagram socket bound at path, as syslog's /dev/log is. */
static int listen_dgram(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    return s;
}

static int recv_line(int s, char *buf, size_t size)
{
    ssize_t n = recv(s, buf, size - 1, 0);
    buf[n < 0 ? 0 : n] = '\0';
    return (int)n;
}

static void test_syslog(void **state)
{
    char path[128], buf[4096], want[64];
    snprintf(path, sizeof(path), "%s/log.sock", dir);
    /* no socket yet: lines are dropped at once, nothing blocks */
    mpfs_log_syslog_open(path, MPFS_LOG_WARN);
    mpfs_log_level = MPFS_LOG_INFO;
    mpfs_warn("before the socket");
    int s = listen_dgram(path);
    /* a reconnect waits a second after a failed one */
    struct timespec pause = {1, 100000000};
    nanosleep(&pause, NULL);
    mpfs_warn("s3 GET %s: %s", "data/f1", "Connection refused");
    mpfs_info("an info line stays in the file");
    mpfs_error("an error");
    assert_true(recv_line(s, buf, sizeof(buf)) > 0);
    /* <daemon|warning> timestamp tag[pid]: text */
    snprintf(want, sizeof(want), " mpfs[%d]: s3 GET data/f1: Connection refused", (int)getpid());
    assert_int_equal(strncmp(buf, "<28>", 4), 0);
    assert_non_null(strstr(buf, want));
    assert_true(recv_line(s, buf, sizeof(buf)) > 0);
    assert_int_equal(strncmp(buf, "<27>", 4), 0);
    assert_non_null(strstr(buf, "an error"));
    assert_int_equal(recv_line(s, buf, sizeof(buf)), -1); /* the info line was not sent */
    assert_int_equal(errno, EAGAIN);

    /* the level names, and off */
    int level;
    assert_int_equal(mpfs_log_syslog_level("off", &level), 0);
    assert_int_equal(level, -1);
    assert_int_equal(mpfs_log_syslog_level("info", &level), 0);
    assert_int_equal(level, MPFS_LOG_INFO);
    assert_int_equal(mpfs_log_syslog_level("loud", &level), -EINVAL);
    mpfs_log_syslog_open(path, -1);
    mpfs_error("not sent when off");
    assert_int_equal(recv_line(s, buf, sizeof(buf)), -1);
    close(s);
    mpfs_log_level = MPFS_LOG_WARN;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_short_path),
        cmocka_unit_test(test_syslog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
