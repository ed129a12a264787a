/*
 * listing.c - see listing.h.
 */
#include "fs/listing.h"

#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void mpfs_listing_init(struct mpfs_listing *l)
{
    memset(l, 0, sizeof(*l));
    l->started_ns = mpfs_wall_ns();
}

void mpfs_listing_free(struct mpfs_listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void note_hidden(struct mpfs_listing *l, const char *name, size_t len)
{
    if (l->example[0])
        return;
    size_t j = 0;
    for (size_t i = 0; i < len && j + 5 < sizeof(l->example); i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x20 && c < 0x7f)
            l->example[j++] = (char)c;
        else
            j += (size_t)snprintf(l->example + j, sizeof(l->example) - j, "\\x%02x", c);
    }
    if (len == 0)
        snprintf(l->example, sizeof(l->example), "(empty name)");
    else
        l->example[j] = '\0';
}

int mpfs_listing_add(void *arg, const char *name, size_t len, const struct mpfs_attr *attr,
                     int attr_full)
{
    struct mpfs_listing *l = arg;
    if (!mpfs_name_is_valid(name, len)) {
        l->hidden_invalid++;
        note_hidden(l, name, len);
        return 0;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = mpfs_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    struct mpfs_listing_entry *e = &l->v[l->n++];
    e->name = mpfs_xmalloc(len + 1);
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    e->attr = *attr;
    e->attr_full = attr_full;
    return 0;
}

static int by_name_dir_first(const void *a, const void *b)
{
    const struct mpfs_listing_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    /* same name: directory first, so it wins the dedupe below */
    int xd = S_ISDIR(x->attr.mode), yd = S_ISDIR(y->attr.mode);
    if (xd != yd)
        return yd - xd;
    /* same type: the entry with full attributes first */
    return y->attr_full - x->attr_full;
}

void mpfs_listing_finish(struct mpfs_listing *l)
{
    if (l->n == 0)
        return;
    qsort(l->v, l->n, sizeof(*l->v), by_name_dir_first);
    size_t out = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (out > 0 && strcmp(l->v[out - 1].name, l->v[i].name) == 0) {
            struct mpfs_listing_entry *kept = &l->v[out - 1];
            if (S_ISDIR(kept->attr.mode) && !S_ISDIR(l->v[i].attr.mode)) {
                l->hidden_shadowed++;
                note_hidden(l, l->v[i].name, strlen(l->v[i].name));
            } else if (S_ISDIR(kept->attr.mode) && !kept->attr_full &&
                       l->v[i].attr_full) {
                /* a dir marker object carries the attributes a prefix lacks */
                kept->attr = l->v[i].attr;
                kept->attr_full = 1;
            }
            free(l->v[i].name);
            continue;
        }
        l->v[out++] = l->v[i];
    }
    l->n = out;
}

const struct mpfs_listing_entry *mpfs_listing_find(const struct mpfs_listing *l,
                                                   const char *name)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->v[mid].name, name);
        if (c == 0)
            return &l->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
