/*
 * pattern.h - the per-handle access-pattern detector: is this open file
 * being read sequentially (give it a growing readahead window) or randomly
 * (fetch only what is asked, in small blocks)?
 *
 * Model: up to MPFS_PATTERN_STREAMS concurrent "streams" per handle, so a
 * reader interleaving a few sequential cursors (a tar of two members, a
 * Parquet reader walking column chunks, two DataLoader workers sharing a
 * handle) is still sequential.  A read continues a stream when it starts
 * within [next - gap, next + gap] of where the stream ended: forward gaps
 * up to `gap` (strided reads dense enough that reading the holes is
 * cheaper than a new request) and small backward overlaps (the kernel
 * sends FUSE readahead requests from several threads, slightly out of
 * order).  A read that continues no stream starts a new one, replacing
 * the least recently used.
 *
 * A stream is sequential once it has advanced `seq_threshold` times; its
 * window then starts at one block and doubles on every advancing read up
 * to max_window.  A read that starts a new stream is random and its
 * stream's window is 0: the reader fetches only the blocks that read
 * needs.  Other streams keep their windows, so one stray read (a footer,
 * an index) does not cost a long-running stream its readahead; a stream
 * not continued for a while is replaced, and its window with it.
 * Reading backwards (each read ending where the previous one began) never
 * advances a stream: random.
 *
 * Pure logic, no locking: the owner (reader.c) serialises calls.
 */
#ifndef MPFS_CACHE_PATTERN_H
#define MPFS_CACHE_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define MPFS_PATTERN_STREAMS 4

struct mpfs_pattern_config {
    size_t block_size;      /* first window; default 1 MiB */
    size_t max_window;      /* default 64 MiB */
    size_t gap;             /* forward/backward slack of "continues"; default 128 KiB */
    unsigned seq_threshold; /* advancing reads before sequential; default 1 */
};

struct mpfs_pattern_stream {
    int active;
    uint64_t next;     /* where the stream's last read ended (furthest) */
    uint64_t last_use; /* detector clock, for LRU replacement */
    unsigned runs;     /* advancing reads since the stream started */
    uint64_t window;   /* readahead window in bytes, 0 = none */
    uint64_t ra_next;  /* owned by the reader: first byte not yet requested */
};

struct mpfs_pattern {
    struct mpfs_pattern_config cfg;
    struct mpfs_pattern_stream streams[MPFS_PATTERN_STREAMS];
    uint64_t clock;
    int sequential; /* classification of the last read */
    uint64_t mode_switches;
    uint64_t reads;
};

struct mpfs_pattern_decision {
    int sequential;  /* this read belongs to a sequential stream */
    int stream;      /* index into streams[] */
    uint64_t window; /* readahead to keep in flight past the read, bytes */
    int new_stream;  /* the read started a stream (it continued none) */
};

/* Zero fields of cfg take defaults; cfg may be NULL. */
void mpfs_pattern_init(struct mpfs_pattern *p, const struct mpfs_pattern_config *cfg);
void mpfs_pattern_observe(struct mpfs_pattern *p, uint64_t off, size_t len,
                          struct mpfs_pattern_decision *out);

#endif
