/*
 * warmup.c - `mpfs warmup PATH... [--list FILE] [--jobs N] [--force]`:
 * read files (or whole directory trees) through the mount so their blocks
 * land in the mount's block cache before a job starts.
 *
 * Design: the file list is built first (so the total is known up front and
 * checked against the cache budget the daemon reports: a request larger
 * than cache_ram + cache_disk is refused unless --force, because it would
 * evict its own beginning); then N worker threads take files from a shared
 * index and read them with O_DIRECT, which bypasses the kernel's page cache
 * (it would be wasted memory) so every read reaches the daemon.  A file
 * already cached is served from the cache without backend traffic, so an
 * interrupted run resumed later only fetches what is missing.  Progress:
 * a bar redrawn in place on a terminal, a line every 5 s otherwise.
 *
 * Locking: one mutex for the next-file index and the totals.
 */
#include "tools/warmup.h"

#include "base/util.h"
#include "tools/ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

struct job {
    char **path;
    uint64_t *size;
    size_t n, cap;
    uint64_t total;
    /* progress, under lock */
    pthread_mutex_t lock;
    size_t next, done_files, failed;
    uint64_t done_bytes;
};

static void add(struct job *j, const char *path, uint64_t size)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 256;
        j->path = mpfs_xrealloc(j->path, j->cap * sizeof(*j->path));
        j->size = mpfs_xrealloc(j->size, j->cap * sizeof(*j->size));
    }
    j->path[j->n] = mpfs_xstrdup(path);
    j->size[j->n] = size;
    j->n++;
    j->total += size;
}

static int walk(struct job *j, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "mpfs warmup: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    if (S_ISREG(st.st_mode)) {
        add(j, path, (uint64_t)st.st_size);
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return 0;
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "mpfs warmup: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *child = mpfs_xasprintf("%s/%s", path, de->d_name);
        int r = walk(j, child);
        if (r < 0 && !rc)
            rc = r;
        free(child);
    }
    closedir(d);
    return rc;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    void *buf = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t i = j->next < j->n ? j->next++ : SIZE_MAX;
        pthread_mutex_unlock(&j->lock);
        if (i == SIZE_MAX)
            break;
        int fd = open(j->path[i], O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd < 0)
            fd = open(j->path[i], O_RDONLY | O_CLOEXEC);
        int ok = fd >= 0;
        uint64_t off = 0;
        while (ok) {
            ssize_t n = pread(fd, buf, CHUNK, (off_t)off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                fprintf(stderr, "\nmpfs warmup: %s: %s\n", j->path[i], strerror(errno));
                ok = 0;
            }
            if (n <= 0)
                break;
            off += (uint64_t)n;
            pthread_mutex_lock(&j->lock);
            j->done_bytes += (uint64_t)n;
            pthread_mutex_unlock(&j->lock);
        }
        if (fd >= 0)
            close(fd);
        pthread_mutex_lock(&j->lock);
        j->done_files++;
        if (!ok)
            j->failed++;
        pthread_mutex_unlock(&j->lock);
    }
    munmap(buf, CHUNK);
    return NULL;
}


static void progress(struct job *j, double secs, int tty, int final)
{
    pthread_mutex_lock(&j->lock);
    size_t files = j->done_files;
    uint64_t bytes = j->done_bytes;
    pthread_mutex_unlock(&j->lock);
    char done[32], total[32], rate[32];
    mpfs_fmt_bytes(done, sizeof(done), (double)bytes);
    mpfs_fmt_bytes(total, sizeof(total), (double)j->total);
    double r = secs > 0 ? (double)bytes / secs : 0;
    mpfs_fmt_bytes(rate, sizeof(rate), (double)r);
    double eta = r > 0 && j->total > bytes ? (double)(j->total - bytes) / r : 0;
    double frac = j->total ? (double)bytes / (double)j->total : 1.0;
    if (tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int k = 0; k < 30; k++)
            bar[k] = k < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %3.0f%% %zu/%zu files %s/%s %s/s ETA %.0fs  ", bar, frac * 100,
                files, j->n, done, total, rate, eta);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "warmup: %zu/%zu files, %s of %s, %s/s, ETA %.0f s\n", files, j->n, done,
                total, rate, eta);
    }
}

/* The cache budget (RAM + disk) the daemon serving mp reports. */
static int budget(const char *mp, uint64_t *out)
{
    char err[512];
    char *text = NULL;
    int rc = mpfs_ctl_request(mp, "stats", &text, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "mpfs warmup: %s\n", err);
        free(text);
        return rc;
    }
    uint64_t ram = 0, disk = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        sscanf(l, "cache.ram_budget %llu", (unsigned long long *)&ram);
        sscanf(l, "cache.disk_budget %llu", (unsigned long long *)&disk);
    }
    free(text);
    *out = ram + disk;
    return 0;
}

/* The mount point above path: the nearest ancestor that answers the
 * control xattr. */
static char *mount_of(const char *path)
{
    char *p = realpath(path, NULL);
    if (!p)
        return NULL;
    for (;;) {
        char v[8];
        if (getxattr(p, "user.mpfs.ctl", v, 0) >= 0)
            return p;
        char *slash = strrchr(p, '/');
        if (!slash || slash == p) {
            free(p);
            return NULL;
        }
        *slash = '\0';
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: mpfs warmup PATH... [--list FILE] [--jobs N] [--force]\n");
    return 2;
}

int mpfs_warmup_main(int argc, char **argv)
{
    struct job j;
    memset(&j, 0, sizeof(j));
    pthread_mutex_init(&j.lock, NULL);
    int jobs = 8, force = 0, rc = 0, nroots = 0;
    char *mp = NULL;
    pthread_t *t = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--jobs") && i + 1 < argc) {
            jobs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (!strcmp(argv[i], "--list") && i + 1 < argc) {
            FILE *f = fopen(argv[++i], "r");
            if (!f) {
                fprintf(stderr, "mpfs warmup: %s: %s\n", argv[i], strerror(errno));
                rc = 2;
                goto out;
            }
            char line[4096];
            while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (!line[0] || line[0] == '#')
                    continue;
                if (!mp)
                    mp = mount_of(line);
                if (walk(&j, line) < 0)
                    rc = 1;
                nroots++;
            }
            fclose(f);
        } else if (argv[i][0] == '-') {
            rc = usage();
            goto out;
        } else {
            if (!mp)
                mp = mount_of(argv[i]);
            if (walk(&j, argv[i]) < 0)
                rc = 1;
            nroots++;
        }
    }
    if (!nroots || jobs < 1 || jobs > 256) {
        rc = usage();
        goto out;
    }
    if (!mp) {
        fprintf(stderr, "mpfs warmup: the paths are not inside an mpfs mount\n");
        rc = 2;
        goto out;
    }
    uint64_t cap = 0;
    if (budget(mp, &cap) < 0) {
        rc = 1;
        goto out;
    }
    char total[32], capb[32];
    mpfs_fmt_bytes(total, sizeof(total), (double)j.total);
    mpfs_fmt_bytes(capb, sizeof(capb), (double)cap);
    if (j.total > cap) {
        fprintf(stderr,
                "mpfs warmup: %zu files, %s do not fit the cache of %s (cache_ram + cache_disk)"
                "%s\n", j.n, total, capb,
                force ? "; warming anyway (--force): the first files will be evicted again"
                      : "; nothing done (raise cache_disk, warm a subset, or --force)");
        if (!force) {
            rc = 3;
            goto out;
        }
    }
    fprintf(stderr, "warmup: %zu files, %s, cache %s, %d jobs\n", j.n, total, capb, jobs);
    int tty = isatty(2);
    int64_t t0 = mpfs_now_ns();
    t = mpfs_xcalloc((size_t)jobs, sizeof(*t));
    for (int k = 0; k < jobs; k++)
        pthread_create(&t[k], NULL, worker, &j);
    int64_t last = t0;
    for (;;) {
        usleep(200000);
        pthread_mutex_lock(&j.lock);
        int finished = j.done_files == j.n;
        pthread_mutex_unlock(&j.lock);
        int64_t now = mpfs_now_ns();
        if (finished)
            break;
        if (tty || now - last >= 5000000000ll) {
            progress(&j, (double)(now - t0) / 1e9, tty, 0);
            last = now;
        }
    }
    for (int k = 0; k < jobs; k++)
        pthread_join(t[k], NULL);
    progress(&j, (double)(mpfs_now_ns() - t0) / 1e9, tty, 1);
    if (j.failed) {
        fprintf(stderr, "mpfs warmup: %zu file%s could not be read\n", j.failed,
                j.failed == 1 ? "" : "s");
        rc = 1;
    }
out:
    for (size_t i = 0; i < j.n; i++)
        free(j.path[i]);
    free(j.path);
    free(j.size);
    free(t);
    free(mp);
    return rc;
}
