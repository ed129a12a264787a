/*
 * test_cache_disk.c - the disk tier: persistence across cache_free /
 * cache_new, promotion of disk hits, checksum and header corruption,
 * invalid and stale files at start, the byte budget, invalidation, a real
 * full file system (a 2 MiB tmpfs, when mount(2) is allowed) and injected
 * write/read faults, unusable directories; block data at a 4 KiB offset,
 * written with O_DIRECT from page-aligned fetch buffers where the file
 * system allows it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/blockcache.h"

#define BLK 4096

struct ctx {
    char dir[64];
};

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    strcpy(c->dir, "/tmp/mpfs-cache-test-XXXXXX");
    if (!mkdtemp(c->dir)) {
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    char mnt[128];
    snprintf(mnt, sizeof(mnt), "%s/mnt", c->dir);
    umount2(mnt, MNT_DETACH); /* if a failed assertion left the tmpfs mounted */
    nftw(c->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(c);
    return 0;
}

static struct mpfs_cache *open_cache(const char *dir, size_t ram, uint64_t disk)
{
    char err[256] = "";
    struct mpfs_cache_config cfg = {
        .block_size = BLK, .ram_bytes = ram, .disk_dir = dir, .disk_bytes = disk};
    struct mpfs_cache *c = mpfs_cache_new(&cfg, err, sizeof(err));
    if (!c) {
        print_message("mpfs_cache_new: %s\n", err);
    }
    assert_non_null(c);
    /* the index is rebuilt in the background: wait for it (flush waits
     * for the start-up scan as well as for queued writes) */
    mpfs_cache_flush(c);
    return c;
}

static struct mpfs_block_key key(const char *file, const char *version, uint64_t block)
{
    struct mpfs_block_key k = {file, strlen(file), version, block};
    return k;
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        b[i] = (unsigned char)(seed * 131 + i * 13 + (i >> 8));
    }
}

/* Paths of the block files under dir (up to max). */
static int list_blocks(const char *dir, char paths[][600], int max)
{
    int n = 0;
    char sub[300];
    for (int i = 0; i < 256; i++) {
        snprintf(sub, sizeof(sub), "%s/v1/%02x", dir, i);
        DIR *d = opendir(sub);
        if (!d) {
            continue;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strstr(de->d_name, ".blk") && n < max) {
                snprintf(paths[n++], 600, "%s/%s", sub, de->d_name);
            }
        }
        closedir(d);
    }
    return n;
}

static void test_persistence(void **state)
{
    struct ctx *t = *state;
    struct mpfs_cache *c = open_cache(t->dir, 1 << 20, 1 << 30);
    unsigned char in[BLK], out[BLK];
    for (uint64_t b = 0; b < 10; b++) {
        fill(in, BLK - (b == 9 ? 1000 : 0), (unsigned)b);
        struct mpfs_block_key k = key("s3:bucket/obj", "etag-1", b);
        mpfs_cache_put(c, &k, in, BLK - (b == 9 ? 1000 : 0));
    }
    mpfs_cache_flush(c);
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.disk_writes, 10);
    assert_int_equal(st.disk_errors, 0);
    assert_true(st.disk_bytes >= 10 * BLK);
    mpfs_cache_free(c);

    struct stat sb;
    assert_int_equal(stat(t->dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    /* a new process: RAM is empty, the disk tier was rebuilt */
    c = open_cache(t->dir, 1 << 20, 1 << 30);
    for (uint64_t b = 0; b < 10; b++) {
        size_t len = BLK - (b == 9 ? 1000 : 0);
        fill(in, len, (unsigned)b);
        struct mpfs_block_key k = key("s3:bucket/obj", "etag-1", b);
        assert_int_equal(mpfs_cache_contains(c, &k), MPFS_CACHE_ON_DISK);
        assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), (ssize_t)len);
        assert_memory_equal(in, out, len);
        assert_int_equal(mpfs_cache_contains(c, &k), MPFS_CACHE_IN_RAM); /* promoted */
    }
    /* the same file under another version is not there */
    struct mpfs_block_key k2 = key("s3:bucket/obj", "etag-2", 0);
    assert_int_equal(mpfs_cache_get(c, &k2, out, 0, BLK), -ENOENT);
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.disk_hits, 10);
    assert_int_equal(st.disk_writes, 0); /* disk hits are not written back */
    mpfs_cache_free(c);
}

/* The index is rebuilt by the writer thread after mpfs_cache_new returns:
 * the cache serves at once, a close during the scan neither hangs nor
 * loses blocks, and after the scan every block is found again. */
static void test_background_index(void **state)
{
    struct ctx *t = *state;
    const uint64_t n = 300;
    struct mpfs_cache *c = open_cache(t->dir, 1 << 20, 1 << 30);
    unsigned char in[BLK], out[BLK];
    for (uint64_t b = 0; b < n; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key k = key("s3:bucket/big", "e1", b);
        mpfs_cache_put(c, &k, in, BLK);
        if (b % 64 == 63) {
            mpfs_cache_flush(c); /* keep the bounded queue from dropping */
        }
    }
    mpfs_cache_flush(c);
    mpfs_cache_free(c);

    /* reopen and use it at once, without waiting for the scan */
    char err[256];
    struct mpfs_cache_config cfg = {
        .block_size = BLK, .ram_bytes = 1 << 20, .disk_dir = t->dir, .disk_bytes = 1 << 30};
    c = mpfs_cache_new(&cfg, err, sizeof(err));
    assert_non_null(c);
    fill(in, BLK, 7777);
    struct mpfs_block_key k = key("s3:bucket/other", "e1", 0);
    mpfs_cache_put(c, &k, in, BLK);
    assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), BLK);
    assert_memory_equal(in, out, BLK);
    mpfs_cache_free(c); /* possibly in the middle of the scan */

    c = open_cache(t->dir, 1 << 20, 1 << 30); /* waits for the scan */
    for (uint64_t b = 0; b < n; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key kb = key("s3:bucket/big", "e1", b);
        assert_int_equal(mpfs_cache_get(c, &kb, out, 0, BLK), BLK);
        assert_memory_equal(in, out, BLK);
    }
    mpfs_cache_free(c);
}

static void test_ram_eviction_then_disk_hit(void **state)
{
    struct ctx *t = *state;
    struct mpfs_cache *c = open_cache(t->dir, 4 * BLK, 1 << 30);
    unsigned char in[BLK], out[BLK];
    for (uint64_t b = 0; b < 20; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key k = key("f", "v", b);
        mpfs_cache_put(c, &k, in, BLK);
        mpfs_cache_flush(c); /* the writer queue holds its own reference */
    }
    struct mpfs_block_key k0 = key("f", "v", 0);
    assert_int_equal(mpfs_cache_contains(c, &k0), MPFS_CACHE_ON_DISK);
    assert_int_equal(mpfs_cache_get(c, &k0, out, 10, 100), 100);
    fill(in, BLK, 0);
    assert_memory_equal(in + 10, out, 100);
    assert_int_equal(mpfs_cache_load(c, &k0), 0);
    struct mpfs_block_key k1 = key("f", "v", 1);
    assert_int_equal(mpfs_cache_load(c, &k1), 0);
    assert_int_equal(mpfs_cache_contains(c, &k1), MPFS_CACHE_IN_RAM);
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_true(st.ram_bytes <= 4 * BLK);
    assert_int_equal(st.disk_writes, 20);
    mpfs_cache_free(c);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void test_checksum_corruption(void **state)
{
    struct ctx *t = *state;
    struct mpfs_cache *c = open_cache(t->dir, 1 << 20, 1 << 30);
    unsigned char in[BLK], out[BLK];
    fill(in, BLK, 5);
    struct mpfs_block_key k = key("file", "v", 7);
    mpfs_cache_put(c, &k, in, BLK);
    mpfs_cache_flush(c);
    mpfs_cache_free(c);

    char paths[4][600];
    assert_int_equal(list_blocks(t->dir, paths, 4), 1);
    struct stat sb;
    assert_int_equal(stat(paths[0], &sb), 0);
    flip_byte(paths[0], sb.st_size - 100); /* in the data */

    c = open_cache(t->dir, 1 << 20, 1 << 30);
    assert_int_equal(mpfs_cache_contains(c, &k), MPFS_CACHE_ON_DISK); /* header is fine */
    assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), -ENOENT);
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.checksum_failures, 1);
    assert_int_equal(st.misses, 1);
    assert_int_equal(mpfs_cache_contains(c, &k), MPFS_CACHE_ABSENT);
    assert_int_equal(list_blocks(t->dir, paths, 4), 0); /* deleted */
    /* a fresh put works again */
    mpfs_cache_put(c, &k, in, BLK);
    mpfs_cache_flush(c);
    assert_int_equal(list_blocks(t->dir, paths, 4), 1);
    mpfs_cache_free(c);
}

static void test_bad_files_at_start(void **state)
{
    struct ctx *t = *state;
    struct mpfs_cache *c = open_cache(t->dir, 1 << 20, 1 << 30);
    unsigned char in[BLK];
    fill(in, BLK, 1);
    for (uint64_t b = 0; b < 3; b++) {
        struct mpfs_block_key k = key("file", "v", b);
        mpfs_cache_put(c, &k, in, BLK);
    }
    mpfs_cache_flush(c);
    mpfs_cache_free(c);

    char paths[8][600];
    assert_int_equal(list_blocks(t->dir, paths, 8), 3);
    flip_byte(paths[0], 20);                       /* header field: header checksum fails */
    assert_int_equal(truncate(paths[1], 1000), 0); /* torn */
    char junk[700];
    snprintf(junk, sizeof(junk), "%s.tmp", paths[2]); /* an interrupted write */
    FILE *f = fopen(junk, "w");
    fputs("partial", f);
    fclose(f);

    c = open_cache(t->dir, 1 << 20, 1 << 30);
    int on_disk = 0;
    for (uint64_t b = 0; b < 3; b++) {
        struct mpfs_block_key k = key("file", "v", b);
        on_disk += mpfs_cache_contains(c, &k) == MPFS_CACHE_ON_DISK;
    }
    assert_int_equal(on_disk, 1);
    assert_int_equal(list_blocks(t->dir, paths, 8), 1);
    assert_int_equal(access(junk, F_OK), -1);
    mpfs_cache_free(c);
}

static void test_disk_budget_and_invalidate(void **state)
{
    struct ctx *t = *state;
    /* each block file is 4 KiB of data + header + key: 8 KiB on disk */
    struct mpfs_cache *c = open_cache(t->dir, 1 << 20, 10 * 8192);
    unsigned char in[BLK];
    for (uint64_t b = 0; b < 50; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key k = key("big", "v", b);
        mpfs_cache_put(c, &k, in, BLK);
        mpfs_cache_flush(c);
    }
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_true(st.disk_bytes <= 10 * 8192);
    assert_int_equal(st.disk_evictions, 40);
    char paths[64][600];
    assert_int_equal(list_blocks(t->dir, paths, 64), 10);

    mpfs_cache_invalidate(c, "big", 3);
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.disk_bytes, 0);
    assert_int_equal(st.ram_bytes, 0);
    assert_int_equal(list_blocks(t->dir, paths, 64), 0);
    mpfs_cache_free(c);
}

static void test_write_fault(void **state)
{
    struct ctx *t = *state;
    struct mpfs_cache *c = open_cache(t->dir, 1 << 20, 1 << 30);
    unsigned char in[BLK], out[BLK];
    mpfs_cache_set_disk_fault(c, EIO, 0);
    for (uint64_t b = 0; b < 10; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key k = key("f", "v", b);
        mpfs_cache_put(c, &k, in, BLK);
        mpfs_cache_flush(c);
    }
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.disk_errors, 1);      /* the first write failed ... */
    assert_int_equal(st.disk_write_drops, 9); /* ... and the tier backed off */
    assert_int_equal(st.disk_writes, 0);
    /* reads are unaffected */
    for (uint64_t b = 0; b < 10; b++) {
        struct mpfs_block_key k = key("f", "v", b);
        assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), BLK);
    }
    /* the fault clears: writes resume */
    mpfs_cache_set_disk_fault(c, 0, 0);
    struct mpfs_block_key k = key("f", "v", 100);
    mpfs_cache_put(c, &k, in, BLK);
    mpfs_cache_flush(c);
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.disk_writes, 1);
    mpfs_cache_free(c);
}

static void test_read_fault(void **state)
{
    struct ctx *t = *state;
    struct mpfs_cache *c = open_cache(t->dir, 1 << 20, 1 << 30);
    unsigned char in[BLK], out[BLK];
    fill(in, BLK, 1);
    struct mpfs_block_key k = key("f", "v", 0);
    mpfs_cache_put(c, &k, in, BLK);
    mpfs_cache_flush(c);
    mpfs_cache_free(c);
    c = open_cache(t->dir, 1 << 20, 1 << 30);
    mpfs_cache_set_disk_fault(c, 0, EIO);
    assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), -ENOENT); /* a miss, not an error */
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.disk_errors, 1);
    assert_int_equal(st.checksum_failures, 0);
    assert_int_equal(mpfs_cache_contains(c, &k), MPFS_CACHE_ABSENT);
    mpfs_cache_free(c);
}

/* A real ENOSPC: a 2 MiB tmpfs that something else fills after start. */
static void test_disk_full_tmpfs(void **state)
{
    struct ctx *t = *state;
    char mnt[128];
    snprintf(mnt, sizeof(mnt), "%s/mnt", t->dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=2M") != 0) {
        print_message("mount tmpfs: %s: skipping (the fault-hook test covers the logic)\n",
                      strerror(errno));
        skip();
    }
    char cdir[200];
    snprintf(cdir, sizeof(cdir), "%s/cache", mnt);
    struct mpfs_cache *c = open_cache(cdir, 1 << 20, 1 << 30); /* budget >> fs */
    unsigned char in[BLK], out[BLK];
    /* the budget was fitted to the free space, so no ENOSPC yet */
    for (uint64_t b = 0; b < 8; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key k = key("f", "v", b);
        mpfs_cache_put(c, &k, in, BLK);
        mpfs_cache_flush(c);
    }
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.disk_writes, 8);
    assert_int_equal(st.disk_errors, 0);
    /* another program takes every remaining byte */
    char hog[256];
    snprintf(hog, sizeof(hog), "%s/hog", mnt);
    int fd = open(hog, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    static unsigned char zeros[65536];
    while (write(fd, zeros, sizeof(zeros)) > 0) {
    }
    while (write(fd, zeros, 512) > 0) {
    }
    close(fd);
    for (uint64_t b = 8; b < 40; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key k = key("f", "v", b);
        mpfs_cache_put(c, &k, in, BLK);
        mpfs_cache_flush(c);
    }
    mpfs_cache_get_stats(c, &st);
    print_message("disk full: writes=%llu errors=%llu drops=%llu evictions=%llu\n",
                  (unsigned long long)st.disk_writes, (unsigned long long)st.disk_errors,
                  (unsigned long long)st.disk_write_drops, (unsigned long long)st.disk_evictions);
    assert_true(st.disk_errors >= 1);
    assert_true(st.disk_write_drops >= 1); /* backing off, not hammering */
    /* every block still reads (from RAM) */
    for (uint64_t b = 0; b < 40; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key k = key("f", "v", b);
        assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), BLK);
        assert_memory_equal(in, out, BLK);
    }
    mpfs_cache_free(c);
    assert_int_equal(umount(mnt), 0);
}

static void test_unusable_dirs(void **state)
{
    struct ctx *t = *state;
    char err[256] = "";
    char file[128];
    snprintf(file, sizeof(file), "%s/plainfile", t->dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    struct mpfs_cache_config cfg = {.block_size = BLK, .disk_dir = file};
    assert_null(mpfs_cache_new(&cfg, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    print_message("file as dir: %s\n", err);

    char sub[200];
    snprintf(sub, sizeof(sub), "%s/plainfile/below", t->dir);
    cfg.disk_dir = sub;
    err[0] = '\0';
    assert_null(mpfs_cache_new(&cfg, err, sizeof(err)));
    assert_true(strlen(err) > 0);

    /* a second cache on the same directory is refused */
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/shared", t->dir);
    cfg.disk_dir = dir;
    struct mpfs_cache *c = mpfs_cache_new(&cfg, err, sizeof(err));
    assert_non_null(c);
    err[0] = '\0';
    assert_null(mpfs_cache_new(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "in use"));
    mpfs_cache_free(c);
    c = mpfs_cache_new(&cfg, err, sizeof(err)); /* released on free */
    assert_non_null(c);
    mpfs_cache_free(c);
}

/* Can the file system under dir take an O_DIRECT write of one page? */
static int direct_io_works(const char *dir)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/direct-probe", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0600);
    if (fd < 0) {
        return 0;
    }
    void *page = aligned_alloc(4096, 4096);
    memset(page, 0, 4096);
    int ok = pwrite(fd, page, 4096, 0) == 4096;
    free(page);
    close(fd);
    unlink(p);
    return ok;
}

/* Blocks sliced from one fetch buffer (as the reader inserts them) reach
 * the disk tier with their data at a 4 KiB boundary of the file, written
 * with O_DIRECT (whole pages; a partial last page through the page cache)
 * where the file system allows it, and read back byte for byte after a
 * restart. */
static void test_direct_write(void **state)
{
    struct ctx *t = *state;
    const size_t bs = 1 << 20;
    char err[256] = "";
    struct mpfs_cache_config cfg = {
        .block_size = bs, .ram_bytes = 4 * bs, .disk_dir = t->dir, .disk_bytes = 1ull << 30};
    struct mpfs_cache *c = mpfs_cache_new(&cfg, err, sizeof(err));
    assert_non_null(c);
    mpfs_cache_flush(c);
    size_t tail = bs - 100; /* the last block of a file: not whole pages */
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(2 * bs + tail);
    unsigned char *data = mpfs_cache_buf_data(b);
    fill(data, 2 * bs + tail, 77);
    for (uint64_t i = 0; i < 3; i++) {
        struct mpfs_block_key k = key("s3:bucket/big", "etag-d", i);
        mpfs_cache_put_buf(c, &k, b, i * bs, i == 2 ? tail : bs, 0);
    }
    mpfs_cache_flush(c);
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.disk_writes, 3);
    int direct = direct_io_works(t->dir);
    print_message("O_DIRECT %s here: %llu bytes written with it\n",
                  direct ? "works" : "does not work",
                  (unsigned long long)st.disk_direct_bytes);
    if (direct) {
        assert_int_equal(st.disk_direct_bytes, 2 * bs + (tail & ~(size_t)4095));
    } else {
        assert_int_equal(st.disk_direct_bytes, 0);
    }
    mpfs_cache_free(c);

    /* the layout: data at the first 4 KiB boundary after header and key */
    char paths[4][600];
    assert_int_equal(list_blocks(t->dir, paths, 4), 3);
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        assert_int_equal(stat(paths[i], &sb), 0);
        size_t len = (size_t)sb.st_size - 4096;
        assert_true(len == bs || len == tail);
        unsigned char *got = malloc(len);
        int fd = open(paths[i], O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, got, len, 4096), (ssize_t)len);
        close(fd);
        /* block 0 or 1 (same length) or the tail: one of the slices */
        int match = (len == tail && memcmp(got, data + 2 * bs, len) == 0) ||
                    (len == bs && (memcmp(got, data, len) == 0 || memcmp(got, data + bs, len) == 0));
        assert_true(match);
        free(got);
    }

    /* a restart: every block comes back from disk, byte for byte */
    c = mpfs_cache_new(&cfg, err, sizeof(err));
    assert_non_null(c);
    mpfs_cache_flush(c);
    unsigned char *out = malloc(bs);
    for (uint64_t i = 0; i < 3; i++) {
        struct mpfs_block_key k = key("s3:bucket/big", "etag-d", i);
        size_t len = i == 2 ? tail : bs;
        assert_int_equal(mpfs_cache_contains(c, &k), MPFS_CACHE_ON_DISK);
        assert_int_equal(mpfs_cache_get(c, &k, out, 0, bs), (ssize_t)len);
        assert_memory_equal(out, data + i * bs, len);
    }
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.checksum_failures, 0);
    free(out);
    mpfs_cache_buf_put(b);
    mpfs_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ram_eviction_then_disk_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_budget_and_invalidate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_tmpfs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
