/*
 * mpfs.c - the command line: mount, probe, help.
 *
 *   mpfs mount [--s3 s3://bucket[/prefix]] [--nfs nfs://host/export[/path]]
 *              [--config FILE] [-o opt[=val],...] [-f] [-d] MOUNTPOINT
 *   mpfs SOURCE MOUNTPOINT [-o ...]        (the form mount(8) uses for
 *                                           fuse.mpfs lines in /etc/fstab)
 *   mpfs probe --s3 ... --nfs ...           capabilities and measured costs
 *
 * Unless -f is given, the process forks before anything starts threads;
 * the child builds the filesystem and mounts it, then tells the waiting
 * parent "OK" or the error through a pipe, so every start-up error reaches
 * the terminal with a non-zero exit status.
 */
#include "base/log.h"
#include "base/util.h"
#include "fs/config.h"
#include "fs/fuse_ll.h"
#include "tools/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MPFS_VERSION_STRING "0.1.0"

static void usage(FILE *out)
{
    fprintf(out,
            "mpfs %s - mount a dataset served over S3 and NFS as one POSIX filesystem\n"
            "\n"
            "usage:\n"
            "  mpfs mount [--s3 s3://BUCKET[/PREFIX]] [--nfs nfs://HOST/EXPORT[/PATH]]\n"
            "             [--config FILE] [-o OPT[=VAL],...] [-f] [-d] MOUNTPOINT\n"
            "  mpfs SOURCE MOUNTPOINT [-o OPT[=VAL],...]     (fstab: type fuse.mpfs)\n"
            "  mpfs probe [--s3 ...] [--nfs ...] [-o ...]   print capabilities and costs\n"
            "  mpfs --help | --version\n"
            "\n"
            "modes: give both sides for dual mode (the same dataset as a bucket and an\n"
            "export: metadata and bulk data each go where they are best), or one side\n"
            "for an S3-only or NFS-only mount.\n"
            "\n"
            "mount flags:\n"
            "  --s3 URL           the S3 side (same as -o s3=URL)\n"
            "  --nfs URL          the NFS side, NFSv3 (same as -o nfs=URL)\n"
            "  --endpoint URL     S3 endpoint (same as -o s3_endpoint=URL)\n"
            "  --config FILE      'key = value' lines with the options below\n"
            "  -o OPTS            comma-separated options below\n"
            "  -f                 stay in the foreground\n"
            "  -d                 foreground, debug log and every FUSE request\n"
            "  --print-config     print the effective configuration (secrets redacted)\n"
            "\n"
            "options (-o, --config; defaults in brackets):\n",
            MPFS_VERSION_STRING);
    mpfs_config_print_help(out);
    fprintf(out,
            "\n"
            "credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n"
            "AWS_REGION and AWS_ENDPOINT_URL from the environment, or an AWS credentials\n"
            "file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials) with -o s3_profile=.\n"
            "Secrets are never taken from options or logged.\n"
            "\n"
            "unmount: fusermount3 -u MOUNTPOINT (or umount as root), or SIGTERM/SIGINT.\n"
            "examples:\n"
            "  mpfs mount --s3 s3://data/imagenet --nfs nfs://filer/export/imagenet /mnt/in\n"
            "  mpfs mount --s3 s3://ckpt -o policy='runs:fresh',cache_ram=1G /mnt/ckpt\n"
            "  fstab: s3://data /mnt/data fuse.mpfs nfs=nfs://filer/export,_netdev 0 0\n");
}

struct cli {
    struct mpfs_config cfg;
    const char *mountpoint;
    const char *config_file;
    int print_config;
    int probe;
    char **opts; /* -o strings in order */
    int nopts;
};

static int die_usage(const char *msg)
{
    fprintf(stderr, "mpfs: %s\n(see mpfs --help)\n", msg);
    return 2;
}

/* Parse argv into c.  Returns 0, or an exit code. */
static int parse(struct cli *c, int argc, char **argv)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "mount") == 0) {
        i++;
    } else if (i < argc && strcmp(argv[i], "probe") == 0) {
        c->probe = 1;
        i++;
    }
    const char *positional[2] = {NULL, NULL};
    int npos = 0;
    /* Flags first go to a list so the config file applies before -o. */
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("mpfs %s\n", MPFS_VERSION_STRING);
            exit(0);
        } else if (!strcmp(a, "--s3") || !strcmp(a, "--nfs") || !strcmp(a, "--endpoint") ||
                   !strcmp(a, "--config") || !strcmp(a, "-o") || !strcmp(a, "--mode") ||
                   !strcmp(a, "--cache-dir")) {
            if (!next)
                return die_usage("option needs a value");
            if (!strcmp(a, "--config")) {
                c->config_file = next;
            } else {
                const char *key = !strcmp(a, "--s3")         ? "s3"
                                  : !strcmp(a, "--nfs")      ? "nfs"
                                  : !strcmp(a, "--endpoint") ? "s3_endpoint"
                                  : !strcmp(a, "--mode")     ? "mode"
                                  : !strcmp(a, "--cache-dir") ? "cache_dir"
                                                             : NULL;
                if (key)
                    c->opts[c->nopts++] = mpfs_xasprintf("%s=%s", key, next);
                else
                    c->opts[c->nopts++] = mpfs_xstrdup(next);
            }
            i++;
        } else if (!strncmp(a, "-o", 2) && a[2]) {
            c->opts[c->nopts++] = mpfs_xstrdup(a + 2);
        } else if (!strcmp(a, "-f")) {
            c->opts[c->nopts++] = mpfs_xstrdup("foreground");
        } else if (!strcmp(a, "-d")) {
            c->opts[c->nopts++] = mpfs_xstrdup("foreground,debug_fuse,log_level=debug");
        } else if (!strcmp(a, "--print-config")) {
            c->print_config = 1;
        } else if (a[0] == '-' && a[1]) {
            char msg[300];
            snprintf(msg, sizeof(msg), "unknown flag '%s'", a);
            return die_usage(msg);
        } else {
            if (npos == 2)
                return die_usage("too many arguments");
            positional[npos++] = a;
        }
    }
    if (npos == 2) {
        /* mount(8) style: SOURCE MOUNTPOINT */
        const char *src = positional[0];
        if (!strncmp(src, "s3://", 5))
            c->opts[c->nopts++] = mpfs_xasprintf("s3=%s", src);
        else if (!strncmp(src, "nfs://", 6))
            c->opts[c->nopts++] = mpfs_xasprintf("nfs=%s", src);
        else if (strcmp(src, "mpfs") != 0 && strcmp(src, "none") != 0) {
            char msg[600];
            snprintf(msg, sizeof(msg), "source '%s' is neither s3://... nor nfs://...", src);
            return die_usage(msg);
        }
        c->mountpoint = positional[1];
    } else if (npos == 1) {
        c->mountpoint = positional[0];
    }

    char err[512];
    if (c->config_file && mpfs_config_load_file(&c->cfg, c->config_file, err, sizeof(err)) < 0)
        return die_usage(err);
    for (int k = 0; k < c->nopts; k++)
        if (mpfs_config_apply_opts(&c->cfg, c->opts[k], err, sizeof(err)) < 0)
            return die_usage(err);
    if (mpfs_config_finish(&c->cfg, err, sizeof(err)) < 0)
        return die_usage(err);
    mpfs_log_set_level_name(c->cfg.log_level);
    if (!c->mountpoint && !c->probe && !c->print_config)
        return die_usage("no mount point given");
    return 0;
}

/* Fork; the parent waits for the child's "OK" or error line. */
static int daemonize(int *status_fd)
{
    int p[2];
    if (pipe(p) < 0) {
        perror("mpfs: pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("mpfs: fork");
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        char msg[1200];
        size_t used = 0;
        ssize_t n;
        while (used < sizeof(msg) - 1 && (n = read(p[0], msg + used, sizeof(msg) - 1 - used)) > 0)
            used += (size_t)n;
        msg[used] = '\0';
        if (strncmp(msg, "OK", 2) == 0)
            _exit(0);
        int st = 0;
        waitpid(pid, &st, 0);
        if (used == 0)
            fprintf(stderr, "mpfs: the mount process exited before mounting (status %d)\n",
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        /* the child printed its error to the same terminal already */
        _exit(1);
    }
    close(p[0]);
    setsid();
    *status_fd = p[1];
    return 0;
}

/* After mounting, the daemon's log goes to <cache_dir>/mpfs.log. */
static void redirect_output(const struct mpfs_config *cfg)
{
    char *log = mpfs_xasprintf("%s/mpfs.log", cfg->cache_dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (fd < 0)
            dup2(null, 2);
        close(null);
    }
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
    free(log);
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof(c));
    c.opts = mpfs_xcalloc((size_t)argc + 4, sizeof(char *));
    mpfs_config_init(&c.cfg);
    int rc;
    char *mp = NULL;
    if (argc < 2) {
        usage(stderr);
        rc = 2;
        goto out;
    }
    rc = parse(&c, argc, argv);
    if (rc)
        goto out;
    if (c.print_config) {
        mpfs_config_print(&c.cfg, stdout);
        goto out;
    }
    if (c.probe) {
        rc = mpfs_probe_run(&c.cfg);
        goto out;
    }

    int status_fd = -1;
    if (!c.cfg.foreground && daemonize(&status_fd) < 0) {
        rc = 1;
        goto out;
    }
    /* the mount point may be relative; the daemon runs from / */
    mp = realpath(c.mountpoint, NULL);
    if (!mp) {
        fprintf(stderr, "mpfs: mount point %s: %s\n", c.mountpoint, strerror(errno));
        if (status_fd >= 0)
            dprintf(status_fd, "mount point %s: %s\n", c.mountpoint, strerror(errno));
        rc = 1;
        goto out;
    }
    if (!c.cfg.foreground && chdir("/") < 0) {
        rc = 1;
        goto out;
    }
    rc = mpfs_fuse_run(&c.cfg, mp, status_fd, c.cfg.foreground ? NULL : redirect_output);
out:
    free(mp);
    for (int k = 0; k < c.nopts; k++)
        free(c.opts[k]);
    free(c.opts);
    mpfs_config_free(&c.cfg);
    return rc;
}
