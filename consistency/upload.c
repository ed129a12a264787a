/*
 * upload.c - see upload.h.
 *
 * Record format 1, little-endian: u8 format, u64 size, u64 part_size,
 * u32 nparts, then strings (u32 length + bytes): upload id, key, and one
 * ETag per part ("" = not on the store).
 */
#include "consistency/upload.h"

#include "consistency/record_codec.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPLOAD_FMT 1
#define MAX_PARTS 10000 /* S3's limit */

size_t mpfs_upload_encode(const struct mpfs_put_progress *p, char *buf, size_t cap)
{
    struct mpfs_wbuf w = {.p = buf, .cap = cap};
    unsigned char fmt = UPLOAD_FMT;
    mpfs_wbuf_bytes(&w, &fmt, 1);
    mpfs_wbuf_u64(&w, p->size);
    mpfs_wbuf_u64(&w, p->part_size);
    mpfs_wbuf_u32(&w, p->nparts);
    mpfs_wbuf_str(&w, p->upload_id);
    mpfs_wbuf_str(&w, p->key);
    for (uint32_t i = 0; i < p->nparts; i++)
        mpfs_wbuf_str(&w, p->etags ? p->etags[i] : "");
    return w.len;
}

/* Copy a decoded string into a fixed field; bad if it does not fit. */
static void take_str(struct mpfs_rbuf *r, char *dst, size_t size)
{
    char *v = mpfs_rbuf_str(r);
    if (v && strlen(v) < size)
        memcpy(dst, v, strlen(v) + 1);
    else
        r->bad = 1;
    free(v);
}

int mpfs_upload_decode(const char *buf, size_t len, struct mpfs_put_progress *p)
{
    struct mpfs_rbuf r = {.p = (const unsigned char *)buf, .len = len};
    mpfs_put_progress_clear(p);
    const unsigned char *fmt = mpfs_rbuf_take(&r, 1);
    if (!fmt || *fmt != UPLOAD_FMT)
        return -EINVAL;
    p->size = mpfs_rbuf_u64(&r);
    p->part_size = mpfs_rbuf_u64(&r);
    uint32_t nparts = mpfs_rbuf_u32(&r);
    take_str(&r, p->upload_id, sizeof(p->upload_id));
    take_str(&r, p->key, sizeof(p->key));
    if (r.bad || nparts == 0 || nparts > MAX_PARTS || !p->upload_id[0]) {
        mpfs_put_progress_clear(p);
        return -EINVAL;
    }
    p->nparts = nparts;
    p->etags = mpfs_xcalloc(nparts, MPFS_VERSION_MAX);
    for (uint32_t i = 0; i < nparts && !r.bad; i++)
        take_str(&r, p->etags[i], MPFS_VERSION_MAX);
    if (r.bad) {
        mpfs_put_progress_clear(p);
        return -EINVAL;
    }
    return 0;
}

static void save(void *arg, const struct mpfs_put_progress *p)
{
    struct mpfs_upload_keeper *k = arg;
    size_t need = mpfs_upload_encode(p, NULL, 0);
    char *buf = mpfs_xmalloc(need);
    mpfs_upload_encode(p, buf, need);
    int rc = mpfs_index_upload_put(k->idx, k->id, buf, need);
    free(buf);
    k->saved = 1;
    if (rc < 0)
        mpfs_warn("journal: could not keep the progress of the upload of '%s' (%s): after a "
                  "crash it is sent again whole", p->key, strerror(-rc));
}

void mpfs_upload_track(struct mpfs_put_progress *p, struct mpfs_upload_keeper *k)
{
    p->save = save;
    p->save_arg = k;
}

int mpfs_upload_load(struct mpfs_index *idx, uint64_t id, struct mpfs_put_progress *p)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = mpfs_index_upload_get(idx, id, &buf, &len);
    if (rc == 0) {
        rc = mpfs_upload_decode(buf, len, p);
        if (rc < 0) {
            mpfs_warn("journal: unreadable upload progress of file %llu; its data is sent "
                      "again whole", (unsigned long long)id);
            mpfs_index_upload_del(idx, id);
        }
    }
    free(buf);
    return rc;
}

int mpfs_upload_forget(struct mpfs_index *idx, uint64_t id)
{
    return mpfs_index_upload_del(idx, id);
}
