/*
 * log.c - see log.h.
 */
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

int mpfs_log_level = MPFS_LOG_WARN;
static int use_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int mpfs_log_set_level_name(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            mpfs_log_level = i;
            return 0;
        }
    }
    return -EINVAL;
}

int mpfs_log_level_name_ok(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return 0;
    return -EINVAL;
}

void mpfs_log_use_syslog(int on)
{
    use_syslog = on;
    if (on)
        openlog("mpfs", LOG_PID, LOG_DAEMON);
}

void mpfs_log_emit(int level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (use_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level & 3], "%s", line);
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld mpfs %s: %s\n", tm.tm_hour,
            tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level & 3],
            line);
}
