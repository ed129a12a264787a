/*
 * virt.c - see virt.h.  To add a virtual file, add a row to `files`.
 */
#include "fs/virt.h"

#include "base/log.h"
#include "base/util.h"
#include "fs/announce.h"
#include "fs/fs_state.h"
#include "fs/stats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* .mpfs/prefetch: one announce stream per open handle. */
static int prefetch_open(struct mpfs_fs *fs, int pid, void **state)
{
    struct mpfs_announce_stream *s = NULL;
    int rc = mpfs_announce_open(fs->announce, NULL, pid, &s);
    *state = s;
    return rc;
}

static int prefetch_write(struct mpfs_fs *fs, void *state, const char *buf, size_t len)
{
    (void)fs;
    size_t line = 0;
    int rc = mpfs_announce_write(state, buf, len, &line);
    if (rc < 0)
        mpfs_info(".mpfs/prefetch: write refused at its line %zu: %s", line, strerror(-rc));
    return rc;
}

static void prefetch_release(struct mpfs_fs *fs, void *state)
{
    (void)fs;
    mpfs_announce_close(state);
}

static const struct mpfs_virt_file files[] = {
    {"stats", 0444, mpfs_stats_report, NULL, NULL, NULL},
    {"prefetch", 0222, NULL, prefetch_open, prefetch_write, prefetch_release},
};

static time_t started;

int mpfs_virt_is(uint64_t ino)
{
    return ino == MPFS_VIRT_DIR_INO || mpfs_virt_by_ino(ino) != NULL;
}

const struct mpfs_virt_file *mpfs_virt_at(size_t i)
{
    return i < MPFS_ARRAY_SIZE(files) ? &files[i] : NULL;
}

uint64_t mpfs_virt_ino(size_t i)
{
    return UINT64_MAX - 2 - (uint64_t)i;
}

const struct mpfs_virt_file *mpfs_virt_by_ino(uint64_t ino)
{
    if (ino >= MPFS_VIRT_DIR_INO || ino < UINT64_MAX - 1 - MPFS_ARRAY_SIZE(files))
        return NULL;
    return &files[UINT64_MAX - 2 - ino];
}

uint64_t mpfs_virt_lookup(const char *name)
{
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(files); i++)
        if (strcmp(files[i].name, name) == 0)
            return mpfs_virt_ino(i);
    return 0;
}

void mpfs_virt_stat(uint64_t ino, uid_t uid, gid_t gid, struct stat *st)
{
    if (!started)
        started = time(NULL);
    memset(st, 0, sizeof(*st));
    st->st_ino = (ino_t)ino;
    st->st_uid = uid;
    st->st_gid = gid;
    st->st_mtime = st->st_ctime = st->st_atime = started;
    const struct mpfs_virt_file *f = mpfs_virt_by_ino(ino);
    if (f) {
        st->st_mode = S_IFREG | f->mode;
        st->st_nlink = 1;
    } else {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
    }
}

char *mpfs_virt_render(struct mpfs_fs *fs, uint64_t ino, size_t *len)
{
    const struct mpfs_virt_file *f = mpfs_virt_by_ino(ino);
    if (!f || !f->render)
        return NULL;
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    if (!out)
        return NULL;
    f->render(fs, out);
    fclose(out);
    return buf;
}
