/*
 * rasize.h - how much readahead a sequential stream needs in flight: the
 * bandwidth-delay product of the stream, measured, not a constant.
 *
 * A stream that is never to wait on the store must have requested, ahead
 * of its read cursor, what it consumes while one request is outstanding:
 *
 *     in flight >= D x T(S)
 *
 * D is the stream's demand rate: the bytes it reads per second of its own
 * time, i.e. with the time its reads spent blocked on fetches taken out
 * (the rate it would read at if the store kept up; a stalled stream's
 * delivered rate would only measure the store).  T(S) is the service time
 * of one readahead request of S bytes: first-byte latency plus transfer,
 * measured from the fetch call to its return (queueing in the pool is not
 * counted, so a saturated pool does not feed back into a larger window).
 *
 * The window kept requested past the cursor is then
 *
 *     W = GAIN x D x T(S) + 2 S,   clamped to [2 blocks, max_window]
 *
 * GAIN (2) absorbs jitter in both measures; the 2 S are the request being
 * consumed and the one that must already be on its way.  W / S requests
 * are in flight at once per stream, so the number of fetches grows with
 * the latency and the rate, and the prefetch pool (reader.c) grows its
 * threads to match, up to prefetch_threads; the memory budget
 * (budget.h, the readahead share) bounds the sum over all streams.
 *
 * Both measures are exponentially weighted moving averages (weight 1/8 for
 * a new sample, as TCP's SRTT): they follow a change of the store's speed
 * within ~10 requests, and one slow request moves them by an eighth.
 * Until both have a sample, mpfs_ra_window() returns max_window: the
 * detector's doubling ramp (pattern.h) then decides alone, as before.
 *
 * Pure arithmetic, no locking: the owner serialises calls (reader.c: the
 * fetch estimate under the prefetcher lock, a demand estimate under its
 * reader's lock).
 */
#ifndef MPFS_CACHE_RASIZE_H
#define MPFS_CACHE_RASIZE_H

#include <stddef.h>
#include <stdint.h>

#define MPFS_RA_GAIN 2

/* Service time of readahead requests, per prefetcher. */
struct mpfs_ra_fetch {
    double ns;    /* EWMA of one request's duration, 0 = no sample yet */
    double bytes; /* EWMA of its size */
    uint64_t samples;
};

/* Demand rate of one reader. */
struct mpfs_ra_demand {
    int64_t last_ns;   /* arrival of the previous read, 0 = none yet */
    double cycle_ns;   /* EWMA of the unblocked time between reads */
    double bytes;      /* EWMA of the bytes per read */
    uint64_t samples;
};

/* A readahead request of `bytes` took `ns` (fetch call to return). */
void mpfs_ra_fetch_sample(struct mpfs_ra_fetch *f, uint64_t bytes, uint64_t ns);

/* A read of len bytes arrives at now_ns; blocked_ns is the time the
 * reader's reads spent waiting on fetches since the previous arrival. */
void mpfs_ra_demand_sample(struct mpfs_ra_demand *d, int64_t now_ns, uint64_t blocked_ns,
                           size_t len);

/* Bytes per second the reader would read if never blocked, 0 if unknown. */
double mpfs_ra_demand_rate(const struct mpfs_ra_demand *d);

/* Seconds one request of `request` bytes takes, 0 if unknown (scaled from
 * the measured average size: the latency part is counted as transfer,
 * which overestimates smaller requests: the safe side). */
double mpfs_ra_fetch_time(const struct mpfs_ra_fetch *f, size_t request);

/* The window W above for requests of `request` bytes, within
 * [2 * block, max_window]; max_window while either measure is missing. */
uint64_t mpfs_ra_window(const struct mpfs_ra_fetch *f, const struct mpfs_ra_demand *d,
                        size_t request, size_t block, uint64_t max_window);

#endif
