#!/usr/bin/env python3
"""Which B-trees a SQLite workload writes: reads the frames of a WAL file, maps each
frame's page to its table or index with `dbstat`, and prints pages per commit.

    python3 bench/wal_pages.py DB DB-wal [COMMITS]

Copy DB and DB-wal while the server is stopped by SIGKILL under load (so that the WAL is
not checkpointed away); COMMITS (default 200) is how many of the last commits to count.
"""
import collections
import sqlite3
import struct
import sys


def main():
    db, wal_path = sys.argv[1], sys.argv[2]
    last = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    wal = open(wal_path, "rb").read()
    _magic, _version, page_size, _seq, salt1, salt2, _c1, _c2 = struct.unpack(">IIIIIIII", wal[:32])
    commits, current, off = [], [], 32
    while off + 24 + page_size <= len(wal):
        page, db_size, s1, s2, _k1, _k2 = struct.unpack(">IIIIII", wal[off : off + 24])
        if (s1, s2) != (salt1, salt2):
            break
        current.append(page)
        if db_size:
            commits.append(current)
            current = []
        off += 24 + page_size
    names = {page: name for name, page in sqlite3.connect(db).execute("SELECT name, pageno FROM dbstat")}
    counted = commits[-last:]
    per = collections.Counter(names.get(p, "(new page)") for c in counted for p in c)
    print(f"page size {page_size}, {len(commits)} commits in the WAL, the last {len(counted)} counted")
    for name, n in per.most_common():
        print(f"{name:32s} {n / max(len(counted), 1):7.1f} pages per commit")


if __name__ == "__main__":
    main()
