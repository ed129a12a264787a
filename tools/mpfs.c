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
#include "base/log_syslog.h"
#include "base/logfile.h"
#include "base/util.h"
#include "fs/config.h"
#include "fs/fuse_ll.h"
#include "tools/ctl.h"
#include "tools/probe.h"
#include "tools/stats.h"
#include "tools/warmup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MPFS_VERSION_STRING "0.1.0"

/* The command line's text, as data: --help and the generated man page
 * (mpfs --man, built into mpfs.1 at build time) print the same rows, and the
 * -o options come from the one config table (fs/config.c). */
static const char *const synopsis[] = {
    "mpfs mount [--s3 s3://BUCKET[/PREFIX]] [--nfs nfs://HOST/EXPORT[/PATH]] "
    "[--config FILE] [-o OPT[=VAL],...] [-f] [-d] [MOUNTPOINT]",
    "mpfs SOURCE MOUNTPOINT [-o OPT[=VAL],...]",
    "mpfs probe [--s3 ...] [--nfs ...] [-o ...]",
    "mpfs ctl MOUNTPOINT status | invalidate PATH [-r] | flush | drop-cache | rescued | "
    "log-level LEVEL",
    "mpfs stats MOUNTPOINT [--watch] [--interval S] [--count N] [--raw]",
    "mpfs warmup PATH... [--list FILE] [--jobs N] [--force]",
    "mpfs --help | --version | --man | --list-options",
};

static const char *const synopsis_note[] = {
    "",
    "the form mount(8) uses for fuse.mpfs lines in /etc/fstab",
    "print capabilities and measured costs",
    "talk to the daemon serving MOUNTPOINT (root or the mounting user): status; forget a path "
    "(or a subtree with -r) so the next access revalidates; commit every pending write; "
    "empty the block cache; list data that could not be committed (in lost+found) with the "
    "path it belonged to; change the log level. PATH is absolute under MOUNTPOINT, or "
    "relative to it",
    "live counters of the mount: FUSE operations with latency, backend requests per side and "
    "type, bytes, cache hits by tier, staging, memory; --watch prints per-second rates, --raw "
    "the name/value lines",
    "read files or directory trees (or the paths listed in FILE) into the block cache with N "
    "parallel readers (8); refuses up front (exit 3) a request larger than cache_ram + "
    "cache_disk unless --force; an interrupted run resumed later fetches only what is missing",
    "",
};

struct flag {
    const char *name;
    const char *help;
};

static const struct flag mount_flags[] = {
    {"--s3 URL", "the S3 side (same as -o s3=URL)"},
    {"--nfs URL", "the NFS side, NFSv3 (same as -o nfs=URL)"},
    {"--endpoint URL", "S3 endpoint (same as -o s3_endpoint=URL)"},
    {"--config FILE", "'key = value' lines with the options below"},
    {"-o OPTS", "comma-separated options below"},
    {"-f", "stay in the foreground"},
    {"-d", "foreground, debug log and every FUSE request"},
    {"--print-config", "print the effective configuration (secrets redacted)"},
    {"--man", "print this manual as a man page (roff)"},
    {"--list-options", "print the option names (shell completion)"},
};

static const char modes_text[] =
    "Give both sides for dual mode (the same dataset as a bucket and an export: metadata and "
    "bulk data each go where they are best), or one side for an S3-only or NFS-only mount.";

static const char creds_text[] =
    "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION and "
    "AWS_ENDPOINT_URL from the environment, or an AWS credentials file "
    "(AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials) with -o s3_profile=. Secrets are never "
    "taken from options or logged.";

static const char unmount_text[] =
    "fusermount3 -u MOUNTPOINT (or umount as root), or SIGTERM/SIGINT to the daemon.";

static const char boot_text[] =
    "/etc/fstab: a line of type fuse.mpfs (mount(8) runs mount.fuse3, which runs mpfs SOURCE "
    "MOUNTPOINT -o OPTIONS). systemd: one config file per mount, /etc/mpfs/NAME.conf with "
    "'mountpoint = ...', then systemctl enable --now mpfs@NAME.";

static const char *const examples[] = {
    "mpfs mount --s3 s3://data/imagenet --nfs nfs://filer/export/imagenet /mnt/in",
    "mpfs mount --s3 s3://ckpt -o policy='runs:fresh',cache_ram=1G /mnt/ckpt",
    "fstab: s3://data /mnt/data fuse.mpfs nfs=nfs://filer/export,_netdev 0 0",
};

/* Word-wrap text at 78 columns with the given indent. */
static void wrap(FILE *out, const char *text, int indent)
{
    int col = 0;
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + (int)w > 78) {
            fputc('\n', out);
            col = 0;
        }
        if (col == 0) {
            col = fprintf(out, "%*s", indent, "");
        } else {
            fputc(' ', out);
            col++;
        }
        col += fprintf(out, "%.*s", (int)w, p);
        p += w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

static void usage(FILE *out)
{
    fprintf(out,
            "mpfs %s - mount a dataset served over S3 and NFS as one POSIX filesystem\n\nusage:\n",
            MPFS_VERSION_STRING);
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(synopsis); i++) {
        wrap(out, synopsis[i], 2);
        if (*synopsis_note[i]) {
            char *note = mpfs_xasprintf("(%s)", synopsis_note[i]);
            wrap(out, note, 6);
            free(note);
        }
    }
    fputs("\nmodes:\n", out);
    wrap(out, modes_text, 2);
    fputs("\nmount flags:\n", out);
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(mount_flags); i++)
        fprintf(out, "  %-18s %s\n", mount_flags[i].name, mount_flags[i].help);
    fputs("\noptions (-o, --config; defaults in brackets):\n", out);
    mpfs_config_print_help(out);
    fputs("\ncredentials:\n", out);
    wrap(out, creds_text, 2);
    fputs("\nmount at boot:\n", out);
    wrap(out, boot_text, 2);
    fputs("\nunmount:\n", out);
    wrap(out, unmount_text, 2);
    fputs("\nexamples:\n", out);
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(examples); i++)
        fprintf(out, "  %s\n", examples[i]);
}

static void roff_section(FILE *out, const char *title, const char *text)
{
    fprintf(out, ".SH %s\n", title);
    mpfs_fputs_roff(out, text);
    fputc('\n', out);
}

static void man(FILE *out)
{
    fprintf(out, ".TH MPFS 1 \"\" \"mpfs %s\" \"User Commands\"\n", MPFS_VERSION_STRING);
    fputs(".SH NAME\nmpfs \\- mount a dataset served over S3 and NFS as one POSIX filesystem\n"
          ".SH SYNOPSIS\n", out);
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(synopsis); i++) {
        fputs(".PP\n", out);
        mpfs_fputs_roff(out, synopsis[i]);
        fputc('\n', out);
        if (*synopsis_note[i]) {
            fputs(".br\n(", out);
            mpfs_fputs_roff(out, synopsis_note[i]);
            fputs(")\n", out);
        }
    }
    roff_section(out, "DESCRIPTION", modes_text);
    fputs(".SH FLAGS\n", out);
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(mount_flags); i++) {
        fputs(".TP\n\\fB", out);
        mpfs_fputs_roff(out, mount_flags[i].name);
        fputs("\\fR\n", out);
        mpfs_fputs_roff(out, mount_flags[i].help);
        fputc('\n', out);
    }
    fputs(".SH OPTIONS\nGiven with \\fB\\-o\\fR or as \\fIkey = value\\fR lines in a "
          "\\fB\\-\\-config\\fR file; defaults in brackets.\n", out);
    mpfs_config_print_man(out);
    roff_section(out, "CREDENTIALS", creds_text);
    roff_section(out, "MOUNT AT BOOT", boot_text);
    roff_section(out, "UNMOUNT", unmount_text);
    fputs(".SH EXAMPLES\n", out);
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(examples); i++) {
        fputs(".PP\n", out);
        mpfs_fputs_roff(out, examples[i]);
        fputc('\n', out);
    }
    fputs(".SH SEE ALSO\nfusermount3(1), mount.fuse3(8), fstab(5), systemd.service(5)\n", out);
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
        } else if (!strcmp(a, "--man")) {
            man(stdout);
            exit(0);
        } else if (!strcmp(a, "--list-options")) {
            mpfs_config_print_names(stdout);
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
    mpfs_log_set_rate_limit(c->cfg.log_burst, c->cfg.log_window_ms);
    if (!c->mountpoint)
        c->mountpoint = c->cfg.mountpoint;
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

/* After mounting, the daemon's log goes to <cache_dir>/mpfs.log, rotated
 * past log_max (base/logfile.h), and its worse lines to syslog too
 * (base/log_syslog.h). */
static void redirect_output(const struct mpfs_config *cfg)
{
    int syslog_level = -1;
    if (mpfs_log_syslog_level(cfg->syslog, &syslog_level) == 0 && syslog_level >= 0)
        mpfs_log_syslog_open(cfg->syslog_socket, syslog_level);
    char *log = mpfs_xasprintf("%s/mpfs.log", cfg->cache_dir);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (mpfs_log_to_file(log, cfg->log_max, 3) < 0)
            dup2(null, 2);
        close(null);
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
    if (strcmp(argv[1], "ctl") == 0) {
        rc = mpfs_ctl_main(argc - 1, argv + 1);
        goto out;
    }
    if (strcmp(argv[1], "stats") == 0) {
        rc = mpfs_stats_main(argc - 1, argv + 1);
        goto out;
    }
    if (strcmp(argv[1], "warmup") == 0) {
        rc = mpfs_warmup_main(argc - 1, argv + 1);
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
