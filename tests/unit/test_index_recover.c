/*
 * test_index_recover.c - recovery from a damaged index: garbage or
 * truncated CURRENT and MANIFEST, bad or missing table files, damage found
 * at run time, another schema, unreadable meta records.  Each must end in
 * an empty, usable index with a warning, never a failed open.
 *
 * Damage is done with plain file writes into dir/db, the layout
 * docs/INDEX.md describes.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "index/index.h"
#include "index/testing.h"
#include "test_index_disk.h"
#include "test_index_util.h"

static void corrupt_current_garbage(void **state)
{
    struct fixture *f = *state;
    tix_make_index(f->dir);
    assert_int_equal(tix_damage(f->dir, "CURRENT", 0, 16), 1);
    tix_assert_rebuilt_after_damage(f->dir, "Corruption");
    assert_int_equal(tix_count_prefix(f->dir, "index.corrupt-"), 1);
}

static void corrupt_current_truncated(void **state)
{
    struct fixture *f = *state;
    tix_make_index(f->dir);
    assert_int_equal(tix_damage(f->dir, "CURRENT", 0, 0), 1);
    tix_assert_rebuilt_after_damage(f->dir, "Corruption");
}

static void corrupt_manifest(void **state)
{
    struct fixture *f = *state;
    tix_make_index(f->dir);
    assert_true(tix_damage(f->dir, "MANIFEST-*", 0, 64) >= 1);
    tix_assert_rebuilt_after_damage(f->dir, "Corruption");
}

static void truncated_manifest_reported(void **state)
{
    struct fixture *f = *state;
    tix_make_index(f->dir);
    assert_true(tix_damage(f->dir, "MANIFEST-*", 0, 0) >= 1);
    tix_assert_rebuilt_after_damage(f->dir, "rebuilt empty");
}

static void corrupt_table_footer(void **state)
{
    struct fixture *f = *state;
    tix_make_index(f->dir);
    assert_int_equal(tix_damage(f->dir, "*.sst", -48, 48), 1);
    tix_assert_rebuilt_after_damage(f->dir, "Corruption");
}

static void missing_table_file(void **state)
{
    struct fixture *f = *state;
    tix_make_index(f->dir);
    char *cmd = mpfs_xasprintf("rm -f %s/db/*.sst", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    tix_assert_rebuilt_after_damage(f->dir, "unusable");
}

static void corrupt_block_found_at_run_time(void **state)
{
    struct fixture *f = *state;
    char err[256];
    tix_make_index(f->dir);
    assert_int_equal(tix_damage(f->dir, "*.sst", 100, 64), 1);

    struct mpfs_index *idx = tix_open_ok(f->dir, 0, err, sizeof(err));
    tix_capture_begin();
    int n = tix_count(idx, 1);
    char *log = tix_capture_end();
    mpfs_index_close(idx);
    assert_int_equal(n, -EUCLEAN);
    assert_non_null(strstr(log, "rebuilt at the next mount"));
    free(log);
    char *marker = mpfs_xasprintf("%s/REBUILD", f->dir);
    assert_int_equal(access(marker, F_OK), 0);

    tix_assert_rebuilt_after_damage(f->dir, "while mounted");
    assert_int_equal(access(marker, F_OK), -1);
    free(marker);
}

static void only_one_corrupt_copy_kept(void **state)
{
    struct fixture *f = *state;
    char err[256];
    /* A copy from an earlier rebuild, with something in it. */
    char *old = mpfs_xasprintf("%s/index.corrupt-1000", f->dir);
    char *oldfile = mpfs_xasprintf("%s/CURRENT", old);
    assert_int_equal(mkdir(old, 0700), 0);
    FILE *fp = fopen(oldfile, "w");
    assert_non_null(fp);
    fclose(fp);

    tix_make_index(f->dir);
    assert_int_equal(tix_damage(f->dir, "CURRENT", 0, 16), 1);
    struct mpfs_index *idx = tix_open_ok(f->dir, 1, err, sizeof(err));
    mpfs_index_close(idx);
    /* The new copy replaced the old one. */
    assert_int_equal(tix_count_prefix(f->dir, "index.corrupt-"), 1);
    assert_int_equal(access(old, F_OK), -1);
    free(oldfile);
    free(old);
}

static void other_schema_is_wiped(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct mpfs_index *idx = tix_open_ok(f->dir, 1, err, sizeof(err));
    tix_fill(idx);
    const unsigned char v99[4] = {99, 0, 0, 0};
    assert_int_equal(mpfs_index_testing_put_raw(idx, "Mschema", 7, v99, 4), 0);
    mpfs_index_close(idx);

    int rebuilt = -1;
    tix_capture_begin();
    int rc = mpfs_index_open(f->dir, &idx, &rebuilt, err, sizeof(err));
    char *log = tix_capture_end();
    assert_int_equal(rc, 0);
    assert_int_equal(rebuilt, 1);
    assert_non_null(strstr(err, "schema version 99"));
    assert_non_null(strstr(log, "schema version 99"));
    free(log);
    assert_int_equal(tix_count(idx, 1), 0);
    mpfs_index_close(idx);
    /* Not corrupt, so not kept. */
    assert_int_equal(tix_count_prefix(f->dir, "index.corrupt-"), 0);
}

static void unreadable_meta_is_corruption(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct mpfs_index *idx = tix_open_ok(f->dir, 1, err, sizeof(err));
    tix_fill(idx);
    /* A record of the wrong size (the high-water mark would be rewritten
     * by close, so damage the schema record). */
    assert_int_equal(mpfs_index_testing_put_raw(idx, "Mschema", 7, "x", 1), 0);
    mpfs_index_close(idx);
    idx = tix_open_ok(f->dir, 1, err, sizeof(err));
    assert_non_null(strstr(err, "unreadable schema"));
    assert_int_equal(tix_count_prefix(f->dir, "index.corrupt-"), 1);
    assert_int_equal(tix_count(idx, 1), 0);
    mpfs_index_close(idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(corrupt_current_garbage, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(corrupt_current_truncated, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(corrupt_manifest, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(truncated_manifest_reported, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(corrupt_table_footer, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(missing_table_file, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(corrupt_block_found_at_run_time,
                                        tix_setup, tix_teardown),
        cmocka_unit_test_setup_teardown(only_one_corrupt_copy_kept, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(other_schema_is_wiped, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(unreadable_meta_is_corruption,
                                        tix_setup, tix_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
