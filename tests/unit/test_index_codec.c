/*
 * test_index_codec.c - the index's on-disk encodings and its RocksDB error
 * mapping, without a database.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "index/codec.h"
#include "index/error.h"

/* Field by field: the struct has padding a decoder need not clear. */
static void assert_entry_equal(const struct mpfs_index_entry *a,
                               const struct mpfs_index_entry *b)
{
    assert_int_equal(a->ino, b->ino);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->uid, b->uid);
    assert_int_equal(a->gid, b->gid);
    assert_int_equal(a->nlink, b->nlink);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->mtime_ns, b->mtime_ns);
    assert_int_equal(a->ctime_ns, b->ctime_ns);
    assert_int_equal(a->atime_ns, b->atime_ns);
    assert_int_equal(a->fileid, b->fileid);
    assert_int_equal(a->attr_valid, b->attr_valid);
    assert_int_equal(a->source, b->source);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->seen_ns, b->seen_ns);
    assert_string_equal(a->version, b->version);
}

static struct mpfs_index_entry full_entry(void)
{
    struct mpfs_index_entry e;
    memset(&e, 0, sizeof(e));
    e.ino = 0x0102030405060708ULL;
    e.mode = 0100644;
    e.uid = 4000000000u;
    e.gid = 12345;
    e.nlink = 3;
    e.size = UINT64_MAX - 5;
    e.mtime_ns = -1; /* before the epoch: signed round trip */
    e.ctime_ns = INT64_MIN;
    e.atime_ns = INT64_MAX;
    e.fileid = 0xdeadbeefcafeULL;
    e.attr_valid = 0x5;
    e.source = MPFS_INDEX_SRC_NFS;
    e.flags = 0xa5;
    e.seen_ns = 1712345678901234567LL;
    strcpy(e.version, "\"9b2cf535f27731c974343645a3985328-12\"");
    return e;
}

static void entry_round_trip(void **state)
{
    (void)state;
    struct mpfs_index_entry e = full_entry(), d;
    char buf[MPFS_INDEX_ENTRY_MAX];

    size_t len = mpfs_index_enc_entry(buf, &e);
    assert_int_equal(len, MPFS_INDEX_ENTRY_FIXED + strlen(e.version));
    assert_int_equal((unsigned char)buf[0], MPFS_INDEX_FMT_ENTRY_V1);
    /* Little-endian on disk whatever the host. */
    assert_int_equal((unsigned char)buf[1], 0x08);
    assert_int_equal((unsigned char)buf[8], 0x01);
    memset(&d, 0x55, sizeof(d));
    assert_int_equal(mpfs_index_dec_entry(buf, len, &d), 0);
    assert_entry_equal(&d, &e);

    /* Empty token. */
    e.version[0] = '\0';
    len = mpfs_index_enc_entry(buf, &e);
    assert_int_equal(len, MPFS_INDEX_ENTRY_FIXED);
    assert_int_equal(mpfs_index_dec_entry(buf, len, &d), 0);
    assert_string_equal(d.version, "");
}

static void entry_version_limits(void **state)
{
    (void)state;
    struct mpfs_index_entry e = full_entry(), d;
    char buf[MPFS_INDEX_ENTRY_MAX];

    /* The longest token fits; an unterminated one is cut, not overrun. */
    memset(e.version, 'v', sizeof(e.version));
    size_t len = mpfs_index_enc_entry(buf, &e);
    assert_int_equal(len, MPFS_INDEX_ENTRY_MAX - 1);
    assert_int_equal(mpfs_index_dec_entry(buf, len, &d), 0);
    assert_int_equal(strlen(d.version), MPFS_INDEX_VERSION_MAX - 1);
}

static void entry_rejects_bad_records(void **state)
{
    (void)state;
    struct mpfs_index_entry e = full_entry(), d;
    char buf[MPFS_INDEX_ENTRY_MAX + 16];
    size_t len = mpfs_index_enc_entry(buf, &e);

    assert_int_equal(mpfs_index_dec_entry(buf, 0, &d), -EUCLEAN);
    assert_int_equal(mpfs_index_dec_entry(buf, MPFS_INDEX_ENTRY_FIXED - 1, &d),
                     -EUCLEAN);
    /* Token length past the end. */
    assert_int_equal(mpfs_index_dec_entry(buf, len - 1, &d), -EUCLEAN);
    /* Unknown format. */
    buf[0] = 9;
    assert_int_equal(mpfs_index_dec_entry(buf, len, &d), -EUCLEAN);
    buf[0] = MPFS_INDEX_FMT_ENTRY_V1;
    /* A token length no version fits. */
    buf[MPFS_INDEX_ENTRY_FIXED - 1] = (char)MPFS_INDEX_VERSION_MAX;
    assert_int_equal(mpfs_index_dec_entry(buf, sizeof(buf), &d), -EUCLEAN);
}

static void entry_ignores_appended_fields(void **state)
{
    (void)state;
    struct mpfs_index_entry e = full_entry(), d;
    char buf[MPFS_INDEX_ENTRY_MAX + 16];
    size_t len = mpfs_index_enc_entry(buf, &e);

    memset(buf + len, 0x77, 16); /* a newer writer's extra fields */
    assert_int_equal(mpfs_index_dec_entry(buf, len + 16, &d), 0);
    assert_string_equal(d.version, e.version);
    assert_int_equal(d.size, e.size);
}

static void dir_and_meta_round_trip(void **state)
{
    (void)state;
    struct mpfs_index_dir dir = {.listed_ns = 1712345678000000001LL,
                                 .entries = 10000},
                          out;
    char buf[MPFS_INDEX_DIR_LEN];
    uint64_t v64;
    uint32_t v32;

    assert_int_equal(mpfs_index_enc_dir(buf, &dir), MPFS_INDEX_DIR_LEN);
    assert_int_equal(mpfs_index_dec_dir(buf, sizeof(buf), &out), 0);
    assert_int_equal(out.listed_ns, dir.listed_ns);
    assert_int_equal(out.entries, dir.entries);
    assert_int_equal(mpfs_index_dec_dir(buf, sizeof(buf) - 1, &out), -EUCLEAN);
    buf[0] = 2;
    assert_int_equal(mpfs_index_dec_dir(buf, sizeof(buf), &out), -EUCLEAN);

    mpfs_index_enc_u64(buf, 0x1122334455667788ULL);
    assert_int_equal((unsigned char)buf[0], 0x88);
    assert_int_equal(mpfs_index_dec_u64(buf, 8, &v64), 0);
    assert_int_equal(v64, 0x1122334455667788ULL);
    assert_int_equal(mpfs_index_dec_u64(buf, 7, &v64), -EUCLEAN);
    mpfs_index_enc_u32(buf, 0xa1b2c3d4u);
    assert_int_equal(mpfs_index_dec_u32(buf, 4, &v32), 0);
    assert_int_equal(v32, 0xa1b2c3d4u);
    assert_int_equal(mpfs_index_dec_u32(buf, 8, &v32), -EUCLEAN);
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* RocksDB's bytewise order must group a directory and sort it by name:
 * big-endian parents make 255 < 256 hold bytewise too. */
static void keys_sort_by_parent_then_name(void **state)
{
    (void)state;
    char a[MPFS_INDEX_KEY_MAX], b[MPFS_INDEX_KEY_MAX];
    size_t al, bl;

    al = mpfs_index_key_entry(a, 255, "zzz", 3);
    bl = mpfs_index_key_entry(b, 256, "aaa", 3);
    assert_true(key_cmp(a, al, b, bl) < 0);
    al = mpfs_index_key_entry(a, 7, "a", 1);
    bl = mpfs_index_key_entry(b, 7, "a.b", 3);
    assert_true(key_cmp(a, al, b, bl) < 0);
    al = mpfs_index_key_entry(a, 7, "Z", 1);
    bl = mpfs_index_key_entry(b, 7, "\xc3\xa9", 2);
    assert_true(key_cmp(a, al, b, bl) < 0);

    /* A directory's keys lie in [prefix(p), prefix(p + 1)). */
    char lo[MPFS_INDEX_PREFIX_LEN], hi[MPFS_INDEX_PREFIX_LEN];
    mpfs_index_key_prefix(lo, MPFS_INDEX_TAG_ENTRY, 7);
    mpfs_index_key_prefix(hi, MPFS_INDEX_TAG_ENTRY, 8);
    al = mpfs_index_key_entry(a, 7, "\xff\xff\xff", 3);
    assert_true(key_cmp(lo, sizeof(lo), a, al) < 0);
    assert_true(key_cmp(a, al, hi, sizeof(hi)) < 0);

    /* Reverse keys: tag, ino, parent, name. */
    al = mpfs_index_key_rev(a, 0x10, 0x20, "n", 1);
    assert_int_equal(al, 1 + 8 + 8 + 1);
    assert_int_equal(a[0], 'R');
    assert_int_equal(mpfs_index_get_be64((unsigned char *)a + 1), 0x10);
    assert_int_equal(mpfs_index_get_be64((unsigned char *)a + 9), 0x20);
    assert_int_equal(a[17], 'n');
}

static void name_check(void **state)
{
    (void)state;
    char name[300];
    size_t len = 0;

    assert_int_equal(mpfs_index_name_check("", &len), -EINVAL);
    assert_int_equal(mpfs_index_name_check(NULL, &len), -EINVAL);
    memset(name, 'x', 255);
    name[255] = '\0';
    assert_int_equal(mpfs_index_name_check(name, &len), 0);
    assert_int_equal(len, 255);
    name[255] = 'x';
    name[256] = '\0';
    assert_int_equal(mpfs_index_name_check(name, &len), -ENAMETOOLONG);
}

static void rocksdb_errors_map_to_errno(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        int err;
    } cases[] = {
        {"Corruption: CURRENT file does not end with newline", -EUCLEAN},
        {"Corruption: block checksum mismatch: stored = 1, computed = 2",
         -EUCLEAN},
        {"IO error: While lock file: /x/db/LOCK: Resource temporarily "
         "unavailable",
         -EBUSY},
        {"IO error: lock hold by current process, acquire time 1 acquiring "
         "thread 2: /x/db/LOCK: No locks available",
         -EBUSY},
        {"IO error: No space left on deviceWhile appending to file: "
         "/x/db/000009.log: No space left on device",
         -ENOSPC},
        {"IO error: While open a file for appending: /x/db/000003.log: "
         "Permission denied",
         -EACCES},
        {"IO error: While mkdir if missing: /etc/passwd/x: Not a directory",
         -ENOTDIR},
        {"IO error: While open a file for appending: /ro/db/LOCK: Read-only "
         "file system",
         -EROFS},
        {"IO error: While opening a file for sequentially reading: "
         "/x/db/MANIFEST-000005: No such file or directory",
         -ENOENT},
        {"IO error: Too many open files in system", -ENFILE},
        {"IO error: something new", -EIO},
        {"NotFound: ", -ENOENT},
        {"Invalid argument: /x/db: does not exist (create_if_missing is "
         "false)",
         -EINVAL},
        {"Not implemented: Unsupported compression method", -EOPNOTSUPP},
        {"Shutdown in progress: ", -ESHUTDOWN},
        {"Resource busy: ", -EBUSY},
        {"Operation timed out: ", -ETIMEDOUT},
        {"Something nobody has seen", -EIO},
    };
    assert_int_equal(mpfs_index_errno(NULL), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = mpfs_index_errno(cases[i].msg);
        if (got != cases[i].err) {
            fail_msg("\"%s\" -> %d, want %d", cases[i].msg, got, cases[i].err);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entry_round_trip),
        cmocka_unit_test(entry_version_limits),
        cmocka_unit_test(entry_rejects_bad_records),
        cmocka_unit_test(entry_ignores_appended_fields),
        cmocka_unit_test(dir_and_meta_round_trip),
        cmocka_unit_test(keys_sort_by_parent_then_name),
        cmocka_unit_test(name_check),
        cmocka_unit_test(rocksdb_errors_map_to_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
