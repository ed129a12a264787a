/*
 * virt.h - the ".mpfs" directory at the mount root: a small table of
 * virtual files for tools that can only read (or write) files.
 *
 * ".mpfs" is found by name only: it is not in the index, so it never shows
 * in the root's listing (like JuiceFS's .stats), and `ls MOUNT/.mpfs` lists
 * the table.  Each row is a name, a mode and either a renderer (read-only:
 * the content is generated when the file is opened, so one open sees one
 * consistent snapshot) or write handlers with per-handle state (the
 * write-only ".mpfs/prefetch": each open handle is one caller's stream of
 * announced reads, fs/announce.h).  Inode numbers come from the top of the
 * 64-bit range, far above what the index allocates.
 *
 * No libfuse here: fs/fuse_ll.c routes requests for these inodes to the
 * functions below.  No locking of its own: the table is constant, the
 * renderers take what they read under the owners' locks.
 */
#ifndef MPFS_FS_VIRT_H
#define MPFS_FS_VIRT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#define MPFS_VIRT_DIR_NAME ".mpfs"
#define MPFS_VIRT_DIR_INO (UINT64_MAX - 1)

struct mpfs_fs;

struct mpfs_virt_file {
    const char *name;
    mode_t mode; /* permission bits; S_IFREG is added */
    /* read-only files: write the whole content to out */
    void (*render)(struct mpfs_fs *fs, FILE *out);
    /* write-only files: per-handle state made at open (0 or -errno), one
     * write (0 or -errno), the handle closed */
    int (*open)(struct mpfs_fs *fs, int pid, void **state);
    int (*write)(struct mpfs_fs *fs, void *state, const char *buf, size_t len);
    void (*release)(struct mpfs_fs *fs, void *state);
};

/* Is ino the directory or one of its files? */
int mpfs_virt_is(uint64_t ino);
/* Row i of the table (NULL past the end) and its inode number. */
const struct mpfs_virt_file *mpfs_virt_at(size_t i);
uint64_t mpfs_virt_ino(size_t i);
/* The row of a file inode, or NULL (also for the directory). */
const struct mpfs_virt_file *mpfs_virt_by_ino(uint64_t ino);
/* Look a name up in the directory: its inode, or 0. */
uint64_t mpfs_virt_lookup(const char *name);
/* Attributes of the directory or a file (owned by uid/gid). */
void mpfs_virt_stat(uint64_t ino, uid_t uid, gid_t gid, struct stat *st);
/* The content of a read-only file, malloc'd (caller frees); NULL if the
 * file has no renderer. */
char *mpfs_virt_render(struct mpfs_fs *fs, uint64_t ino, size_t *len);

#endif
