/*
 * notify_amqp.c - the AMQP 0.9.1 transport of the change channel
 * (fs/notify.c): the only file that sees librabbitmq.
 *
 * URL: amqp://USER:PASS@HOST[:PORT][/VHOST][?exchange=NAME] (user and
 * password default to guest/guest, the port to 5672, the vhost to "/",
 * the exchange to "mpfs";
 * %2F in VHOST for a '/').  The password may instead come from the
 * environment variable MPFS_AMQP_PASSWORD, which wins over the URL's.
 *
 * The fleet model: radosgw publishes each event once to the exchange (a
 * durable "topic" exchange, declared here if missing) with the topic's
 * name as routing key; every mount declares its own server-named,
 * exclusive, auto-delete queue bound to that key, so each node gets every
 * event and the broker drops a node's queue when it goes.  Messages are
 * taken without acknowledgement: a lost event costs freshness, never
 * correctness (revalidation stays the safety net).
 *
 * One thread connects, consumes, and on any failure (broker restart,
 * network) closes, marks the channel down (the mount polls) and reconnects
 * with exponential backoff (0.2 s doubling to 10 s).  AMQP heartbeats (10 s)
 * make a silently dead broker a failure within ~20 s.  The thread checks
 * its stop flag every 500 ms.
 *
 * Locking: the connection belongs to the thread; the stop flag is atomic.
 */
#include "fs/notify.h"
#include "fs/notify_int.h"

#include "base/log.h"
#include "base/util.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mpfs_notify_amqp {
    struct mpfs_notify *n;
    char *host, *user, *pass, *vhost, *exchange, *topic;
    char *push; /* the broker URL radosgw is given (with credentials) */
    int port;
    atomic_int stop;
    pthread_t thread;
    int started;
};

static char *pct_decode(const char *s, size_t len)
{
    char *out = mpfs_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

int mpfs_notify_amqp_new(struct mpfs_notify *n, const char *url, const char *topic,
                         struct mpfs_notify_amqp **out, char *err, size_t errlen)
{
    const char *p = url + 7; /* after amqp:// */
    const char *q = strchr(p, '?');
    const char *ex = q ? strstr(q, "exchange=") : NULL;
    if (ex && ex != q + 1 && ex[-1] != '&')
        ex = NULL;
    struct mpfs_notify_amqp *a = mpfs_xcalloc(1, sizeof(*a));
    a->n = n;
    /* radosgw 16.2 binds one exchange to each broker URL (the first topic's;
     * others fail with "exchange mismatch"): one well-known default */
    a->exchange = ex ? pct_decode(ex + 9, strcspn(ex + 9, "&")) : mpfs_xstrdup("mpfs");
    size_t hostpart = q ? (size_t)(q - p) : strlen(p);
    const char *at = memchr(p, '@', hostpart);
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        a->user = pct_decode(p, colon ? (size_t)(colon - p) : (size_t)(at - p));
        a->pass = colon ? pct_decode(colon + 1, (size_t)(at - colon - 1)) : mpfs_xstrdup("");
        hostpart -= (size_t)(at + 1 - p);
        p = at + 1;
    } else {
        a->user = mpfs_xstrdup("guest");
        a->pass = mpfs_xstrdup("guest");
    }
    const char *env = getenv("MPFS_AMQP_PASSWORD");
    if (env) {
        free(a->pass);
        a->pass = mpfs_xstrdup(env);
    }
    const char *slash = memchr(p, '/', hostpart);
    size_t hl = slash ? (size_t)(slash - p) : hostpart;
    a->vhost = slash ? pct_decode(slash + 1, hostpart - hl - 1) : mpfs_xstrdup("/");
    if (!a->vhost[0]) {
        free(a->vhost);
        a->vhost = mpfs_xstrdup("/");
    }
    const char *pc = memchr(p, ':', hl);
    a->port = 5672;
    if (pc) {
        char *e;
        long port = strtol(pc + 1, &e, 10);
        if (e != p + hl || port <= 0 || port > 65535) {
            snprintf(err, errlen, "notify URL: bad AMQP port");
            mpfs_notify_amqp_free(a);
            return -EINVAL;
        }
        a->port = (int)port;
    }
    a->host = pct_decode(p, pc ? (size_t)(pc - p) : hl);
    if (!a->host[0] || !a->exchange[0]) {
        snprintf(err, errlen, "notify URL: no AMQP host or exchange");
        mpfs_notify_amqp_free(a);
        return -EINVAL;
    }
    a->topic = mpfs_xstrdup(topic);
    /* radosgw connects with the same account (named only when it is not
     * the broker's default guest: radosgw refuses secrets in a cleartext
     * URL unless rgw_allow_notification_secrets_in_cleartext is set); the
     * vhost is the URL's path, "/" being the default */
    char *cred = strcmp(a->user, "guest") == 0 && strcmp(a->pass, "guest") == 0
                     ? mpfs_xstrdup("")
                     : mpfs_xasprintf("%s:%s@", a->user, a->pass);
    a->push = strcmp(a->vhost, "/") == 0
                  ? mpfs_xasprintf("amqp://%s%s:%d", cred, a->host, a->port)
                  : mpfs_xasprintf("amqp://%s%s:%d/%s", cred, a->host, a->port, a->vhost);
    free(cred);
    *out = a;
    return 0;
}

/* A failed RPC as one line; 0 if it succeeded. */
static int rpc_failed(amqp_rpc_reply_t r, const char *what, char *msg, size_t len)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(msg, len, "%s: %s", what, amqp_error_string2(r.library_error));
        return 1;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD || r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_connection_close_t *c = r.reply.decoded;
            snprintf(msg, len, "%s: server said %u %.*s", what, c->reply_code,
                     (int)c->reply_text.len, (const char *)c->reply_text.bytes);
        } else {
            snprintf(msg, len, "%s: server exception", what);
        }
        return 1;
    default:
        snprintf(msg, len, "%s: no reply", what);
        return 1;
    }
}

/* Connect, declare, bind, consume.  0 with *out set, else -EIO (msg). */
static int connect_once(struct mpfs_notify_amqp *a, amqp_connection_state_t *out, char *msg,
                        size_t len)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    struct timeval tv = {.tv_sec = 3};
    if (!s || amqp_socket_open_noblock(s, a->host, a->port, &tv) != AMQP_STATUS_OK) {
        snprintf(msg, len, "cannot connect to %s:%d", a->host, a->port);
        amqp_destroy_connection(c);
        return -EIO;
    }
    if (rpc_failed(amqp_login(c, a->vhost, 0, 131072, 10, AMQP_SASL_METHOD_PLAIN, a->user,
                              a->pass),
                   "login", msg, len))
        goto fail;
    amqp_channel_open(c, 1);
    if (rpc_failed(amqp_get_rpc_reply(c), "channel", msg, len))
        goto fail;
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(a->exchange), amqp_cstring_bytes("topic"), 0,
                          1, 0, 0, amqp_empty_table);
    if (rpc_failed(amqp_get_rpc_reply(c), "exchange.declare", msg, len))
        goto fail;
    amqp_queue_declare_ok_t *q =
        amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    if (rpc_failed(amqp_get_rpc_reply(c), "queue.declare", msg, len) || !q)
        goto fail;
    amqp_bytes_t queue = amqp_bytes_malloc_dup(q->queue);
    amqp_queue_bind(c, 1, queue, amqp_cstring_bytes(a->exchange), amqp_cstring_bytes(a->topic),
                    amqp_empty_table);
    int bad = rpc_failed(amqp_get_rpc_reply(c), "queue.bind", msg, len);
    if (!bad) {
        amqp_basic_consume(c, 1, queue, amqp_empty_bytes, 0, 1, 1, amqp_empty_table);
        bad = rpc_failed(amqp_get_rpc_reply(c), "basic.consume", msg, len);
    }
    amqp_bytes_free(queue);
    if (bad)
        goto fail;
    *out = c;
    return 0;
fail:
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    return -EIO;
}

/* Consume until the connection fails or stop is asked. */
static void consume(struct mpfs_notify_amqp *a, amqp_connection_state_t c, char *msg, size_t len)
{
    while (!atomic_load(&a->stop)) {
        amqp_envelope_t env;
        struct timeval tv = {.tv_usec = 500000};
        amqp_maybe_release_buffers(c);
        amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            mpfs_notify_deliver(a->n, env.message.body.bytes, env.message.body.len);
            amqp_destroy_envelope(&env);
            continue;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            /* a method frame (e.g. basic.cancel, channel.close) */
            amqp_frame_t f;
            if (amqp_simple_wait_frame(c, &f) == AMQP_STATUS_OK && f.frame_type == AMQP_FRAME_METHOD &&
                f.payload.method.id != AMQP_BASIC_ACK_METHOD) {
                snprintf(msg, len, "%s", f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD
                                             ? "the broker closed the connection"
                                             : "the broker closed the channel");
                return;
            }
            continue;
        }
        rpc_failed(r, "consume", msg, len);
        return;
    }
}

static void *amqp_thread(void *arg)
{
    struct mpfs_notify_amqp *a = arg;
    int64_t backoff_ms = 200;
    int ever = 0;
    while (!atomic_load(&a->stop)) {
        char msg[256] = "";
        amqp_connection_state_t c;
        if (connect_once(a, &c, msg, sizeof(msg)) == 0) {
            char why[256];
            snprintf(why, sizeof(why), "amqp %s:%d exchange %s key %s", a->host, a->port,
                     a->exchange, a->topic);
            if (ever)
                mpfs_notify_count_reconnect(a->n);
            ever = 1;
            mpfs_notify_set_state(a->n, 1, why);
            backoff_ms = 200;
            consume(a, c, msg, sizeof(msg));
            amqp_connection_close(c, AMQP_REPLY_SUCCESS);
            amqp_destroy_connection(c);
            if (atomic_load(&a->stop))
                break;
        }
        char why[320];
        snprintf(why, sizeof(why), "AMQP: %s; reconnecting", msg[0] ? msg : "connection lost");
        mpfs_notify_set_state(a->n, 0, why);
        for (int64_t waited = 0; waited < backoff_ms && !atomic_load(&a->stop); waited += 50)
            usleep(50000);
        backoff_ms = backoff_ms * 2 > 10000 ? 10000 : backoff_ms * 2;
    }
    return NULL;
}

void mpfs_notify_amqp_start(struct mpfs_notify_amqp *a)
{
    if (!a)
        return;
    if (pthread_create(&a->thread, NULL, amqp_thread, a) != 0) {
        mpfs_notify_set_state(a->n, 0, "cannot start the AMQP thread");
        return;
    }
    a->started = 1;
}

void mpfs_notify_amqp_free(struct mpfs_notify_amqp *a)
{
    if (!a)
        return;
    if (a->started) {
        atomic_store(&a->stop, 1);
        pthread_join(a->thread, NULL);
    }
    free(a->host);
    free(a->user);
    free(a->pass);
    free(a->vhost);
    free(a->exchange);
    free(a->topic);
    free(a->push);
    free(a);
}

const char *mpfs_notify_amqp_exchange(const struct mpfs_notify_amqp *a)
{
    return a->exchange;
}

const char *mpfs_notify_amqp_push_endpoint(const struct mpfs_notify_amqp *a)
{
    return a->push;
}
