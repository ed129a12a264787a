/*
 * topic.h - bucket-notification control calls of the S3 side: the topic
 * (radosgw's SNS-style API: CreateTopic / DeleteTopic on the endpoint's
 * "/") and the bucket's notification configuration (PUT / DELETE
 * ?notification).  Used by the fs's change channel (fs/notify.c) to set up
 * and remove what makes the store push events to the mount; kept out of
 * the backend ops table, which is about the dataset.
 *
 * radosgw specifics (16.2): a topic is created with attributes
 * push-endpoint (http://..., amqp://...), amqp-exchange, amqp-ack-level
 * and persistent; CreateTopic of an existing name replaces its
 * attributes.  GetTopic answers the topic with its EndPoint
 * (EndpointAddress = the push endpoint) or 404 NoSuchEntity.  A bucket
 * notification configuration keeps a copy of the topic made when it was
 * PUT: deleting or re-pointing a non-persistent topic does not change
 * where radosgw 16.2 pushes, but deleting a persistent one removes its
 * queue, and then every write under the configuration's prefix fails
 * (400 InvalidArgument) until the topic is created again.  PUT ?notification adds (or replaces, by Id) configurations
 * instead of replacing the bucket's whole set as AWS does, and DELETE
 * ?notification=ID removes one: several mounts can hold their own.  AWS
 * has neither push endpoints nor the per-Id delete (its topics are SNS,
 * consumed through SQS): these calls are radosgw's.
 *
 * Thread safety: as any S3 request (own pooled handle per call).
 */
#ifndef MPFS_BACKENDS_S3_TOPIC_H
#define MPFS_BACKENDS_S3_TOPIC_H

#include <stddef.h>

#include "backends/backend.h"

struct mpfs_s3_topic_attrs {
    const char *push_endpoint; /* where radosgw sends: "http://127.0.0.1:8123", "amqp://..." */
    const char *amqp_exchange; /* NULL unless AMQP */
    const char *amqp_ack_level; /* NULL, "none", "broker", "routable" */
    int persistent;            /* queue events in the store, send in the background */
};

/* Create (or update) topic name; its ARN goes to arn.  -EOPNOTSUPP if b is
 * not an S3 backend (or the store has no topic API), else -errno. */
int mpfs_s3_topic_create(struct mpfs_backend *b, const char *name,
                         const struct mpfs_s3_topic_attrs *a, char *arn, size_t arnlen);
int mpfs_s3_topic_delete(struct mpfs_backend *b, const char *arn);
/* The push endpoint topic arn has on the store (GetTopic), "" if none.
 * 0, -ENOENT (no such topic), or another -errno (the store could not
 * say). */
int mpfs_s3_topic_endpoint(struct mpfs_backend *b, const char *arn, char *endpoint, size_t len);
/* The push endpoint of a GetTopic answer: 0 ("" for a topic without one),
 * -EIO if xml is not a topic, -ENAMETOOLONG if it does not fit. */
int mpfs_s3_topic_parse_endpoint(const char *xml, size_t xlen, char *endpoint, size_t len);
/* 1 if push endpoints a and b name the same destination: equal once any
 * user information ("user:pass@") is left out, as a store may hide a
 * stored secret; else 0. */
int mpfs_s3_push_endpoint_same(const char *a, const char *b);

/* Configuration id on the bucket: events ObjectCreated:* and
 * ObjectRemoved:* of keys under the backend's prefix go to topic arn. */
int mpfs_s3_notification_put(struct mpfs_backend *b, const char *id, const char *arn);
int mpfs_s3_notification_delete(struct mpfs_backend *b, const char *id);
/* Is the bucket's notification configuration `id` there?  0, -ENOENT, or
 * another -errno (the store could not say). */
int mpfs_s3_notification_exists(struct mpfs_backend *b, const char *id);

/* The backend's bucket and key prefix ("" or "data/set1/"), for matching
 * events to this dataset.  NULL if b is not an S3 backend. */
const char *mpfs_s3_bucket_of(struct mpfs_backend *b);
const char *mpfs_s3_prefix_of(struct mpfs_backend *b);

#endif
