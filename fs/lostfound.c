/*
 * lostfound.c - see lostfound.h.
 */
#include "fs/lostfound.h"

#include "base/log.h"
#include "base/util.h"
#include "fs/fs_state.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#define RESCUE_NAME_MAX 200
#define RESCUE_XATTR "user.mpfs.path"

char *mpfs_lostfound_rescue(struct mpfs_fs *fs, const char *staging, const char *path,
                            uint64_t size)
{
    /* the path, '/' escaped, shortened in the middle to fit a name */
    size_t len = strlen(path);
    char *esc = mpfs_xmalloc(len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '/' || path[i] == '%') {
            o += (size_t)sprintf(esc + o, "%%%02X", (unsigned char)path[i]);
        } else {
            esc[o++] = path[i];
        }
    }
    esc[o] = '\0';
    if (o > RESCUE_NAME_MAX) {
        size_t keep = RESCUE_NAME_MAX / 2;
        memmove(esc + keep + 3, esc + o - keep, keep + 1);
        memcpy(esc + keep, "...", 3);
    }
    int64_t now = mpfs_wall_ns();
    time_t t = (time_t)(now / 1000000000LL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char *dest = mpfs_xasprintf("%s/%s.%04d%02d%02dT%02d%02d%02dZ-%09lld", fs->lostfound_dir,
                                esc[0] ? esc : "unnamed", tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                                (long long)(now % 1000000000LL));
    free(esc);
    if (rename(staging, dest) < 0) {
        mpfs_error("data of '%s' (%llu bytes) could not be committed and cannot be moved to "
                   "lost+found (%s): it stays in %s", path, (unsigned long long)size,
                   strerror(errno), staging);
        free(dest);
        return NULL;
    }
    /* best effort: the name already carries the path, shortened if long */
    (void)setxattr(dest, RESCUE_XATTR, path, strlen(path), 0);
    mpfs_error("data of '%s' (%llu bytes) could not be committed: saved as %s", path,
               (unsigned long long)size, dest);
    return dest;
}

/* The original path of a rescued file: its xattr, else its name decoded. */
static void rescued_path(const char *file, const char *name, char *out, size_t outlen)
{
    ssize_t n = getxattr(file, RESCUE_XATTR, out, outlen - 1);
    if (n > 0) {
        out[n] = '\0';
        return;
    }
    size_t o = 0;
    const char *end = strrchr(name, '.'); /* the time suffix */
    for (const char *p = name; *p && p != end && o + 1 < outlen; p++) {
        unsigned c;
        if (p[0] == '%' && sscanf(p + 1, "%2X", &c) == 1) {
            out[o++] = (char)c;
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

int mpfs_lostfound_list(struct mpfs_fs *fs, mpfs_rescued_fn fn, void *arg)
{
    DIR *d = opendir(fs->lostfound_dir);
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *file = mpfs_xasprintf("%s/%s", fs->lostfound_dir, de->d_name);
        struct stat st;
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
            char path[4096];
            rescued_path(file, de->d_name, path, sizeof(path));
            if (fn)
                fn(arg, path, file, (uint64_t)st.st_size, (int64_t)st.st_mtime);
            n++;
        }
        free(file);
    }
    closedir(d);
    return n;
}
