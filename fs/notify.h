/*
 * notify.h - the change channel: bucket notifications consumed by the
 * mount (-o notify=...), so changes made through S3 by others show at once
 * instead of after meta_ttl.
 *
 * Transports: an HTTP listener on loopback (radosgw pushes each event as a
 * POST; one node) or an AMQP 0.9.1 consumer (radosgw publishes to a
 * RabbitMQ exchange; every node's mount has its own exclusive queue bound
 * to the topic: a fleet, one message per change however many nodes).
 * Each message goes through mpfs_notify_deliver(): parsed
 * (fs/notify_event.c), matched to this mount's bucket and prefix, ordered
 * per key by its sequencer, and applied (fs/remote_event.c).
 *
 * Health: the channel is healthy while its transport is up and, with
 * notify_setup=auto, the store's side is set up.  Only then are entries
 * trusted for notify_ttl instead of meta_ttl (mpfs_fs_policy); when it is
 * down the mount polls by meta_ttl as without it, and says so (log, stats).
 *
 * Locking: counters are atomics; the per-key sequencer table has its own
 * mutex, never held across an apply.  The transport thread is the only
 * one that applies events.
 */
#ifndef MPFS_FS_NOTIFY_H
#define MPFS_FS_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mpfs_fs;
struct mpfs_notify;

enum mpfs_notify_state {
    MPFS_NOTIFY_OFF = 0,  /* not configured */
    MPFS_NOTIFY_DOWN = 1, /* configured, not receiving: polling */
    MPFS_NOTIFY_UP = 2,   /* receiving: entries trusted for notify_ttl */
};

struct mpfs_notify_stats {
    int state;            /* enum mpfs_notify_state */
    int setup;            /* the store's side was set up here (notify_setup=auto) */
    uint64_t messages;    /* messages received */
    uint64_t malformed;   /* messages rejected (HTTP 400) */
    uint64_t events;      /* usable records */
    uint64_t applied;     /* ... applied to the index */
    uint64_t same;        /* ... the index already had that version */
    uint64_t stale;       /* ... older than one already seen for the key (sequencer) */
    uint64_t doubted;     /* ... order unclear: entry revalidated at next access */
    uint64_t expired;     /* ... a new name: the listing above it expired */
    uint64_t busy;        /* ... local unuploaded data: left to the commit */
    uint64_t outside;     /* ... another bucket or prefix, or nothing indexed */
    uint64_t reconnects;  /* transport reconnections (AMQP) */
    double last_event_age_s; /* since the last message; -1 if none yet */
    char transport[8];    /* "http" | "amqp" */
};

/* Make the channel for URL (no thread, no request yet): -EINVAL with a
 * message for a URL it cannot use.  The fs must outlive it. */
int mpfs_notify_new(struct mpfs_fs *fs, const char *url, struct mpfs_notify **out, char *err,
                    size_t errlen);
/* Start the transport and (notify_setup=auto) set up the store.  Failures
 * leave the channel down (logged; the mount polls). */
void mpfs_notify_start(struct mpfs_notify *n);
/* Stop; remove what start set up on the store (HTTP).  NULL is a no-op. */
void mpfs_notify_free(struct mpfs_notify *n);

/* One message (S3 event JSON).  0, or -EINVAL / -E2BIG (rejected). */
int mpfs_notify_deliver(struct mpfs_notify *n, const char *body, size_t len);

int mpfs_notify_healthy(const struct mpfs_notify *n); /* NULL: 0 */
/* While healthy: the wall time (ns) it became so; entries confirmed since
 * may be trusted for notify_ttl (a change before it sent no event we
 * got).  0 when not healthy or NULL. */
int64_t mpfs_notify_up_since(const struct mpfs_notify *n);
/* The HTTP listener's port once started (port 0 asks for any), else 0. */
int mpfs_notify_http_port(const struct mpfs_notify *n);
void mpfs_notify_get_stats(struct mpfs_notify *n, struct mpfs_notify_stats *st);
/* "name value" lines (notify.*) for the stats report; nothing if n is NULL. */
void mpfs_notify_report(struct mpfs_notify *n, FILE *out);
void mpfs_notify_prometheus(struct mpfs_notify *n, FILE *out);

/* transport state changes, for the transports (notify.c, notify_amqp.c) */
void mpfs_notify_set_state(struct mpfs_notify *n, int up, const char *why);
void mpfs_notify_count_reconnect(struct mpfs_notify *n);

#endif
