/*
 * nfs_read.c - READ through libnfs' raw RPC layer: pipelined, with the
 * reply's EOF flag and post-op attributes.
 *
 * Why not nfs_pread(): libnfs 4.0's high-level read throws away what every
 * READ3 reply carries -- the EOF flag and the file's attributes after the
 * read -- and reports a refused READ as -EFAULT without the status.  With
 * them, one RPC per piece gives:
 *   - end of file without a second READ;
 *   - pinned reads for free: the version of the bytes just read (mtime,
 *     ctime, size) is compared with the caller's, -ESTALE on mismatch
 *     (MPFS_CAP_PINNED_READ);
 *   - torn-read detection: a server that says "end of file" before the
 *     size it reports in the same reply (the RGW view before librgw has
 *     committed an NFS write: 0 bytes, size 5) gets -EAGAIN, never a
 *     silently short file;
 *   - the real NFS status of a refused READ (NFS3ERR_STALE, ISDIR...).
 * A read larger than rsize is split into pieces that are all in flight at
 * once (a window of PIPELINE), so one call of 8 MiB costs about one round
 * trip plus transfer, not eight.
 *
 * The file handle bytes come from nfs_get_fh(), whose struct is private to
 * libnfs; its 4.0 layout is declared here and verified once per backend
 * (mpfs_nfs_raw_selftest(): a raw GETATTR with the handle must return the
 * fileid nfs_fstat64() returned).  If it does not match, the backend falls
 * back to nfs_pread() and does not claim pinned reads.
 *
 * The same raw layer carries pwrite_if's WRITEs (mpfs_nfs_raw_write_if):
 * libnfs' nfs_pwrite() drops the weak cache consistency data of a WRITE3
 * reply, the file's (size, mtime, ctime) just before and its attributes
 * just after the write.  Compared with the version the caller expects, the
 * "before" says whether someone else changed the file between our check
 * and our write: NFSv3 cannot make a write conditional, but it can tell.
 *
 * Lifetime: pieces are heap-allocated with a reference count shared by the
 * caller and each RPC in flight.  If the connection breaks with RPCs in
 * flight the caller returns at once and leaves the batch to the callbacks
 * (libnfs completes or cancels every PDU when the context is destroyed).
 * Runs on the thread that holds the connection; no locks.
 */
#include "backends/nfs/nfs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* libnfs.h first: the raw headers use its definitions. */
#include <nfsc/libnfs.h>

#include <nfsc/libnfs-raw.h>

#include <nfsc/libnfs-raw-nfs.h>

#include "base/log.h"
#include "base/util.h"

/* libnfs 4.0, lib/libnfs-private.h: what nfs_get_fh() points to. */
struct nfs_fh {
    int len;
    char *val;
};

#define PIPELINE 8
#define NFS3_FHSIZE 64

enum { PIECE_IDLE, PIECE_SENT, PIECE_DONE };

struct piece {
    struct batch *b;
    uint64_t off;
    uint32_t want, got;
    int state;
    int err; /* 0 or -errno */
    int eof;
    int has_attr;
    struct mpfs_nfs_rawattr attr;
    char *dst;
};

struct batch {
    int refs; /* the caller + RPCs in flight */
    int abandoned;
    int inflight;
    int transport;
    int timed_out;
    char msg[160];
    size_t n;
    struct piece p[];
};

static void batch_put(struct batch *b)
{
    if (--b->refs == 0) {
        free(b);
    }
}

static void rawattr_from_fattr3(const fattr3 *f, struct mpfs_nfs_rawattr *r)
{
    r->type = (uint32_t)f->type;
    r->mode = f->mode;
    r->uid = f->uid;
    r->gid = f->gid;
    r->nlink = f->nlink;
    r->size = f->size;
    r->fileid = f->fileid;
    r->atime_ns = (int64_t)f->atime.seconds * 1000000000 + f->atime.nseconds;
    r->mtime_ns = (int64_t)f->mtime.seconds * 1000000000 + f->mtime.nseconds;
    r->ctime_ns = (int64_t)f->ctime.seconds * 1000000000 + f->ctime.nseconds;
}

/* An NFS status -> errno, through the one map (nfs_err.c). */
static int status_err(int status)
{
    const char *name = nfsstat3_to_str(status);
    return mpfs_nfs_err_map(-EIO, name ? name : "");
}

static int rpc_status_err(int status, const void *data, struct batch *b)
{
    if (data && status == RPC_STATUS_ERROR) {
        snprintf(b->msg, sizeof(b->msg), "%s", (const char *)data);
    } else if (status == RPC_STATUS_TIMEOUT) {
        snprintf(b->msg, sizeof(b->msg), "READ timed out");
        b->timed_out = 1;
    } else if (status == RPC_STATUS_CANCEL) {
        snprintf(b->msg, sizeof(b->msg), "READ cancelled");
    }
    b->transport = 1;
    return status == RPC_STATUS_TIMEOUT ? -ETIMEDOUT : -ENOTCONN;
}

static void read_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
    struct piece *pc = priv;
    struct batch *b = pc->b;
    if (!b->abandoned) {
        if (status != RPC_STATUS_SUCCESS) {
            pc->err = rpc_status_err(status, data, b);
        } else {
            /* Copy the decoded reply out before use: libnfs' decoder does
             * not promise alignment. */
            READ3res res;
            memcpy(&res, data, sizeof(res));
            if (res.status != NFS3_OK) {
                const post_op_attr *pa = &res.READ3res_u.resfail.file_attributes;
                if (pa->attributes_follow &&
                    pc->off >= pa->post_op_attr_u.attributes.size) {
                    /* The RGW view answers a READ at or past the end of
                     * the file with NFS3ERR_IO instead of "0 bytes, EOF".
                     * The attributes in the same reply say it was EOF. */
                    pc->eof = 1;
                    pc->has_attr = 1;
                    rawattr_from_fattr3(&pa->post_op_attr_u.attributes, &pc->attr);
                } else {
                    pc->err = status_err(res.status);
                }
            } else {
                READ3resok *ok = &res.READ3res_u.resok;
                uint32_t n = ok->data.data_len;
                if (n > pc->want) {
                    n = pc->want; /* never trust a server with our buffer */
                }
                if (n) {
                    memcpy(pc->dst, ok->data.data_val, n);
                }
                pc->got = n;
                pc->eof = ok->eof != 0;
                if (ok->file_attributes.attributes_follow) {
                    pc->has_attr = 1;
                    rawattr_from_fattr3(&ok->file_attributes.post_op_attr_u.attributes,
                                        &pc->attr);
                }
            }
        }
        pc->state = PIECE_DONE;
        b->inflight--;
    }
    batch_put(b);
}

/* Service the context until at most `target` RPCs are in flight.  0, or
 * -errno when the connection failed (b->msg says how). */
static int service_until(struct mpfs_nfs_conn *c, struct batch *b, int target,
                         int64_t deadline)
{
    struct rpc_context *rpc = nfs_get_rpc_context(c->nfs);
    while (b->inflight > target) {
        if (mpfs_now_ns() > deadline) {
            /* libnfs times RPCs out itself; this is the backstop. */
            snprintf(b->msg, sizeof(b->msg), "READ timed out (no reply)");
            return -ETIMEDOUT;
        }
        struct pollfd pfd = {.fd = rpc_get_fd(rpc),
                             .events = (short)rpc_which_events(rpc)};
        if (pfd.fd < 0) {
            snprintf(b->msg, sizeof(b->msg), "socket closed");
            return -ENOTCONN;
        }
        int k = poll(&pfd, 1, 100);
        if (k < 0 && errno != EINTR) {
            snprintf(b->msg, sizeof(b->msg), "poll: %s", strerror(errno));
            return -ENOTCONN;
        }
        if (rpc_service(rpc, k > 0 ? pfd.revents : 0) < 0) {
            const char *e = rpc_get_error(rpc);
            snprintf(b->msg, sizeof(b->msg), "rpc_service failed: %s", e ? e : "");
            return -ENOTCONN;
        }
    }
    if (b->transport) {
        /* A callback saw the RPC fail (timeout, disconnect). */
        return strstr(b->msg, "timed out") || b->timed_out ? -ETIMEDOUT : -ENOTCONN;
    }
    return 0;
}

static int send_piece(struct mpfs_nfs_conn *c, const struct nfs_fh *fh, struct piece *pc)
{
    READ3args args;
    memset(&args, 0, sizeof(args));
    args.file.data.data_len = (u_int)fh->len;
    args.file.data.data_val = fh->val;
    args.offset = pc->off;
    args.count = pc->want;
    pc->b->refs++;
    pc->b->inflight++;
    pc->state = PIECE_SENT;
    if (rpc_nfs3_read_async(nfs_get_rpc_context(c->nfs), read_cb, &args, pc) != 0) {
        pc->b->refs--;
        pc->b->inflight--;
        pc->state = PIECE_IDLE;
        const char *e = rpc_get_error(nfs_get_rpc_context(c->nfs));
        snprintf(pc->b->msg, sizeof(pc->b->msg), "cannot queue READ: %s", e ? e : "");
        return -ENOTCONN;
    }
    return 0;
}

static int piece_ends_early(const struct piece *pc)
{
    return pc->state == PIECE_DONE && (pc->err != 0 || pc->eof || pc->got < pc->want);
}

int mpfs_nfs_raw_read(struct mpfs_nfs_conn *c, struct nfsfh *fh, char *buf, size_t len,
                      uint64_t off, int timeout_ms, struct mpfs_nfs_read_result *res)
{
    memset(res, 0, sizeof(*res));
    const struct nfs_fh *h = nfs_get_fh(fh);
    size_t rmax = (size_t)c->readmax;
    size_t n = (len + rmax - 1) / rmax;
    struct batch *b = mpfs_xcalloc(1, sizeof(*b) + n * sizeof(struct piece));
    b->refs = 1;
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        b->p[i].b = b;
        b->p[i].off = off + i * rmax;
        b->p[i].want = (uint32_t)MPFS_MIN(rmax, len - i * rmax);
        b->p[i].dst = buf + i * rmax;
    }
    int64_t deadline = mpfs_now_ns() + (int64_t)(timeout_ms + 2000) * 1000000;

    /* Keep PIPELINE pieces in flight; stop sending at the first piece that
     * ends early (EOF or error): what lies beyond it is not needed. */
    size_t next = 0;
    int rc = 0;
    for (;;) {
        int stop = 0;
        for (size_t i = 0; i < next && !stop; i++) {
            stop = piece_ends_early(&b->p[i]);
        }
        while (!stop && next < n && b->inflight < PIPELINE && rc == 0) {
            rc = send_piece(c, h, &b->p[next]);
            if (rc == 0) {
                next++;
            }
        }
        if (rc != 0 || b->inflight == 0) {
            break;
        }
        /* Until at least one piece lands (or all, once nothing is left to
         * send), then top up. */
        int target = (stop || next == n) ? 0 : b->inflight - 1;
        rc = service_until(c, b, target, deadline);
        if (rc != 0) {
            break;
        }
    }
    if (rc != 0) {
        /* The connection is gone: leave the batch to the callbacks. */
        snprintf(res->msg, sizeof(res->msg), "%s", b->msg);
        c->broken = 1;
        b->abandoned = 1;
        batch_put(b);
        return rc;
    }

    /* Contiguous bytes from the start; the first short or failed piece
     * ends them. */
    int have_first = 0;
    struct mpfs_nfs_rawattr first = {0};
    for (size_t i = 0; i < next; i++) {
        struct piece *pc = &b->p[i];
        if (pc->err) {
            rc = pc->err;
            break;
        }
        res->done += pc->got;
        if (pc->has_attr) {
            if (!have_first) {
                first = pc->attr;
                have_first = 1;
            } else if (pc->attr.mtime_ns != first.mtime_ns ||
                       pc->attr.ctime_ns != first.ctime_ns ||
                       pc->attr.size != first.size) {
                res->mixed = 1;
            }
            res->has_attr = 1;
            res->attr = pc->attr;
        }
        if (pc->eof || pc->got < pc->want) {
            /* Pieces past an EOF are not looked at: servers may fail
             * them (the RGW view does). */
            res->eof = pc->eof;
            res->short_piece = !pc->eof;
            break;
        }
    }
    batch_put(b);
    return rc;
}

/* ---- self-test of the handle layout ------------------------------------ */

struct getattr_req {
    int done;
    int status;
    int nfs_status;
    uint64_t fileid;
    uint32_t type;
};

static void getattr_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
    struct getattr_req *r = priv;
    r->done = 1;
    r->status = status;
    if (status == RPC_STATUS_SUCCESS && data) {
        GETATTR3res res;
        memcpy(&res, data, sizeof(res));
        r->nfs_status = res.status;
        if (res.status == NFS3_OK) {
            r->fileid = res.GETATTR3res_u.resok.obj_attributes.fileid;
            r->type = (uint32_t)res.GETATTR3res_u.resok.obj_attributes.type;
        }
    }
}

int mpfs_nfs_raw_selftest(struct mpfs_nfs_conn *c, const char *dir, int timeout_ms)
{
    struct nfsfh *fh = NULL;
    if (nfs_open(c->nfs, dir, O_RDONLY, &fh) != 0) {
        return -EIO;
    }
    int rc = -EPROTO;
    struct nfs_stat_64 st;
    const struct nfs_fh *h = nfs_get_fh(fh);
    if (!h || h->len <= 0 || h->len > NFS3_FHSIZE || !h->val ||
        nfs_fstat64(c->nfs, fh, &st) != 0) {
        goto out_close;
    }
    GETATTR3args args;
    memset(&args, 0, sizeof(args));
    args.object.data.data_len = (u_int)h->len;
    args.object.data.data_val = h->val;
    struct getattr_req r = {0};
    struct rpc_context *rpc = nfs_get_rpc_context(c->nfs);
    if (rpc_nfs3_getattr_async(rpc, getattr_cb, &args, &r) != 0) {
        goto out_close;
    }
    int64_t deadline = mpfs_now_ns() + (int64_t)(timeout_ms + 2000) * 1000000;
    while (!r.done && mpfs_now_ns() < deadline) {
        struct pollfd pfd = {.fd = rpc_get_fd(rpc),
                             .events = (short)rpc_which_events(rpc)};
        if (pfd.fd < 0) {
            break;
        }
        int k = poll(&pfd, 1, 100);
        if (rpc_service(rpc, k > 0 ? pfd.revents : 0) < 0) {
            break;
        }
    }
    if (!r.done) {
        /* The GETATTR may still complete later and write into r: the
         * context must not be used again. */
        c->broken = 1;
        rc = -ETIMEDOUT;
        goto out_close;
    }
    if (r.status == RPC_STATUS_SUCCESS && r.nfs_status == NFS3_OK &&
        r.fileid == st.nfs_ino && r.type == NF3DIR) {
        rc = 0;
    }
out_close:
    nfs_close(c->nfs, fh);
    return rc;
}

/* ---- WRITE with weak cache consistency data ---------------------------- */

struct write_req {
    int refs; /* the caller + the RPC in flight */
    int done;
    int status;     /* RPC status */
    int nfs_status; /* NFS3 status when status is success */
    uint32_t count;
    int has_pre;
    int64_t pre_mtime_ns, pre_ctime_ns;
    uint64_t pre_size;
    int has_post;
    struct mpfs_nfs_rawattr post;
    char msg[160];
};

static void write_req_put(struct write_req *r)
{
    if (--r->refs == 0) {
        free(r);
    }
}

static void write_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
    struct write_req *r = priv;
    r->done = 1;
    r->status = status;
    if (status == RPC_STATUS_SUCCESS && data) {
        WRITE3res res;
        memcpy(&res, data, sizeof(res));
        r->nfs_status = res.status;
        const wcc_data *w = res.status == NFS3_OK ? &res.WRITE3res_u.resok.file_wcc
                                                  : &res.WRITE3res_u.resfail.file_wcc;
        if (w->before.attributes_follow) {
            const wcc_attr *a = &w->before.pre_op_attr_u.attributes;
            r->has_pre = 1;
            r->pre_size = a->size;
            r->pre_mtime_ns = (int64_t)a->mtime.seconds * 1000000000 + a->mtime.nseconds;
            r->pre_ctime_ns = (int64_t)a->ctime.seconds * 1000000000 + a->ctime.nseconds;
        }
        if (w->after.attributes_follow) {
            r->has_post = 1;
            rawattr_from_fattr3(&w->after.post_op_attr_u.attributes, &r->post);
        }
        if (res.status == NFS3_OK) {
            r->count = res.WRITE3res_u.resok.count;
        }
    } else if (status == RPC_STATUS_ERROR && data) {
        snprintf(r->msg, sizeof(r->msg), "%s", (const char *)data);
    } else {
        snprintf(r->msg, sizeof(r->msg), "WRITE %s",
                 status == RPC_STATUS_TIMEOUT ? "timed out" : "cancelled");
    }
    write_req_put(r);
}

/* One FILE_SYNC WRITE3 of [off, off+len) (len <= wsize), waited for. */
static int write_one(struct mpfs_nfs_conn *c, const struct nfs_fh *h, const char *buf, size_t len,
                     uint64_t off, int timeout_ms, struct write_req **out)
{
    struct rpc_context *rpc = nfs_get_rpc_context(c->nfs);
    struct write_req *r = mpfs_xcalloc(1, sizeof(*r));
    WRITE3args args;
    memset(&args, 0, sizeof(args));
    args.file.data.data_len = (u_int)h->len;
    args.file.data.data_val = h->val;
    args.offset = off;
    args.count = (count3)len;
    /* durable at once: no COMMIT whose verifier libnfs would not check */
    args.stable = FILE_SYNC;
    args.data.data_len = (u_int)len;
    args.data.data_val = (char *)buf;
    r->refs = 2;
    if (rpc_nfs3_write_async(rpc, write_cb, &args, r) != 0) {
        const char *e = rpc_get_error(rpc);
        snprintf(r->msg, sizeof(r->msg), "cannot queue WRITE: %s", e ? e : "");
        r->refs = 1;
        *out = r;
        c->broken = 1;
        return -ENOTCONN;
    }
    int64_t deadline = mpfs_now_ns() + (int64_t)(timeout_ms + 2000) * 1000000;
    int rc = 0;
    while (!r->done) {
        struct pollfd pfd = {.fd = rpc_get_fd(rpc), .events = (short)rpc_which_events(rpc)};
        if (mpfs_now_ns() > deadline) {
            snprintf(r->msg, sizeof(r->msg), "WRITE timed out (no reply)");
            rc = -ETIMEDOUT;
            break;
        }
        if (pfd.fd < 0) {
            snprintf(r->msg, sizeof(r->msg), "socket closed");
            rc = -ENOTCONN;
            break;
        }
        int k = poll(&pfd, 1, 100);
        if ((k < 0 && errno != EINTR) || rpc_service(rpc, k > 0 ? pfd.revents : 0) < 0) {
            const char *e = rpc_get_error(rpc);
            snprintf(r->msg, sizeof(r->msg), "rpc_service failed: %s", e ? e : "");
            rc = -ENOTCONN;
            break;
        }
    }
    if (rc == 0 && r->status != RPC_STATUS_SUCCESS) {
        rc = r->status == RPC_STATUS_TIMEOUT ? -ETIMEDOUT : -ENOTCONN;
    }
    if (rc != 0) {
        /* the reply may still come: the request stays the callback's, and
         * the context must not be used again */
        c->broken = 1;
    }
    *out = r;
    return rc;
}

int mpfs_nfs_raw_write_if(struct mpfs_nfs_conn *c, struct nfsfh *fh, const char *buf, size_t len,
                          uint64_t off, const char *expect, int timeout_ms,
                          struct mpfs_nfs_write_result *res)
{
    memset(res, 0, sizeof(*res));
    const struct nfs_fh *h = nfs_get_fh(fh);
    char want[MPFS_VERSION_MAX];
    snprintf(want, sizeof(want), "%s", expect);
    size_t done = 0;
    do {
        size_t n = MPFS_MIN(len - done, (size_t)c->writemax);
        struct write_req *r = NULL;
        int rc = write_one(c, h, buf + done, n, off + done, timeout_ms, &r);
        if (rc != 0) {
            snprintf(res->msg, sizeof(res->msg), "%s", r->msg);
            write_req_put(r);
            return rc;
        }
        if (r->nfs_status != NFS3_OK) {
            rc = status_err(r->nfs_status);
            write_req_put(r);
            return rc;
        }
        if (r->has_pre) {
            char before[MPFS_VERSION_MAX];
            mpfs_nfs_version_format(before, sizeof(before), r->pre_mtime_ns, r->pre_ctime_ns,
                                    r->pre_size);
            if (strcmp(before, want) != 0) {
                /* Someone else changed the file between the expectation
                 * and this WRITE, which has landed on top of it. */
                res->conflict = 1;
                snprintf(res->msg, sizeof(res->msg), "file was %s before the WRITE, not %s",
                         before, want);
            }
        } else {
            res->no_pre = 1;
        }
        res->has_attr = r->has_post;
        res->attr = r->post;
        if (r->has_post) {
            /* the next piece must find the file as this one left it */
            mpfs_nfs_version_format(want, sizeof(want), r->post.mtime_ns, r->post.ctime_ns,
                                    r->post.size);
        }
        uint32_t count = r->count;
        write_req_put(r);
        if (count == 0) {
            return -EIO;
        }
        done += count;
        res->done = done;
    } while (done < len);
    return res->conflict ? -ESTALE : 0;
}
