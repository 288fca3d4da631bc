#!/usr/bin/python3
"""Times whole commands, each run as its own process on a fresh copy of a root tree, A and B in
turns: wall time from start to exit, and peak memory as GNU time reports it (its %M: the
command's own maximum resident set; a child forked from this Python process would carry
Python's pages into its maximum until exec).

    guest_bench.py RUNS TEMPLATE_ROOT LABEL_A "CMD_A" LABEL_B "CMD_B" [NETNS]

Each CMD is split on spaces; the string ROOT in it is replaced by the run's root. With NETNS,
this process first enters that network namespace (setns) and, in a mount namespace of its own,
puts /etc/netns/NETNS/resolv.conf over /etc/resolv.conf as `ip netns exec` would; both commands
then start there as in the other case, without a per-run `ip netns exec` in their times. Prints one line per command (median and p90 wall ms, median peak RSS MiB) and the
ratio of medians B / A. A run that exits non-zero stops the bench with its output."""
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(cmd, template):
    root = tempfile.mkdtemp(prefix='guest-bench-root-')
    shutil.copytree(template, root, dirs_exist_ok=True, symlinks=True)
    rss_file = root + '.rss'
    argv = ['/usr/bin/time', '-f', '%M', '-o', rss_file] + \
        [a.replace('ROOT', root) for a in cmd.split()]
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            out.seek(0)
            sys.exit('%s -> exit %d:\n%s' % (' '.join(argv), proc.returncode,
                                             out.read().decode(errors='replace')))
    with open(rss_file) as f:
        rss_kib = int(f.read().split()[-1])
    os.unlink(rss_file)
    shutil.rmtree(root)
    return wall * 1000, rss_kib / 1024


def enter(netns):
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet, clone_newns, ms_rec, ms_private, ms_bind = 0x40000000, 0x20000, 0x4000, 1 << 18, 0x1000
    fd = os.open('/run/netns/' + netns, os.O_RDONLY)
    if libc.setns(fd, clone_newnet) != 0 or libc.unshare(clone_newns) != 0 or \
            libc.mount(b'none', b'/', None, ms_rec | ms_private, None) != 0:
        sys.exit('entering %s: %s' % (netns, os.strerror(ctypes.get_errno())))
    os.close(fd)
    resolv = '/etc/netns/%s/resolv.conf' % netns
    if os.path.exists(resolv) and \
            libc.mount(resolv.encode(), b'/etc/resolv.conf', None, ms_bind, None) != 0:
        sys.exit('%s: %s' % (resolv, os.strerror(ctypes.get_errno())))


def main():
    runs, template, label_a, cmd_a, label_b, cmd_b = sys.argv[1:7]
    netns = sys.argv[7] if len(sys.argv) > 7 else None
    if netns:
        enter(netns)
    results = {label_a: [], label_b: []}
    for _ in range(int(runs)):
        for label, cmd in ((label_a, cmd_a), (label_b, cmd_b)):
            results[label].append(run_once(cmd, template))
    medians = {}
    for label, samples in results.items():
        walls = sorted(s[0] for s in samples)
        medians[label] = statistics.median(walls)
        p90 = walls[min(len(walls) - 1, int(len(walls) * 0.9))]
        rss = statistics.median(s[1] for s in samples)
        print('  %-34s median %8.1f ms  p90 %8.1f ms  peak RSS %6.1f MiB' %
              (label, medians[label], p90, rss))
    print('  ratio (%s / %s): %.1fx' % (label_b, label_a, medians[label_b] / medians[label_a]))


if __name__ == '__main__':
    main()
