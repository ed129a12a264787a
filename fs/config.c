/*
 * config.c - see config.h.  The table below is the single list of
 * settings: parsing, --help and --print-config all read it.
 */
#include "fs/config.h"

#include "base/log.h"
#include "base/log_syslog.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

enum opt_type { T_STR, T_BOOL, T_INT, T_SIZE, T_SECONDS, T_MODE };

struct opt {
    const char *name;
    enum opt_type type;
    size_t offset;
    const char *def;
    const char *help;
};

#define O(f) offsetof(struct mpfs_config, f)

static const struct opt table[] = {
    {"s3", T_STR, O(s3), NULL, "S3 side: s3://bucket[/prefix]"},
    {"s3_endpoint", T_STR, O(s3_endpoint), NULL,
     "S3 endpoint URL (default: $AWS_ENDPOINT_URL, else AWS)"},
    {"s3_region", T_STR, O(s3_region), NULL, "S3 region (default: $AWS_REGION or us-east-1)"},
    {"s3_profile", T_STR, O(s3_profile), NULL, "profile in the AWS credentials file"},
    {"s3_virtual_hosted", T_BOOL, O(s3_virtual_hosted), "0",
     "virtual-hosted bucket addressing instead of path-style"},
    {"nfs", T_STR, O(nfs), NULL, "NFS side: nfs://host/export[/path] (NFSv3)"},
    {"mode", T_STR, O(mode), "auto", "auto | dual | s3 | nfs (auto: from what is given)"},
    {"cache_dir", T_STR, O(cache_dir), NULL,
     "index, block cache and staging (default /var/cache/mpfs/<dataset>)"},
    {"cache_ram", T_SIZE, O(cache_ram), "256M", "RAM block cache budget"},
    {"cache_disk", T_SIZE, O(cache_disk), "4G", "disk block cache budget (0: none)"},
    {"memory_limit", T_SIZE, O(memory_limit), "0",
     "data path memory: RAM cache, readahead, buffers, disk queue, fetches (0: a quarter of "
     "RAM, at most 1G)"},
    {"staging_max", T_SIZE, O(staging_max), "16G",
     "bytes of written, not yet committed data (ENOSPC beyond)"},
    {"block_size", T_SIZE, O(block_size), "1M", "cache block size"},
    {"readahead_max", T_SIZE, O(readahead_max), "64M", "largest sequential readahead window"},
    {"prefetch_threads", T_INT, O(prefetch_threads), "16",
     "most parallel readahead fetches: the pool starts with 4 threads and grows while the "
     "measured bandwidth-delay product of the sequential readers asks for more"},
    {"hint_threads", T_INT, O(hint_threads), "32",
     "most fetches at once for announced reads (MOUNT/.mpfs/prefetch, docs/PREFETCH.md)"},
    {"hint_queue", T_INT, O(hint_queue), "4096",
     "announced reads queued per caller (more: ENOBUFS)"},
    {"tree_walk_keys", T_INT, O(tree_walk_keys), "20000",
     "first listing of a directory indexes its whole subtree in one flat walk when it has at "
     "most this many keys (0: off)"},
    {"lookup_walk", T_BOOL, O(lookup_walk), "0",
     "a lookup in a directory never listed walks it (as above) instead of a HEAD per name: one "
     "LIST for a loader opening files by its own list, but entries then carry what a LIST "
     "shows (no s3fs owner, mode or symlink type) until looked up again; for datasets of "
     "plain objects"},
    {"lookup_read", T_SIZE, O(lookup_read), "256K",
     "a lookup that asks the S3 store about a name sends a GET of this many first bytes instead "
     "of a HEAD (the same headers): a file no larger (and no larger than block_size) is cached "
     "by its lookup, so a loader opening files by name makes one request per file, not two, and "
     "a larger file's first small read is answered from these bytes (0: HEAD)"},
    {"attr_timeout", T_SECONDS, O(attr_timeout), "1", "kernel attribute and entry lifetime, s"},
    {"meta_ttl", T_SECONDS, O(meta_ttl), "30",
     "an indexed entry younger than this is trusted without asking the backend, s"},
    {"dir_ttl", T_SECONDS, O(dir_ttl), "2", "a directory listing younger than this is served as is, s"},
    {"dir_stale", T_SECONDS, O(dir_stale), "60",
     "an older listing younger than this is served while refreshed in the background, s"},
    {"neg_ttl", T_SECONDS, O(neg_ttl), "1", "negative entry lifetime, s"},
    {"cto", T_BOOL, O(cto), "1", "close-to-open: revalidate the file version on every open"},
    {"policy", T_STR, O(policy), NULL,
     "per-prefix rules, e.g. 'train:immutable;ckpt:fresh'"},
    {"notify", T_STR, O(notify), NULL,
     "bucket notifications: 'http://127.0.0.1:PORT' (the daemon listens there) or "
     "'amqp://USER:PASS@HOST:PORT/VHOST?exchange=NAME' (a per-mount queue on that exchange); "
     "see docs/NOTIFY.md"},
    {"notify_setup", T_STR, O(notify_setup), "auto",
     "auto: create the radosgw topic and the bucket notification for the mount's prefix "
     "(HTTP: removed at unmount; AMQP: shared by the fleet, left in place) | none: someone "
     "else did"},
    {"notify_ttl", T_SECONDS, O(notify_ttl), "300",
     "while the event channel is healthy, an indexed entry is trusted this long (instead of "
     "meta_ttl), s"},
    {"notify_check", T_SECONDS, O(notify_check), "30",
     "with notify_setup=auto, check this often that the bucket notification is still there; "
     "one removed by someone else is re-created, and entries confirmed before are "
     "revalidated (0: never), s"},
    {"notify_persistent", T_BOOL, O(notify_persistent), "0",
     "radosgw queues the events and sends them in the background (writers never wait for "
     "the mount; adds delivery delay)"},
    {"reconcile_rate", T_INT, O(reconcile_rate), "20",
     "store requests per second the background reconciler may send to re-check recently used "
     "directories (0: off)"},
    {"reconcile_interval", T_SECONDS, O(reconcile_interval), "1",
     "re-check each recently used directory this often (S3 LIST; NFS GETATTR), s"},
    {"reconcile_window", T_SECONDS, O(reconcile_window), "60",
     "a directory looked up, listed or with a child stat-ed is recently used for this long, s"},
    {"reconcile_dirs", T_INT, O(reconcile_dirs), "1024",
     "most recently used directories watched (the least recently used one leaves first)"},
    {"reconcile_full", T_SECONDS, O(reconcile_full), "1",
     "NFS: re-list a recently used directory at least this often, s; between listings a "
     "GETATTR of it, re-listed when its change attribute moves (in-place writes to files do "
     "not move it: they show within this time)"},
    {"uid", T_INT, O(uid), "-1", "owner of entries without stored owner (-1: the mounting user)"},
    {"gid", T_INT, O(gid), "-1", "group of entries without stored group (-1: the mounting user)"},
    {"file_mode", T_MODE, O(file_mode), "0644", "mode of files without stored mode"},
    {"dir_mode", T_MODE, O(dir_mode), "0755", "mode of directories without stored mode"},
    {"allow_other", T_BOOL, O(allow_other), "0", "let other users access the mount"},
    {"ro", T_BOOL, O(read_only), "0", "mount read-only"},
    {"connect_timeout", T_INT, O(connect_timeout_ms), "3000", "connect timeout, ms"},
    {"request_timeout", T_INT, O(request_timeout_ms), "30000", "request timeout, ms"},
    {"retries", T_INT, O(retries), "4", "retries of a failed request (with backoff)"},
    {"nfs_pool", T_INT, O(nfs_pool), "4", "NFS connections"},
    {"s3_parallel", T_INT, O(s3_parallel), "4", "parallel parts per multipart upload"},
    {"part_size", T_SIZE, O(part_size), "16M", "multipart part size"},
    {"foreground", T_BOOL, O(foreground), "0", "stay in the foreground (-f)"},
    {"debug_fuse", T_BOOL, O(debug_fuse), "0", "log every FUSE request (-d)"},
    {"log_level", T_STR, O(log_level), "warn", "error | warn | info | debug"},
    {"log_max", T_SIZE, O(log_max), "16M",
     "the daemon's log <cache_dir>/mpfs.log is rotated past this size (3 old files kept)"},
    {"log_burst", T_INT, O(log_burst), "10",
     "lines one call site may log per log_window; the next one says how many were dropped "
     "(0: no limit)"},
    {"log_window", T_INT, O(log_window_ms), "10000", "rate-limit window of log_burst, ms"},
    {"syslog", T_STR, O(syslog), "warn",
     "as a daemon, lines of this level or worse also go to syslog: error | warn | info | "
     "debug | off"},
    {"syslog_socket", T_STR, O(syslog_socket), "/dev/log", "syslog's datagram socket"},
    {"threads", T_INT, O(threads), "16", "most FUSE worker threads"},
    {"fsname", T_STR, O(fsname), NULL, "name shown in /proc/mounts"},
    {"metrics_port", T_INT, O(metrics_port), "0",
     "serve the counters of 'mpfs stats' in the Prometheus text format on 127.0.0.1:PORT "
     "(0: off)"},
    {"mountpoint", T_STR, O(mountpoint), NULL,
     "where to mount when no MOUNTPOINT argument is given (a config file per mount: "
     "/etc/mpfs/NAME.conf, mpfs@NAME.service)"},
};

static const char *const mount_only_opts[] = {
    "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "auto", "noauto",
    "user", "nouser", "users", "_netdev", "nofail", "defaults", "async", "atime",
    "noatime", "relatime", "default_permissions",
};

static const struct opt *find(const char *name)
{
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(table); i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -EINVAL;
    uint64_t mul = 1;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': mul = 1ull << 10; end++; break;
    case 'M': mul = 1ull << 20; end++; break;
    case 'G': mul = 1ull << 30; end++; break;
    case 'T': mul = 1ull << 40; end++; break;
    default: return -EINVAL;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    if (*end != '\0')
        return -EINVAL;
    *out = (uint64_t)(v * (double)mul);
    return 0;
}

static int parse_value(const struct opt *o, void *field, const char *value)
{
    char *end;
    switch (o->type) {
    case T_STR: {
        char **s = field;
        free(*s);
        *s = value ? mpfs_xstrdup(value) : NULL;
        return 0;
    }
    case T_BOOL: {
        int *b = field;
        if (!value || !strcmp(value, "1") || !strcasecmp(value, "true") ||
            !strcasecmp(value, "yes") || !strcasecmp(value, "on"))
            *b = 1;
        else if (!strcmp(value, "0") || !strcasecmp(value, "false") ||
                 !strcasecmp(value, "no") || !strcasecmp(value, "off"))
            *b = 0;
        else
            return -EINVAL;
        return 0;
    }
    case T_INT: {
        if (!value)
            return -EINVAL;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < -1 || v > 1 << 30)
            return -EINVAL;
        *(int *)field = (int)v;
        return 0;
    }
    case T_MODE: {
        if (!value)
            return -EINVAL;
        long v = strtol(value, &end, 8);
        if (end == value || *end || v < 0 || v > 07777)
            return -EINVAL;
        *(int *)field = (int)v;
        return 0;
    }
    case T_SIZE:
        return value ? parse_size(value, field) : -EINVAL;
    case T_SECONDS: {
        if (!value)
            return -EINVAL;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || v < 0)
            return -EINVAL;
        *(double *)field = v;
        return 0;
    }
    }
    return -EINVAL;
}

void mpfs_config_init(struct mpfs_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(table); i++) {
        if (table[i].def)
            parse_value(&table[i], (char *)c + table[i].offset, table[i].def);
    }
}

void mpfs_config_free(struct mpfs_config *c)
{
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(table); i++) {
        if (table[i].type == T_STR) {
            char **s = (char **)((char *)c + table[i].offset);
            free(*s);
            *s = NULL;
        }
    }
}

int mpfs_config_set(struct mpfs_config *c, const char *key, const char *value, char *err,
                    size_t errlen)
{
    const struct opt *o = find(key);
    if (!o) {
        for (size_t i = 0; i < MPFS_ARRAY_SIZE(mount_only_opts); i++)
            if (strcmp(key, mount_only_opts[i]) == 0)
                return 0;
        if (strcmp(key, "rw") == 0)
            return 0;
        snprintf(err, errlen, "unknown option '%s' (see mpfs --help)", key);
        return -EINVAL;
    }
    if (parse_value(o, (char *)c + o->offset, value) < 0) {
        snprintf(err, errlen, "bad value '%s' for option '%s'", value ? value : "", key);
        return -EINVAL;
    }
    return 0;
}

int mpfs_config_apply_opts(struct mpfs_config *c, const char *opts, char *err, size_t errlen)
{
    char *copy = mpfs_xstrdup(opts);
    char *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        rc = mpfs_config_set(c, tok, eq ? eq + 1 : NULL, err, errlen);
    }
    free(copy);
    return rc;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int mpfs_config_load_file(struct mpfs_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(e));
        return -e;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';' || *s == '[')
            continue;
        char *eq = strchr(s, '=');
        char *key = s, *value = NULL;
        if (eq) {
            *eq = '\0';
            value = trim(eq + 1);
            size_t n = strlen(value);
            if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
                value[n - 1] = '\0';
                value++;
            }
        }
        key = trim(key);
        char msg[256];
        rc = mpfs_config_set(c, key, value, msg, sizeof(msg));
        if (rc)
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
    }
    fclose(f);
    return rc;
}

static int starts_with(const char *s, const char *p)
{
    return s && strncmp(s, p, strlen(p)) == 0;
}

int mpfs_config_finish(struct mpfs_config *c, char *err, size_t errlen)
{
    if (c->s3 && !starts_with(c->s3, "s3://")) {
        snprintf(err, errlen, "--s3 must look like s3://bucket[/prefix], got '%s'", c->s3);
        return -EINVAL;
    }
    if (c->s3 && strlen(c->s3) <= 5) {
        snprintf(err, errlen, "--s3 names no bucket: '%s'", c->s3);
        return -EINVAL;
    }
    if (c->nfs && !starts_with(c->nfs, "nfs://")) {
        snprintf(err, errlen, "--nfs must look like nfs://host/export[/path], got '%s'", c->nfs);
        return -EINVAL;
    }
    if (!c->s3 && !c->nfs) {
        snprintf(err, errlen, "nothing to mount: give --s3 s3://bucket[/prefix] and/or "
                              "--nfs nfs://host/export");
        return -EINVAL;
    }
    if (c->notify && !starts_with(c->notify, "http://") && !starts_with(c->notify, "amqp://")) {
        snprintf(err, errlen, "notify must be http://127.0.0.1:PORT or amqp://..., got '%s'",
                 c->notify);
        return -EINVAL;
    }
    if (strcmp(c->notify_setup, "auto") && strcmp(c->notify_setup, "none")) {
        snprintf(err, errlen, "notify_setup must be auto or none, not '%s'", c->notify_setup);
        return -EINVAL;
    }
    if (strcmp(c->mode, "auto") == 0) {
        free(c->mode);
        c->mode = mpfs_xstrdup(c->s3 && c->nfs ? "dual" : c->s3 ? "s3" : "nfs");
    }
    if (strcmp(c->mode, "dual") && strcmp(c->mode, "s3") && strcmp(c->mode, "nfs")) {
        snprintf(err, errlen, "mode must be auto, dual, s3 or nfs, not '%s'", c->mode);
        return -EINVAL;
    }
    if ((strcmp(c->mode, "nfs") && !c->s3) || (strcmp(c->mode, "s3") && !c->nfs)) {
        snprintf(err, errlen, "mode %s needs %s", c->mode,
                 !strcmp(c->mode, "dual") ? "both --s3 and --nfs"
                 : !strcmp(c->mode, "s3") ? "--s3" : "--nfs");
        return -EINVAL;
    }
    if (c->block_size < 4096 || c->block_size > (64u << 20) ||
        (c->block_size & (c->block_size - 1))) {
        snprintf(err, errlen, "block_size must be a power of two between 4K and 64M");
        return -EINVAL;
    }
    if (c->prefetch_threads < 1 || c->prefetch_threads > 64) {
        snprintf(err, errlen, "prefetch_threads must be 1..64");
        return -EINVAL;
    }
    if (c->hint_threads < 1 || c->hint_threads > 64) {
        snprintf(err, errlen, "hint_threads must be 1..64");
        return -EINVAL;
    }
    if (c->hint_queue < 1 || c->hint_queue > (1 << 20)) {
        snprintf(err, errlen, "hint_queue must be 1..1048576");
        return -EINVAL;
    }
    if (c->threads < 1) {
        snprintf(err, errlen, "threads must be at least 1");
        return -EINVAL;
    }
    if (c->nfs_pool < 1 || c->nfs_pool > 64) {
        snprintf(err, errlen, "nfs_pool must be 1..64");
        return -EINVAL;
    }
    if (c->connect_timeout_ms < 1 || c->request_timeout_ms < 1) {
        snprintf(err, errlen, "timeouts must be positive");
        return -EINVAL;
    }
    if (c->reconcile_rate < 0 || c->reconcile_rate > 10000 || c->reconcile_dirs < 1 ||
        c->reconcile_interval <= 0) {
        snprintf(err, errlen,
                 "reconcile_rate must be 0..10000, reconcile_dirs at least 1, "
                 "reconcile_interval positive");
        return -EINVAL;
    }
    if (c->metrics_port < 0 || c->metrics_port > 65535) {
        snprintf(err, errlen, "metrics_port must be 0..65535");
        return -EINVAL;
    }
    if (c->uid < 0)
        c->uid = (int)getuid();
    if (c->gid < 0)
        c->gid = (int)getgid();
    if (!c->cache_dir) {
        /* One directory per dataset, so two mounts of different datasets
         * never share an index; the name stays readable. */
        const char *src = strcmp(c->mode, "nfs") == 0 ? c->nfs : c->s3;
        char name[200];
        size_t j = 0;
        for (const char *p = src; *p && j < sizeof(name) - 1; p++)
            name[j++] = isalnum((unsigned char)*p) || *p == '-' || *p == '.' ? *p : '_';
        name[j] = '\0';
        const char *base = getuid() == 0 ? "/var/cache/mpfs" : NULL;
        if (base)
            c->cache_dir = mpfs_xasprintf("%s/%s", base, name);
        else {
            const char *home = getenv("XDG_CACHE_HOME");
            if (home)
                c->cache_dir = mpfs_xasprintf("%s/mpfs/%s", home, name);
            else
                c->cache_dir = mpfs_xasprintf("%s/.cache/mpfs/%s",
                                              getenv("HOME") ? getenv("HOME") : "/tmp", name);
        }
    }
    if (!c->fsname)
        c->fsname = mpfs_xstrdup(strcmp(c->mode, "nfs") == 0 ? c->nfs : c->s3);
    if (mpfs_log_level_name_ok(c->log_level) < 0) {
        snprintf(err, errlen, "log_level must be error, warn, info or debug");
        return -EINVAL;
    }
    int syslog_level;
    if (mpfs_log_syslog_level(c->syslog, &syslog_level) < 0) {
        snprintf(err, errlen, "syslog must be error, warn, info, debug or off");
        return -EINVAL;
    }
    if (c->log_burst < 0 || c->log_window_ms < 1) {
        snprintf(err, errlen, "log_burst must be 0 or more, log_window at least 1 ms");
        return -EINVAL;
    }
    if (strlen(c->syslog_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errlen, "syslog_socket: path too long for a Unix socket");
        return -EINVAL;
    }
    return 0;
}

static int looks_secret(const char *name)
{
    return strstr(name, "secret") || strstr(name, "key") || strstr(name, "token") ||
           strstr(name, "password");
}

/* A URL's password ("scheme://user:PASS@host") is printed as "***". */
static void print_str(const char *v, FILE *out)
{
    const char *auth = v ? strstr(v, "://") : NULL;
    const char *at = auth ? strchr(auth + 3, '@') : NULL;
    const char *colon = auth ? strchr(auth + 3, ':') : NULL;
    if (at && colon && colon < at && !memchr(auth + 3, '/', (size_t)(at - auth - 3)))
        fprintf(out, "%.*s:***%s\n", (int)(colon - v), v, at);
    else
        fprintf(out, "%s\n", v ? v : "");
}

void mpfs_config_print(const struct mpfs_config *c, FILE *out)
{
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(table); i++) {
        const struct opt *o = &table[i];
        const void *f = (const char *)c + o->offset;
        fprintf(out, "%s = ", o->name);
        if (looks_secret(o->name)) {
            fprintf(out, "<redacted>\n");
            continue;
        }
        switch (o->type) {
        case T_STR: print_str(*(char *const *)f, out); break;
        case T_BOOL: fprintf(out, "%s\n", *(const int *)f ? "1" : "0"); break;
        case T_INT: fprintf(out, "%d\n", *(const int *)f); break;
        case T_MODE: fprintf(out, "%04o\n", *(const int *)f); break;
        case T_SIZE: fprintf(out, "%llu\n", (unsigned long long)*(const uint64_t *)f); break;
        case T_SECONDS: fprintf(out, "%g\n", *(const double *)f); break;
        }
    }
    const char *ak = getenv("AWS_ACCESS_KEY_ID");
    fprintf(out, "# credentials: %s\n",
            ak ? "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment (redacted)"
               : "AWS credentials file / profile (redacted)");
}

void mpfs_config_print_help(FILE *out)
{
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(table); i++) {
        const struct opt *o = &table[i];
        fprintf(out, "    %-18s %s%s%s%s\n", o->name, o->help, o->def ? " [" : "",
                o->def ? o->def : "", o->def ? "]" : "");
    }
}

void mpfs_config_print_man(FILE *out)
{
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(table); i++) {
        const struct opt *o = &table[i];
        fputs(".TP\n\\fB", out);
        mpfs_fputs_roff(out, o->name);
        fputs("\\fR", out);
        if (o->type != T_BOOL)
            fputs("=\\fIVALUE\\fR", out);
        fputc('\n', out);
        mpfs_fputs_roff(out, o->help);
        if (o->def) {
            fputs(" [", out);
            mpfs_fputs_roff(out, o->def);
            fputc(']', out);
        }
        fputc('\n', out);
    }
}

void mpfs_config_print_names(FILE *out)
{
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(table); i++)
        fprintf(out, "%s%s\n", table[i].name, table[i].type == T_BOOL ? "" : "=");
}
