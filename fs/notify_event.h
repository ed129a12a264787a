/*
 * notify_event.h - the S3 event message (bucket notifications) read into
 * plain records: what changed (key), how (created / removed), to what
 * (ETag, size) and when (eventTime, sequencer).
 *
 * The message is the one AWS S3 defines ({"Records":[...]}, eventVersion
 * 2.x) and radosgw sends to its HTTP, AMQP and Kafka endpoints.  Two
 * differences between senders matter and are handled here:
 *   - the key: AWS URL-encodes it (form style: ' ' as '+'); radosgw 16.2
 *     sends it raw.  The record's eventSource tells which ("ceph:s3" is
 *     raw, anything else decoded);
 *   - the sequencer: radosgw's is the hex dump of a utime_t (seconds then
 *     nanoseconds, 32-bit little-endian each), AWS's an opaque hex string
 *     that orders by value.  Both are normalised to 32 upper-case hex
 *     digits whose byte order is their order (strcmp compares them).
 *
 * The JSON reader is our own, small and strict: a bounded document
 * (MPFS_EVENT_DOC_MAX), nesting at most 32 deep, strings checked for
 * control characters and valid escapes (\uXXXX surrogate pairs become
 * UTF-8), numbers by the JSON grammar.  Anything malformed rejects the
 * whole message (-EINVAL, nothing delivered); a well-formed record that is
 * not a create or remove, or lacks its key, is counted as skipped.
 *
 * Pure functions over a buffer: thread-safe.
 */
#ifndef MPFS_FS_NOTIFY_EVENT_H
#define MPFS_FS_NOTIFY_EVENT_H

#include "backends/backend.h"

#include <stddef.h>
#include <stdint.h>

#define MPFS_EVENT_DOC_MAX (1u << 20) /* bytes of one message */
#define MPFS_EVENT_RECORDS_MAX 1000   /* records of one message */
#define MPFS_EVENT_KEY_MAX 1025       /* an S3 key (1024 bytes) and its NUL */
#define MPFS_EVENT_SEQ_LEN 32         /* normalised sequencer digits */

enum mpfs_event_kind {
    MPFS_EVENT_CREATED = 1, /* ObjectCreated:* (Put, Post, Copy, CompleteMultipartUpload) */
    MPFS_EVENT_REMOVED = 2, /* ObjectRemoved:* (Delete, DeleteMarkerCreated) */
};

struct mpfs_s3_event {
    int kind;                          /* enum mpfs_event_kind */
    char bucket[256];
    char key[MPFS_EVENT_KEY_MAX];      /* decoded */
    char etag[MPFS_VERSION_MAX];       /* without quotes; "" if absent */
    uint64_t size;
    int64_t time_ns;                   /* eventTime; 0 if absent or unreadable */
    char seq[MPFS_EVENT_SEQ_LEN + 1];  /* normalised sequencer; "" if none */
};

/* Called once per usable record, in message order; non-zero stops. */
typedef int (*mpfs_s3_event_fn)(void *arg, const struct mpfs_s3_event *ev);

/* Parse one message.  Returns 0 (or the callback's non-zero value) and
 * sets *skipped (may be NULL) to the records that were not usable, or
 * -EINVAL if the message is malformed (then no callback was made) and
 * -E2BIG past MPFS_EVENT_DOC_MAX / MPFS_EVENT_RECORDS_MAX. */
int mpfs_s3_events_parse(const char *json, size_t len, mpfs_s3_event_fn fn, void *arg,
                         size_t *skipped);

/* "2026-12-06T09:31:04.486843Z" -> ns since the epoch; 0 if unreadable. */
int64_t mpfs_event_time_parse(const char *s);

#endif
