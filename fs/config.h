/*
 * config.h - the mount's configuration: one declarative table.
 *
 * Every setting is a row (name, type, offset into struct mpfs_config,
 * default, help).  Sources apply in order: defaults < config file (--config
 * FILE, "key = value" lines, '#' comments) < -o key=value options <
 * command-line flags, which are only aliases for the same keys.  Values are
 * validated once, in mpfs_config_finish().  Secrets never come from here:
 * S3 keys come from the AWS environment variables or a credentials file,
 * so --print-config has nothing to leak; it still redacts any key that
 * looks secret.
 */
#ifndef MPFS_FS_CONFIG_H
#define MPFS_FS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mpfs_config {
    /* what to mount */
    char *s3;             /* s3://bucket[/prefix] */
    char *s3_endpoint;    /* http(s)://host:port; default AWS_ENDPOINT_URL */
    char *s3_region;
    char *s3_profile;
    int s3_virtual_hosted;
    char *nfs;            /* nfs://host/export[/path] */
    char *mode;           /* auto | dual | s3 | nfs */
    /* where local state lives */
    char *cache_dir;      /* index, block cache, staging */
    uint64_t cache_ram;   /* RAM block cache bytes */
    uint64_t memory_limit; /* whole data path, cache/budget.h; 0 = from physical RAM */
    uint64_t cache_disk;  /* disk block cache bytes (0 disables) */
    uint64_t staging_max; /* bytes of not-yet-committed writes */
    uint64_t block_size;
    uint64_t readahead_max;
    int prefetch_threads;
    int hint_threads; /* announced prefetch (fs/announce.h): most fetches at once */
    int hint_queue;   /* announced entries per caller */
    int tree_walk_keys;   /* index a never-listed subtree in one flat walk up to this many keys */
    int lookup_walk;      /* lookups in a never-listed directory walk it (lookup.c) */
    uint64_t lookup_read; /* a lookup's store request also reads this many first bytes */
    /* consistency */
    double attr_timeout;  /* kernel attribute/entry lifetime, s */
    double meta_ttl;      /* index entry lifetime before a backend stat, s */
    double dir_ttl;       /* listing served as is, s */
    double dir_stale;     /* listing served while refreshed in background, s */
    double neg_ttl;       /* negative entries, s */
    int cto;              /* close-to-open revalidation */
    char *policy;         /* per-prefix rules "prefix:immutable;prefix:fresh" */
    char *notify;         /* change events: http://127.0.0.1:PORT | amqp://... (fs/notify.c) */
    char *notify_setup;   /* auto | none: who creates the topic and bucket notification */
    double notify_ttl;    /* entry lifetime while the event channel is healthy, s */
    double notify_check;  /* seconds between checks that the setup is still there, 0 = off */
    int notify_persistent; /* radosgw queues events (persistent topic) */
    int reconcile_rate;   /* reconciler store requests per second (0: off) */
    double reconcile_interval; /* re-check a recently used directory this often, s */
    double reconcile_window;   /* a directory is recently used this long after use, s */
    int reconcile_dirs;   /* most directories the reconciler watches */
    double reconcile_full; /* NFS: re-list an unchanged directory after this long, s */
    /* POSIX presentation */
    int uid, gid;         /* owner of entries without stored owner (-1: mounter) */
    int file_mode, dir_mode;
    int allow_other;
    int read_only;
    /* connections */
    int connect_timeout_ms;
    int request_timeout_ms;
    int retries;
    int nfs_pool;
    int s3_parallel;
    uint64_t part_size;
    /* process */
    int foreground;
    int debug_fuse;
    char *log_level;
    uint64_t log_max;     /* rotate the daemon's log past this many bytes */
    int log_burst;        /* lines per call site per log_window_ms (0: no limit) */
    int log_window_ms;
    char *syslog;         /* as a daemon, levels also sent to syslog: a level or "off" */
    char *syslog_socket;
    int threads;          /* max FUSE worker threads */
    char *fsname;
    char *mountpoint;     /* from a config file; the MOUNTPOINT argument wins */
    int metrics_port;     /* Prometheus text on 127.0.0.1:port, 0 = off */
};

void mpfs_config_init(struct mpfs_config *c);
void mpfs_config_free(struct mpfs_config *c);
/* Set one key from text.  Returns 0 or -EINVAL with a message in err. */
int mpfs_config_set(struct mpfs_config *c, const char *key, const char *value, char *err,
                    size_t errlen);
/* Apply a comma-separated -o option string ("ro,cache_ram=1G,..."). Options
 * that belong to FUSE/mount(8) and not to mpfs (rw, dev, suid, ...) are
 * accepted and ignored. */
int mpfs_config_apply_opts(struct mpfs_config *c, const char *opts, char *err, size_t errlen);
int mpfs_config_load_file(struct mpfs_config *c, const char *path, char *err, size_t errlen);
/* Validate and derive defaults (mode from what is configured, cache_dir
 * from the dataset).  Returns 0 or -EINVAL with a message. */
int mpfs_config_finish(struct mpfs_config *c, char *err, size_t errlen);
void mpfs_config_print(const struct mpfs_config *c, FILE *out);
void mpfs_config_print_help(FILE *out);
/* The same table as roff ".TP" entries, for the generated mpfs(1). */
void mpfs_config_print_man(FILE *out);
/* One option name per line ("name=" when it takes a value): shell completion. */
void mpfs_config_print_names(FILE *out);

#endif
