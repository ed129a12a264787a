/*
 * conflict.c - see conflict.h.
 */
#include "consistency/conflict.h"

#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char *mpfs_conflict_path(const char *path, int64_t wall_ns, unsigned serial)
{
    char host[64] = "node";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    host[strcspn(host, "./")] = '\0';

    time_t t = (time_t)(wall_ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char suffix[128];
    snprintf(suffix, sizeof(suffix), ".mpfs-conflict-%s-%04d%02d%02dT%02d%02d%02dZ-%u",
             host, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, serial);

    const char *base = mpfs_path_base(path);
    size_t dirlen = (size_t)(base - path);
    size_t baselen = strlen(base);
    size_t room = 255 - strlen(suffix);
    if (baselen > room)
        baselen = room;
    return mpfs_xasprintf("%.*s%.*s%s", (int)dirlen, path, (int)baselen, base, suffix);
}
