/*
 * rasize.c - readahead window from the measured bandwidth-delay product
 * (see rasize.h for the model).  Pure arithmetic.
 */
#include "cache/rasize.h"

#include "base/util.h"

/* new = old + (sample - old) / 8 */
static double ewma(double old, double sample, uint64_t samples)
{
    return samples == 0 ? sample : old + (sample - old) / 8.0;
}

void mpfs_ra_fetch_sample(struct mpfs_ra_fetch *f, uint64_t bytes, uint64_t ns)
{
    if (bytes == 0) {
        return;
    }
    f->ns = ewma(f->ns, (double)(ns ? ns : 1), f->samples);
    f->bytes = ewma(f->bytes, (double)bytes, f->samples);
    f->samples++;
}

/* A gap this long between two reads is the application pausing (between
 * epochs, files, phases), not its reading rate: restart the estimate. */
#define IDLE_NS 2000000000ll

void mpfs_ra_demand_sample(struct mpfs_ra_demand *d, int64_t now_ns, uint64_t blocked_ns,
                           size_t len)
{
    int64_t last = d->last_ns;
    if (last != 0 && now_ns <= last) {
        return; /* reads of one handle from several threads, stamped out of order */
    }
    d->last_ns = now_ns;
    if (last == 0 || now_ns - last > IDLE_NS) {
        return;
    }
    uint64_t gap = (uint64_t)(now_ns - last);
    /* reads from several threads of one handle overlap: their blocked
     * time can exceed the gap; the reader then spent nothing of its own */
    uint64_t own = gap > blocked_ns ? gap - blocked_ns : 1;
    d->cycle_ns = ewma(d->cycle_ns, (double)own, d->samples);
    d->bytes = ewma(d->bytes, (double)len, d->samples);
    d->samples++;
}

double mpfs_ra_demand_rate(const struct mpfs_ra_demand *d)
{
    if (d->samples == 0 || d->cycle_ns <= 0) {
        return 0;
    }
    return d->bytes / d->cycle_ns * 1e9;
}

double mpfs_ra_fetch_time(const struct mpfs_ra_fetch *f, size_t request)
{
    if (f->samples == 0 || f->bytes <= 0) {
        return 0;
    }
    return f->ns / 1e9 * ((double)request / f->bytes);
}

uint64_t mpfs_ra_window(const struct mpfs_ra_fetch *f, const struct mpfs_ra_demand *d,
                        size_t request, size_t block, uint64_t max_window)
{
    uint64_t lo = MPFS_MIN(2 * (uint64_t)block, max_window);
    double rate = mpfs_ra_demand_rate(d);
    double t = mpfs_ra_fetch_time(f, request);
    if (rate <= 0 || t <= 0) {
        return max_window;
    }
    double w = MPFS_RA_GAIN * rate * t + 2.0 * (double)request;
    if (w >= (double)max_window) {
        return max_window;
    }
    return MPFS_MAX(lo, (uint64_t)w);
}
