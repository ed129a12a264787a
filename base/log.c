/*
 * log.c - see log.h and logfile.h.
 *
 * Locking: one mutex (lk) around the rate-limit table and the rotation, so
 * a line is never written into a file that is being renamed; formatting
 * happens outside it.  The level check in the mpfs_log() macro comes
 * first, so a suppressed debug line costs nothing.
 */
#include "base/log.h"

#include "base/log_syslog.h"
#include "base/logfile.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int mpfs_log_level = MPFS_LOG_WARN;

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

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static char *file_path;
static uint64_t file_max;
static int file_keep;
static int rl_burst = 10;
static int64_t rl_window_ns = 10 * 1000000000ll;

struct site {
    const char *fmt;
    int64_t window_start; /* monotonic ns */
    int lines;
    unsigned long suppressed;
};
static struct site sites[128];

int mpfs_log_to_file(const char *path, uint64_t max_bytes, int keep)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    pthread_mutex_lock(&lk);
    dup2(fd, 2);
    close(fd);
    free(file_path);
    file_path = strdup(path);
    file_max = max_bytes;
    file_keep = keep < 1 ? 1 : keep;
    pthread_mutex_unlock(&lk);
    return 0;
}

void mpfs_log_set_rate_limit(int burst, int window_ms)
{
    pthread_mutex_lock(&lk);
    rl_burst = burst < 0 ? 0 : burst;
    rl_window_ns = (int64_t)(window_ms < 1 ? 1 : window_ms) * 1000000;
    pthread_mutex_unlock(&lk);
}

const char *mpfs_log_short(char *buf, size_t size, const char *path)
{
    size_t n = strlen(path);
    if (n < size) {
        memcpy(buf, path, n + 1);
        return buf;
    }
    /* keep a third of the room for the start, the rest for the end (the
     * name is what tells files apart) */
    size_t room = size - 4, head = room / 3, tail = room - head;
    memcpy(buf, path, head);
    memcpy(buf + head, "...", 3);
    memcpy(buf + head + 3, path + n - tail, tail + 1);
    return buf;
}

/* Caller holds lk.  Rename the full log away and start a new one. */
static void rotate_locked(void)
{
    struct stat st;
    if (!file_path || file_max == 0 || fstat(2, &st) < 0 || (uint64_t)st.st_size < file_max)
        return;
    size_t len = strlen(file_path) + 16;
    char *from = malloc(len), *to = malloc(len);
    if (!from || !to)
        goto out;
    for (int i = file_keep; i >= 1; i--) {
        snprintf(to, len, "%s.%d", file_path, i);
        if (i == 1)
            snprintf(from, len, "%s", file_path);
        else
            snprintf(from, len, "%s.%d", file_path, i - 1);
        rename(from, to); /* a missing older file is fine */
    }
    int fd = open(file_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
out:
    free(from);
    free(to);
}

/* Caller holds lk.  0: drop the line; else 1, with *suppressed set to the
 * number of lines of this site dropped since it last logged. */
static int admit_locked(const char *fmt, unsigned long *suppressed)
{
    *suppressed = 0;
    if (rl_burst == 0)
        return 1;
    int64_t now = mpfs_now_ns();
    struct site *s = &sites[((uintptr_t)fmt >> 3) % (sizeof(sites) / sizeof(sites[0]))];
    if (s->fmt != fmt) {
        /* another site had this slot: it loses its history (rare) */
        memset(s, 0, sizeof(*s));
        s->fmt = fmt;
    }
    if (now - s->window_start >= rl_window_ns) {
        s->window_start = now;
        s->lines = 0;
    }
    if (s->lines >= rl_burst) {
        s->suppressed++;
        return 0;
    }
    s->lines++;
    *suppressed = s->suppressed;
    s->suppressed = 0;
    return 1;
}

void mpfs_log_emit(int level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    unsigned long suppressed = 0;
    pthread_mutex_lock(&lk);
    int ok = level == MPFS_LOG_DEBUG || admit_locked(fmt, &suppressed);
    if (!ok) {
        pthread_mutex_unlock(&lk);
        return;
    }
    char note[64] = "";
    if (suppressed)
        snprintf(note, sizeof(note), " [%lu similar line%s suppressed]", suppressed,
                 suppressed == 1 ? "" : "s");
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld mpfs %s: %s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, level_names[level & 3], line, note);
    fflush(stderr);
    if (mpfs_log_syslog_wants(level)) {
        char both[sizeof(line) + sizeof(note)];
        snprintf(both, sizeof(both), "%s%s", line, note);
        mpfs_log_syslog_send(level, both);
    }
    rotate_locked();
    pthread_mutex_unlock(&lk);
}
