/*
 * notify_int.h - between the change channel (fs/notify.c) and its AMQP
 * transport (fs/notify_amqp.c, the only file that sees librabbitmq).
 * Not for use elsewhere.
 */
#ifndef MPFS_FS_NOTIFY_INT_H
#define MPFS_FS_NOTIFY_INT_H

#include <stddef.h>

struct mpfs_notify;
struct mpfs_notify_amqp;

/* Parse an amqp:// URL; the consumer binds a queue of its own to the
 * exchange with routing key topic.  -EINVAL with a message for a bad URL,
 * -EOPNOTSUPP when built without librabbitmq. */
int mpfs_notify_amqp_new(struct mpfs_notify *n, const char *url, const char *topic,
                         struct mpfs_notify_amqp **out, char *err, size_t errlen);
/* Connect and consume in a thread of its own, reconnecting with backoff;
 * every message goes to mpfs_notify_deliver(). */
void mpfs_notify_amqp_start(struct mpfs_notify_amqp *a);
void mpfs_notify_amqp_free(struct mpfs_notify_amqp *a); /* NULL is a no-op */
/* For the topic radosgw publishes through. */
const char *mpfs_notify_amqp_exchange(const struct mpfs_notify_amqp *a);
const char *mpfs_notify_amqp_push_endpoint(const struct mpfs_notify_amqp *a);

#endif
