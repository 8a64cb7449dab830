/* What gathering a commit's WAL frames into one write would save (BENCHMARKS.md, next
 * steps): a commit of 34 frames written as SQLite writes them (each frame's 24-byte
 * header and 4096-byte page, two pwrite calls) against one pwrite of the same bytes,
 * into the page cache, 3000 times each.
 *   gcc -O2 bench/wal_writes.c -o /tmp/wal_writes && /tmp/wal_writes [DIR]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { FRAMES = 34, PAGE = 4096, HEADER = 24, FRAME = PAGE + HEADER, COMMITS = 3000 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  char path[4096];
  snprintf(path, sizeof path, "%s/wal_writes.tmp", argc > 1 ? argv[1] : ".");
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { perror(path); return 1; }
  char *buf = malloc(FRAMES * FRAME);
  memset(buf, 7, FRAMES * FRAME);
  double t0 = now();
  for (int c = 0; c < COMMITS; c++) {
    off_t at = 32 + (off_t)(c % 100) * FRAMES * FRAME;
    for (int i = 0; i < FRAMES; i++) {
      if (pwrite(fd, buf, HEADER, at + (off_t)i * FRAME) != HEADER) { perror("pwrite"); return 1; }
      if (pwrite(fd, buf + HEADER, PAGE, at + (off_t)i * FRAME + HEADER) != PAGE) { perror("pwrite"); return 1; }
    }
  }
  double t1 = now();
  for (int c = 0; c < COMMITS; c++) {
    off_t at = 32 + (off_t)(c % 100) * FRAMES * FRAME;
    if (pwrite(fd, buf, FRAMES * FRAME, at) != FRAMES * FRAME) { perror("pwrite"); return 1; }
  }
  double t2 = now();
  printf("per commit of %d frames: %d pwrites %.1f us, one pwrite %.1f us\n", FRAMES, 2 * FRAMES,
         (t1 - t0) / COMMITS * 1e6, (t2 - t1) / COMMITS * 1e6);
  close(fd);
  unlink(path);
  return 0;
}
