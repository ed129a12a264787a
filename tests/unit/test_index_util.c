/*
 * test_index_util.c - see test_index_util.h.
 */
#include "test_index_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

char *tix_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char *path = mpfs_xasprintf("%s/mpfs-index-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

void tix_rm_rf(const char *path)
{
    mpfs_remove_tree(path);
}

struct mpfs_index_entry tix_entry(uint64_t ino, uint64_t seed, int dir)
{
    struct mpfs_index_entry e;
    memset(&e, 0, sizeof(e));
    e.ino = ino;
    e.mode = dir ? (S_IFDIR | 0755) : (S_IFREG | 0644);
    e.uid = 1000;
    e.gid = 100;
    e.nlink = dir ? 2 : 1;
    e.size = seed * 4096 + 17;
    e.mtime_ns = 1700000000000000000LL + (int64_t)seed;
    e.ctime_ns = e.mtime_ns + 1;
    e.atime_ns = e.mtime_ns + 2;
    e.fileid = seed + 99;
    e.attr_valid = 7;
    e.source = MPFS_INDEX_SRC_S3;
    e.flags = 0;
    e.seen_ns = 1700000000000000000LL;
    snprintf(e.version, sizeof(e.version), "\"etag-%016llx\"",
             (unsigned long long)seed);
    return e;
}

static int saved_fd = -1;
static FILE *capture;

void tix_capture_begin(void)
{
    fflush(stderr);
    capture = tmpfile();
    saved_fd = dup(STDERR_FILENO);
    dup2(fileno(capture), STDERR_FILENO);
}

char *tix_capture_end(void)
{
    fflush(stderr);
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    long n = ftell(capture);
    if (n < 0) {
        n = 0;
    }
    char *s = mpfs_xmalloc((size_t)n + 1);
    rewind(capture);
    size_t got = fread(s, 1, (size_t)n, capture);
    s[got] = '\0';
    fclose(capture);
    capture = NULL;
    /* Show the test's log too. */
    fputs(s, stderr);
    return s;
}

int tix_count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (d == NULL) {
        return -errno;
    }
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}
