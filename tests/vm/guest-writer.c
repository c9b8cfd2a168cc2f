/*
 * The timed part of the VM lab's guest workload (tests/vm/guest-workload.sh), compiled: the
 * same records, slots, pacing, read-backs and console lines as the shell version, without a
 * process per record. Under TCG those forks cost the guest most of its CPU (about 11 MB/s with
 * read-backs on a 2-core host); here the guest spends its CPU on the I/O itself, so guests
 * writing 30 and 50 MB/s are what the benchmark's rows say.
 *
 *   guest-writer DEV SLOTS RATE PREFILLED CHECK POOL
 *
 * RATE is MB/s (10^6 bytes), 0 for idle, "max" for as fast as it can. The workload ends when
 * /tmp/cmd exists (the init script's console reader puts the host's command there); then
 * every slot is verified and FINAL is printed, as guest-workload.sh documents.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REC (1L << 20)
#define HEADER 512
#define MULT 1000003L
#define POOL_SIZE (2L << 20)
#define PROG_EVERY_CS 25

static unsigned char *pool;
static long slots;
static long *last_id;
static long errors, written, readback;
static unsigned char *again; /* the expected record made a second time, after a mismatch */

/* Guest uptime in 1/100 s, the clock of /proc/uptime. */
static long now_cs(void)
{
    struct timespec t;
    clock_gettime(CLOCK_BOOTTIME, &t);
    return t.tv_sec * 100 + t.tv_nsec / 10000000;
}

static long slot_of(long id)
{
    return (id * MULT) % slots;
}

static void gen_rec(unsigned char *buf, long id, long slot)
{
    char line[HEADER + 1];
    int n = snprintf(line, sizeof line, "DLSM record %ld slot %ld offset %ld", id, slot, slot * REC);
    memset(line + n, ' ', HEADER - 1 - n);
    line[HEADER - 1] = '\n';
    memcpy(buf, line, HEADER);
    memcpy(buf + HEADER, pool + ((id * 7919) % 256) * 4096, REC - HEADER);
}

static int write_rec(int fd, unsigned char *buf, long id)
{
    long s = slot_of(id);
    gen_rec(buf, id, s);
    ssize_t n = pwrite(fd, buf, REC, s * REC);
    if (n != REC) {
        errors++;
        printf("IOERR write id=%ld slot=%ld: %s\n", id, s, n < 0 ? strerror(errno) : "short write");
        fflush(stdout);
        return -1;
    }
    last_id[s] = id;
    written++;
    return 0;
}

static int verify_slot(int fd, unsigned char *want, unsigned char *got, long s, long id)
{
    gen_rec(want, id, s);
    readback++;
    ssize_t n = pread(fd, got, REC, s * REC);
    if (n != REC || memcmp(want, got, REC) != 0) {
        /* Which 4 KiB pages differ: a stale page, a shifted range and a torn write look apart. */
        long first = -1, last = -1, pages = 0;
        for (long off = 0; n == REC && off < REC; off += 4096) {
            if (memcmp(want + off, got + off, 4096) != 0) {
                if (first < 0)
                    first = off;
                last = off;
                pages++;
            }
        }
        /* Which buffer is wrong: the expected record the CPU wrote (want, lost CPU stores) or the
         * one the disk read put in memory (got, lost DMA)? Made again, the record tells. */
        long want_bad = 0, got_bad = 0;
        gen_rec(again, id, s);
        for (long off = 0; n == REC && off < REC; off += 4096) {
            want_bad += memcmp(want + off, again + off, 4096) != 0;
            got_bad += memcmp(got + off, again + off, 4096) != 0;
        }
        errors++;
        printf("VERIFY FAIL slot=%ld id=%ld: %ld pages differ, first at %ld, last at %ld: %.60s %s"
               " (against the record made again: %ld pages of the expected buffer wrong, %ld of the read)\n", s, id,
               pages, first, last, n == REC ? (char *)got : "", n < 0 ? strerror(errno) : n != REC ? "short read" : "",
               want_bad, got_bad);
        fflush(stdout);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: guest-writer DEV SLOTS RATE PREFILLED CHECK POOL\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    slots = atol(argv[2]);
    int idle = strcmp(argv[3], "0") == 0, max = strcmp(argv[3], "max") == 0;
    long rate = max ? 0 : atol(argv[3]);
    int prefilled = atoi(argv[4]);
    long check = atol(argv[5]);
    int fd = open(argv[1], O_RDWR | O_DIRECT);
    int pfd = open(argv[6], O_RDONLY);
    unsigned char *buf, *want;
    last_id = calloc(slots, sizeof *last_id);
    pool = malloc(POOL_SIZE);
    again = malloc(REC);
    if (fd < 0 || pfd < 0 || slots <= 0 || !last_id || !pool || !again || read(pfd, pool, POOL_SIZE) != POOL_SIZE
            || posix_memalign((void **)&buf, 4096, REC) || posix_memalign((void **)&want, 4096, REC)) {
        printf("IOERR guest-writer cannot start: %s\n", strerror(errno));
        return 1;
    }
    long id = 0;
    if (prefilled) {
        for (; id < slots; id++)
            last_id[slot_of(id)] = id;
    } else {
        for (; id < slots; id++)
            write_rec(fd, buf, id);
    }
    long now = now_cs();
    printf("READY up=%ld id=%ld\n", now, id);
    written = readback = 0;
    long start = now, k = 0, next_prog = now + PROG_EVERY_CS;
    while (access("/tmp/cmd", F_OK) != 0) {
        now = now_cs();
        if (now >= next_prog) {
            printf("PROG up=%ld id=%ld w=%ld r=%ld err=%ld\n", now, id, written, readback, errors);
            next_prog += PROG_EVERY_CS;
            if (now >= next_prog)
                next_prog = now + PROG_EVERY_CS;
        }
        if (idle) {
            usleep(20000);
            continue;
        }
        if (!max) {
            long due = start + k * REC / (rate * 10000);
            if (now < due) {
                usleep((due - now) * 10000);
                continue;
            }
            /* More than a second behind (slow disk, a pause): restart the clock, no burst. */
            if (now - due > 100) {
                start = now;
                k = 0;
            }
        }
        write_rec(fd, buf, id);
        id++;
        k++;
        if (check > 0 && id % check == 0 && id >= slots + slots / 2) {
            long old = id - 1 - slots / 2;
            verify_slot(fd, want, buf, slot_of(old), old);
        }
    }
    char cmd[64] = "";
    FILE *c = fopen("/tmp/cmd", "r");
    if (c) {
        if (fgets(cmd, sizeof cmd, c))
            cmd[strcspn(cmd, "\n")] = 0;
        fclose(c);
    }
    printf("STOPPING cmd=%s up=%ld id=%ld w=%ld r=%ld err=%ld\n", cmd, now_cs(), id, written, readback, errors);
    long bad = 0;
    for (long s = 0; s < slots; s++)
        if (verify_slot(fd, want, buf, s, last_id[s]) != 0)
            bad++;
    if (bad == 0)
        printf("VERIFY ALL OK slots=%ld\n", slots);
    else
        printf("VERIFY ALL FAIL bad=%ld\n", bad);
    printf("FINAL last=%ld err=%ld\n", id - 1, errors);
    close(fd);
    sync();
    return 0;
}
