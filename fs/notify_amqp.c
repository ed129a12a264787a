/*
 * notify_amqp.c - the AMQP 0.9.1 transport of the change channel
 * (fs/notify.c): the only file that sees librabbitmq.  Built as a stub
 * that refuses amqp:// URLs when the library is missing.
 */
#include "fs/notify.h"
#include "fs/notify_int.h"

#include <errno.h>
#include <stdio.h>

int mpfs_notify_amqp_new(struct mpfs_notify *n, const char *url, const char *topic,
                         struct mpfs_notify_amqp **out, char *err, size_t errlen)
{
    (void)n;
    (void)url;
    (void)topic;
    *out = NULL;
    snprintf(err, errlen, "notify: this mpfs was built without AMQP (librabbitmq)");
    return -EOPNOTSUPP;
}

void mpfs_notify_amqp_start(struct mpfs_notify_amqp *a)
{
    (void)a;
}

void mpfs_notify_amqp_free(struct mpfs_notify_amqp *a)
{
    (void)a;
}

const char *mpfs_notify_amqp_exchange(const struct mpfs_notify_amqp *a)
{
    (void)a;
    return NULL;
}

const char *mpfs_notify_amqp_push_endpoint(const struct mpfs_notify_amqp *a)
{
    (void)a;
    return NULL;
}
