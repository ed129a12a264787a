/*
 * pattern.c - access-pattern detector (see pattern.h for the model).
 */
#include "cache/pattern.h"

#include <string.h>

#include "base/util.h"

void mpfs_pattern_init(struct mpfs_pattern *p, const struct mpfs_pattern_config *cfg)
{
    memset(p, 0, sizeof(*p));
    if (cfg) {
        p->cfg = *cfg;
    }
    if (!p->cfg.block_size) {
        p->cfg.block_size = 1u << 20;
    }
    if (!p->cfg.max_window) {
        p->cfg.max_window = 64u << 20;
    }
    if (p->cfg.max_window < p->cfg.block_size) {
        p->cfg.max_window = p->cfg.block_size;
    }
    if (!p->cfg.gap) {
        p->cfg.gap = 128u << 10;
    }
    if (!p->cfg.seq_threshold) {
        p->cfg.seq_threshold = 1;
    }
}

/* The stream this read continues, or -1.  Forward slack is `gap`;
 * backward slack is `gap` plus two reads, so the kernel's out-of-order
 * delivery of a stream's pieces (piece n arriving after piece n+1) still
 * matches.  Among candidates the one whose end is closest to off wins, so
 * two streams close together stay apart. */
static int find_stream(const struct mpfs_pattern *p, uint64_t off, size_t len)
{
    uint64_t back = p->cfg.gap + 2 * (uint64_t)len;
    int best = -1;
    uint64_t best_dist = UINT64_MAX;
    for (int i = 0; i < MPFS_PATTERN_STREAMS; i++) {
        const struct mpfs_pattern_stream *s = &p->streams[i];
        if (!s->active) {
            continue;
        }
        uint64_t lo = s->next > back ? s->next - back : 0;
        uint64_t hi = s->next + p->cfg.gap;
        if (off < lo || off > hi) {
            continue;
        }
        uint64_t dist = off > s->next ? off - s->next : s->next - off;
        if (dist < best_dist) {
            best_dist = dist;
            best = i;
        }
    }
    return best;
}

static int lru_stream(const struct mpfs_pattern *p)
{
    int victim = 0;
    for (int i = 0; i < MPFS_PATTERN_STREAMS; i++) {
        if (!p->streams[i].active) {
            return i;
        }
        if (p->streams[i].last_use < p->streams[victim].last_use) {
            victim = i;
        }
    }
    return victim;
}

void mpfs_pattern_observe(struct mpfs_pattern *p, uint64_t off, size_t len,
                          struct mpfs_pattern_decision *out)
{
    p->clock++;
    p->reads++;
    uint64_t end = off + len;
    int i = find_stream(p, off, len);
    struct mpfs_pattern_stream *s;
    int sequential;
    if (i >= 0) {
        s = &p->streams[i];
        if (end > s->next) {
            s->runs++;
            s->next = end;
            if (s->runs >= p->cfg.seq_threshold) {
                s->window = s->window ? MPFS_MIN(s->window * 2, (uint64_t)p->cfg.max_window)
                                      : p->cfg.block_size;
            }
        }
        sequential = s->runs >= p->cfg.seq_threshold;
        out->new_stream = 0;
    } else {
        i = lru_stream(p);
        s = &p->streams[i];
        memset(s, 0, sizeof(*s));
        s->active = 1;
        s->next = end;
        s->ra_next = end;
        sequential = 0;
        out->new_stream = 1;
    }
    s->last_use = p->clock;
    if (p->reads > 1 && sequential != p->sequential) {
        p->mode_switches++;
    }
    p->sequential = sequential;
    out->sequential = sequential;
    out->stream = i;
    out->window = sequential ? s->window : 0;
}
