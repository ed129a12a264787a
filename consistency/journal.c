/*
 * journal.c - see journal.h.
 *
 * Record format 1, little-endian: u8 format, u64 ino, u64 parent, u8 is_new,
 * i64 created_ns, u32 attr_set, u32 mode, u32 uid, u32 gid, i64 mtime_ns,
 * then four strings each as u32 length + bytes: path, staging,
 * conflict_path, base_version; then u8 base_side.
 */
#include "consistency/journal.h"

#include "consistency/record_codec.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOURNAL_FMT 1

size_t mpfs_journal_encode(const struct mpfs_journal_rec *r, char *buf, size_t cap)
{
    struct mpfs_wbuf w = {.p = buf, .cap = cap};
    unsigned char fmt = JOURNAL_FMT, is_new = r->is_new ? 1 : 0;
    mpfs_wbuf_bytes(&w, &fmt, 1);
    mpfs_wbuf_u64(&w, r->ino);
    mpfs_wbuf_u64(&w, r->parent);
    mpfs_wbuf_bytes(&w, &is_new, 1);
    mpfs_wbuf_u64(&w, (uint64_t)r->created_ns);
    mpfs_wbuf_u32(&w, r->attr_set);
    mpfs_wbuf_u32(&w, r->attr.mode);
    mpfs_wbuf_u32(&w, r->attr.uid);
    mpfs_wbuf_u32(&w, r->attr.gid);
    mpfs_wbuf_u64(&w, (uint64_t)r->attr.mtime_ns);
    mpfs_wbuf_str(&w, r->path);
    mpfs_wbuf_str(&w, r->staging);
    mpfs_wbuf_str(&w, r->conflict_path);
    mpfs_wbuf_str(&w, r->base_version);
    unsigned char side = (unsigned char)r->base_side;
    mpfs_wbuf_bytes(&w, &side, 1);
    return w.len;
}

int mpfs_journal_decode(const char *buf, size_t len, struct mpfs_journal_rec *rec)
{
    struct mpfs_rbuf r = {.p = (const unsigned char *)buf, .len = len};
    memset(rec, 0, sizeof(*rec));
    const unsigned char *fmt = mpfs_rbuf_take(&r, 1);
    if (!fmt || *fmt != JOURNAL_FMT)
        return -EINVAL;
    rec->ino = mpfs_rbuf_u64(&r);
    rec->parent = mpfs_rbuf_u64(&r);
    const unsigned char *is_new = mpfs_rbuf_take(&r, 1);
    rec->is_new = is_new && *is_new;
    rec->created_ns = (int64_t)mpfs_rbuf_u64(&r);
    rec->attr_set = mpfs_rbuf_u32(&r);
    rec->attr.mode = mpfs_rbuf_u32(&r);
    rec->attr.uid = mpfs_rbuf_u32(&r);
    rec->attr.gid = mpfs_rbuf_u32(&r);
    rec->attr.mtime_ns = (int64_t)mpfs_rbuf_u64(&r);
    rec->path = mpfs_rbuf_str(&r);
    rec->staging = mpfs_rbuf_str(&r);
    rec->conflict_path = mpfs_rbuf_str(&r);
    char *base = mpfs_rbuf_str(&r);
    if (base) {
        if (strlen(base) >= sizeof(rec->base_version))
            r.bad = 1;
        else
            snprintf(rec->base_version, sizeof(rec->base_version), "%s", base);
        free(base);
    }
    const unsigned char *side = mpfs_rbuf_take(&r, 1);
    rec->base_side = side ? *side : 0;
    if (r.bad || !rec->ino || !rec->path || !rec->staging || !rec->staging[0] ||
        strchr(rec->staging, '/')) {
        mpfs_journal_rec_clear(rec);
        return -EINVAL;
    }
    return 0;
}

void mpfs_journal_rec_clear(struct mpfs_journal_rec *rec)
{
    free(rec->path);
    free(rec->staging);
    free(rec->conflict_path);
    memset(rec, 0, sizeof(*rec));
}

int mpfs_journal_put(struct mpfs_index *idx, const struct mpfs_journal_rec *rec)
{
    char small[1024];
    size_t need = mpfs_journal_encode(rec, small, sizeof(small));
    if (need <= sizeof(small))
        return mpfs_index_journal_put(idx, rec->ino, small, need);
    char *big = mpfs_xmalloc(need);
    mpfs_journal_encode(rec, big, need);
    int rc = mpfs_index_journal_put(idx, rec->ino, big, need);
    free(big);
    return rc;
}

int mpfs_journal_del(struct mpfs_index *idx, uint64_t ino)
{
    return mpfs_index_journal_del(idx, ino);
}

struct each_ctx {
    mpfs_journal_fn fn;
    void *arg;
};

static int each_one(void *arg, uint64_t id, const void *v, size_t len)
{
    struct each_ctx *c = arg;
    struct mpfs_journal_rec rec;
    if (mpfs_journal_decode(v, len, &rec) < 0 || rec.ino != id) {
        mpfs_error("journal: record %llu is unreadable; skipped (its staging file, if any, "
                   "is rescued to lost+found)", (unsigned long long)id);
        mpfs_journal_rec_clear(&rec);
        return 0;
    }
    int rc = c->fn(c->arg, &rec);
    mpfs_journal_rec_clear(&rec);
    return rc;
}

int mpfs_journal_each(struct mpfs_index *idx, mpfs_journal_fn fn, void *arg)
{
    struct each_ctx c = {fn, arg};
    return mpfs_index_journal_list(idx, each_one, &c);
}
