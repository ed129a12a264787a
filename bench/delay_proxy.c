/*
 * delay_proxy.c - a TCP proxy that adds a first-byte latency to every HTTP
 * response (see delay_proxy.py, which builds and starts it).
 *
 *   delay_proxy --target HOST:PORT --delay-ms D [--listen HOST:PORT]
 *
 * Prints "port N" on stdout once it listens; on SIGTERM or SIGINT prints
 * "delayed N responses" on stderr and exits 0.
 *
 * Why C: the proxy stands in for the network of a far store, which costs
 * the client's node nothing.  The asyncio proxy it replaces used about as
 * much CPU as the store itself during a prefetched epoch of 128 KiB
 * objects (a third of the 2-core machine), and so slowed the very client
 * it measured.
 *
 * Design: one upstream connection per client connection, two threads per
 * connection (one per direction), blocking I/O, bytes passed untouched.  A
 * response is recognised without parsing HTTP: bytes from the server that
 * follow bytes from the client (HTTP/1.1 without pipelining, which libcurl,
 * s3fs, rclone and http.client do not use) start a response, and their
 * delivery waits until `delay` after they arrived; the server-to-client
 * thread does not read meanwhile (the kernel's buffers and TCP flow
 * control hold the rest), so the first byte reaches the client at server
 * time + delay, as from a far store, and later bytes flow at full speed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)

static struct addrinfo *target;
static long long delay_ns;
static atomic_ullong delayed;

struct conn {
    int cfd, ufd;
    atomic_int awaiting; /* the client sent bytes the server has not answered */
    atomic_int refs;     /* the two direction threads */
};

static void conn_put(struct conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1) {
        close(c->cfd);
        close(c->ufd);
        free(c);
    }
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleep_until(long long when)
{
    struct timespec t = {when / 1000000000LL, when % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

/* One direction.  Its end (EOF or error) ends the connection both ways:
 * shutdown wakes the other thread's blocking read. */
static void pump(struct conn *c, int from, int to, int from_server)
{
    char *buf = malloc(BUF);
    while (buf) {
        ssize_t n = recv(from, buf, BUF, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (!from_server) {
            /* set before the bytes go out: the answer may come at once */
            atomic_store(&c->awaiting, 1);
        } else if (atomic_exchange(&c->awaiting, 0) && delay_ns > 0) {
            atomic_fetch_add(&delayed, 1);
            sleep_until(now_ns() + delay_ns);
        }
        if (send_all(to, buf, (size_t)n) < 0)
            break;
    }
    free(buf);
    shutdown(c->cfd, SHUT_RDWR);
    shutdown(c->ufd, SHUT_RDWR);
}

static void *client_to_server(void *arg)
{
    struct conn *c = arg;
    pump(c, c->cfd, c->ufd, 0);
    conn_put(c);
    return NULL;
}

static void *server_to_client(void *arg)
{
    struct conn *c = arg;
    pump(c, c->ufd, c->cfd, 1);
    conn_put(c);
    return NULL;
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void serve(int cfd)
{
    int ufd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ufd < 0 || connect(ufd, target->ai_addr, target->ai_addrlen) < 0) {
        if (ufd >= 0)
            close(ufd);
        close(cfd);
        return;
    }
    nodelay(cfd);
    nodelay(ufd);
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(cfd);
        close(ufd);
        return;
    }
    c->cfd = cfd;
    c->ufd = ufd;
    atomic_init(&c->refs, 2);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 64 * 1024);
    pthread_t t;
    if (pthread_create(&t, &at, client_to_server, c) != 0) {
        close(cfd);
        close(ufd);
        free(c);
    } else if (pthread_create(&t, &at, server_to_client, c) != 0) {
        shutdown(cfd, SHUT_RDWR); /* the first thread ends and frees */
        conn_put(c);
    }
    pthread_attr_destroy(&at);
}

static void *accept_loop(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd >= 0)
            serve(cfd);
        else if (errno != EINTR && errno != ECONNABORTED)
            usleep(10000); /* out of descriptors: let connections end */
    }
    return NULL;
}

static struct addrinfo *resolve(const char *hostport, int passive)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
        fprintf(stderr, "delay_proxy: %s: expected HOST:PORT\n", hostport);
        exit(2);
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "delay_proxy: %s: %s\n", hostport, gai_strerror(rc));
        exit(2);
    }
    return ai;
}

int main(int argc, char **argv)
{
    const char *to = NULL, *listen_at = "127.0.0.1:0";
    double ms = 20.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--target"))
            to = argv[i + 1];
        else if (!strcmp(argv[i], "--delay-ms"))
            ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--listen"))
            listen_at = argv[i + 1];
        else
            to = NULL, i = argc;
    }
    if (!to || ms < 0) {
        fprintf(stderr, "usage: delay_proxy --target HOST:PORT --delay-ms D [--listen HOST:PORT]\n");
        return 2;
    }
    delay_ns = (long long)(ms * 1e6);
    target = resolve(to, 0);
    struct addrinfo *l = resolve(listen_at, 1);
    int lfd = socket(l->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, l->ai_addr, l->ai_addrlen) < 0 || listen(lfd, 512) < 0) {
        fprintf(stderr, "delay_proxy: listen on %s: %s\n", listen_at, strerror(errno));
        return 1;
    }
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    int port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                              : ((struct sockaddr_in *)&sa)->sin_port);

    /* every thread inherits the blocked signals; this one waits for them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_t t;
    if (pthread_create(&t, NULL, accept_loop, &lfd) != 0) {
        fprintf(stderr, "delay_proxy: cannot start: %s\n", strerror(errno));
        return 1;
    }
    printf("port %d\n", port);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    fprintf(stderr, "delayed %llu responses\n", (unsigned long long)atomic_load(&delayed));
    return 0;
}
