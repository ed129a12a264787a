/*
 * main.c - the conformance runner: picks the backend from the command
 * line, gives the suite a scratch area of its own and removes it again.
 *
 *   conformance mem-posix | mem-s3 | fault-mem-posix | fault-mem-s3
 *   conformance mem-dual-s3 | mem-dual-nfs | fault-mem-dual-s3 | ...
 *                                       one view of the in-memory "one
 *                                       dataset, two views" store
 *   conformance mem CAPS                in-memory with any capability mask
 *                                       (a number: 0x1 = pwrite only)
 *   conformance fault-lazy              in-memory POSIX store that declares
 *                                       MPFS_CAP_LAZY_COMMIT, with faults
 *                                       that open the window (-EAGAIN on
 *                                       reads, -EBUSY on replace/rename/
 *                                       remove) on chosen files: the
 *                                       suite's waiting paths without a
 *                                       real committing store
 *   conformance s3 ENDPOINT BUCKET      credentials from AWS_* env
 *   conformance nfs URL                 nfs://host/export[/dir][?args]
 *   options (after the target): --filter PATTERN (cmocka test filter),
 *                               --skip PATTERN (tests not to run)
 *   env: MPFS_LOG=error|warn|info|debug
 *
 * Scratch areas: S3 runs under the key prefix "conformance-<pid>-<time>";
 * NFS creates that directory in the export and opens a second backend on
 * it.  Both are removed at the end, also after failed tests, and the
 * runner fails if anything is left behind.
 */
#include "tests/conformance/conformance.h"

#include "backends/fault.h"
#include "backends/mem.h"
#include "backends/nfs/nfs.h"
#include "backends/s3/s3.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr, "usage: conformance TARGET [--filter PATTERN] [--skip PATTERN]\n"
                    "  TARGET: mem-posix | mem-s3 | fault-mem-posix | fault-mem-s3 | fault-lazy\n"
                    "          mem-dual-s3 | mem-dual-nfs | fault-mem-dual-s3 | fault-mem-dual-nfs\n"
                    "          mem CAPS             (capability mask, e.g. 0x1 = pwrite only)\n"
                    "          s3 ENDPOINT BUCKET   (credentials from AWS_* env)\n"
                    "          nfs URL              (nfs://host/export[/dir][?args])\n");
}

static const char *g_skip; /* --skip */

static int count_entries(void *arg, const char *name, size_t len, const struct mpfs_attr *attr,
                         int full)
{
    (*(size_t *)arg)++;
    return 0;
}

/* Empties the scratch area and checks that it is empty. */
static int cleanup(struct mpfs_backend *b, const char *what)
{
    int rc = mpfs_conformance_rm_rf(b, "");
    size_t left = 0;
    int lrc = mpfs_backend_list(b, "", count_entries, &left);
    if (rc == 0 && lrc < 0 && lrc != -ENOENT) {
        rc = lrc;
    }
    if (rc == 0 && left) {
        rc = -ENOTEMPTY;
    }
    if (rc < 0) {
        fprintf(stderr, "conformance: cleanup of %s failed: %s (%zu entries left)\n", what,
                strerror(-rc), left);
    }
    return rc;
}

static int run_mem(const char *target, const char *capsarg, const char *filter)
{
    int fault = strncmp(target, "fault-", 6) == 0;
    const char *kind = fault ? target + 6 : target;
    char name[64];
    uint32_t caps = 0;
    struct mpfs_backend *other = NULL; /* the dual store's view not under test */
    struct mpfs_backend *b = NULL;
    if (strcmp(kind, "mem-dual-s3") == 0 && !capsarg) {
        b = mpfs_mem_dual_new(&other);
    } else if (strcmp(kind, "mem-dual-nfs") == 0 && !capsarg) {
        other = mpfs_mem_dual_new(&b);
    } else if (strcmp(kind, "mem-posix") == 0 && !capsarg) {
        caps = MPFS_MEM_CAPS_POSIX;
    } else if (strcmp(kind, "mem-s3") == 0 && !capsarg) {
        caps = MPFS_MEM_CAPS_S3;
    } else if (strcmp(kind, "mem") == 0 && capsarg) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(capsarg, &end, 0);
        if (errno || *end || v > UINT32_MAX) {
            usage();
            return 2;
        }
        caps = (uint32_t)v;
        snprintf(name, sizeof(name), "%s-0x%x", target, caps);
        target = name;
    } else {
        usage();
        return 2;
    }
    if (!b) {
        b = mpfs_mem_new(caps);
    }
    if (fault) {
        /* no rules: the wrapper must be invisible */
        b = mpfs_fault_new(b, 1);
    }
    struct mpfs_conformance_target t = {
        .name = target,
        .b = b,
        .flat = mpfs_conformance_is_flat(b),
        .auto_parents = mpfs_conformance_auto_parents(b),
        .skip = g_skip};
    int failed = mpfs_conformance_run(&t, filter);
    int rc = cleanup(b, target);
    mpfs_backend_free(b);
    mpfs_backend_free(other);
    return failed || rc < 0 ? 1 : 0;
}

/* The window a lazy-commit store has after a write, opened by faults on a
 * few files each path of the suite's waiting must cross: reads that say
 * -EAGAIN (in a test, after the group setup's own check of the seed) and
 * replace/rename/remove that say -EBUSY (after the seed's own put). */
static const struct mpfs_fault_rule lazy_rules[] = {
    {.ops = MPFS_FAULT_OP_READ, .path = "pinned_read/f", .action = MPFS_FAULT_ERROR,
     .error = EAGAIN, .count = 2, .after = 1},
    {.ops = MPFS_FAULT_OP_READ, .path = "ranged_reads/big", .action = MPFS_FAULT_ERROR,
     .error = EAGAIN, .count = 3, .after = 1},
    {.ops = MPFS_FAULT_OP_READ, .path = "concurrency/t3-5", .action = MPFS_FAULT_ERROR,
     .error = EAGAIN, .count = 1},
    {.ops = MPFS_FAULT_OP_PUT, .path = "put_stat_read/f", .action = MPFS_FAULT_ERROR,
     .error = EBUSY, .count = 2, .after = 1},
    {.ops = MPFS_FAULT_OP_PUT, .path = "cond_put/f", .action = MPFS_FAULT_ERROR,
     .error = EBUSY, .count = 1, .after = 2},
    {.ops = MPFS_FAULT_OP_REMOVE, .path = "remove/d/gone", .action = MPFS_FAULT_ERROR,
     .error = EBUSY, .count = 1},
    {.ops = MPFS_FAULT_OP_RENAME, .path = "rename_file/a", .action = MPFS_FAULT_ERROR,
     .error = EBUSY, .count = 1},
};

static int run_fault_lazy(const char *filter)
{
    struct mpfs_backend *inner = mpfs_mem_new(MPFS_MEM_CAPS_POSIX | MPFS_CAP_LAZY_COMMIT);
    struct mpfs_backend *b = mpfs_fault_new(inner, 1);
    int ids[MPFS_ARRAY_SIZE(lazy_rules)];
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(lazy_rules); i++) {
        ids[i] = mpfs_fault_add(b, &lazy_rules[i]);
        if (ids[i] < 0) {
            fprintf(stderr, "conformance: fault rule %zu refused: %s\n", i, strerror(-ids[i]));
            mpfs_backend_free(b);
            return 1;
        }
    }
    struct mpfs_conformance_target t = {.name = "fault-lazy",
                                        .b = b,
                                        .flat = mpfs_conformance_is_flat(b),
                                        .settle_step_ms = 5,
                                        .skip = g_skip};
    int failed = mpfs_conformance_run(&t, filter);
    int unused = 0;
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(lazy_rules) && !filter; i++) {
        uint64_t fired = mpfs_fault_fired(b, ids[i]);
        if (fired != (uint64_t)lazy_rules[i].count) {
            /* the window was never crossed where it was meant to be */
            fprintf(stderr, "conformance: fault-lazy: rule on %s fired %llu of %d times\n",
                    lazy_rules[i].path, (unsigned long long)fired, lazy_rules[i].count);
            unused++;
        }
    }
    int rc = cleanup(b, "fault-lazy");
    mpfs_backend_free(b);
    return failed || unused || rc < 0 ? 1 : 0;
}

static int run_s3(const char *endpoint, const char *bucket, const char *scratch, const char *filter)
{
    struct mpfs_s3_config cfg;
    struct mpfs_backend *b = NULL;
    char err[512] = "";
    char name[128];

    mpfs_s3_config_defaults(&cfg);
    cfg.endpoint = endpoint;
    cfg.bucket = bucket;
    cfg.prefix = scratch;
    int rc = mpfs_s3_open(&cfg, &b, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "conformance: s3 open %s/%s failed: %s: %s\n", endpoint, bucket,
                strerror(-rc), err);
        return 1;
    }
    snprintf(name, sizeof(name), "s3 %s/%s", endpoint, bucket);
    struct mpfs_conformance_target t = {
        .name = name, .b = b, .flat = mpfs_conformance_is_flat(b), .skip = g_skip};
    int failed = mpfs_conformance_run(&t, filter);
    rc = cleanup(b, scratch);
    mpfs_backend_free(b);
    return failed || rc < 0 ? 1 : 0;
}

/* url with "/sub" appended to its path (before any "?args"). */
static char *url_subdir(const char *url, const char *sub)
{
    const char *q = strchr(url, '?');
    size_t n = q ? (size_t)(q - url) : strlen(url);
    while (n > 0 && url[n - 1] == '/') {
        n--;
    }
    return mpfs_xasprintf("%.*s/%s%s", (int)n, url, sub, q ? q : "");
}

static int run_nfs(const char *url, const char *scratch, const char *filter)
{
    struct mpfs_nfs_config cfg;
    struct mpfs_backend *root = NULL;
    struct mpfs_backend *b = NULL;
    char err[512] = "";
    char name[300];
    int result = 1;

    mpfs_nfs_config_defaults(&cfg);
    cfg.url = url;
    cfg.probe = 0; /* only to make and remove the scratch dir */
    int rc = mpfs_nfs_open(&cfg, &root, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "conformance: nfs open %s failed: %s: %s\n", url, strerror(-rc), err);
        return 1;
    }
    rc = mpfs_backend_mkdir(root, scratch, 0755);
    if (rc < 0) {
        fprintf(stderr, "conformance: mkdir %s in %s failed: %s\n", scratch, url, strerror(-rc));
        goto out_free_root;
    }
    char *suburl = url_subdir(url, scratch);
    mpfs_nfs_config_defaults(&cfg);
    cfg.url = suburl;
    rc = mpfs_nfs_open(&cfg, &b, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "conformance: nfs open %s failed: %s: %s\n", suburl, strerror(-rc), err);
        free(suburl);
        goto out_rmdir;
    }
    snprintf(name, sizeof(name), "nfs %s", url);
    struct mpfs_conformance_target t = {
        .name = name, .b = b, .flat = mpfs_conformance_is_flat(b), .skip = g_skip};
    int failed = mpfs_conformance_run(&t, filter);
    rc = cleanup(b, suburl);
    mpfs_backend_free(b);
    free(suburl);
    result = failed || rc < 0 ? 1 : 0;
out_rmdir:
    rc = mpfs_conformance_rm_rf(root, scratch);
    if (rc == 0) {
        rc = mpfs_backend_rmdir(root, scratch);
    }
    if (rc < 0) {
        fprintf(stderr, "conformance: removing %s from %s failed: %s\n", scratch, url,
                strerror(-rc));
        result = 1;
    }
out_free_root:
    mpfs_backend_free(root);
    return result;
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int nargs = argc;

    /* options come after the target's arguments */
    for (int i = 1; i < argc; i++) {
        int is_filter = strcmp(argv[i], "--filter") == 0;
        if (!is_filter && strcmp(argv[i], "--skip") != 0) {
            continue;
        }
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (nargs == argc) {
            nargs = i;
        }
        if (is_filter) {
            filter = argv[i + 1];
        } else {
            g_skip = argv[i + 1];
        }
        i++;
    }
    if (getenv("MPFS_LOG") && mpfs_log_set_level_name(getenv("MPFS_LOG")) < 0) {
        fprintf(stderr, "conformance: bad MPFS_LOG '%s'\n", getenv("MPFS_LOG"));
        return 2;
    }
    if (nargs < 2) {
        usage();
        return 2;
    }
    char scratch[96];
    snprintf(scratch, sizeof(scratch), "conformance-%ld-%lld", (long)getpid(),
             (long long)time(NULL));

    const char *target = argv[1];
    if (strcmp(target, "s3") == 0) {
        if (nargs != 4 || !argv[2][0] || !argv[3][0]) {
            usage();
            return 2;
        }
        return run_s3(argv[2], argv[3], scratch, filter);
    }
    if (strcmp(target, "nfs") == 0) {
        if (nargs != 3 || !argv[2][0]) {
            usage();
            return 2;
        }
        return run_nfs(argv[2], scratch, filter);
    }
    if (strcmp(target, "fault-lazy") == 0) {
        if (nargs != 2) {
            usage();
            return 2;
        }
        return run_fault_lazy(filter);
    }
    if (nargs != 2 && nargs != 3) {
        usage();
        return 2;
    }
    return run_mem(target, nargs == 3 ? argv[2] : NULL, filter);
}
