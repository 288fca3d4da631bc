#!/usr/bin/python3
"""Who held the core while the API's connection threads waited for it.

    perf sched record -o sched.data -- sleep N      (during a wrk run)
    perf sched timehist -i sched.data > timehist.txt
    sched_blame.py timehist.txt TID [TID...]

For every time a given thread was switched in, its scheduling delay (runnable, not running:
the time a request it holds waits for a core) and which tasks ran on that core meanwhile,
summed by kind: the server itself, wrk, a compiler (other people's builds), anything else.
Prints the delay percentiles, the blame for all waits and for waits over 0.5 ms, and the
run-time percentiles of each kind (how long one of them keeps a core once it has it).
"""
import bisect
import collections
import re
import sys


def kind(task, tids):
    m = re.search(r'\[(\d+)(?:/\d+)?\]', task)
    if m and m.group(1) in tids:
        return 'server'
    name = task.split('[')[0]
    if name.startswith('wrk'):
        return 'wrk'
    if name in ('cc1plus', 'c++', 'g++', 'ld', 'as', 'ninja', 'cmake', 'ld.gold', 'collect2'):
        return 'build'
    return 'other'


def main():
    path, tids = sys.argv[1], set(sys.argv[2:])
    line_re = re.compile(r'\s*([\d.]+)\s+\[(\d+)\]\s+(.+?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$')
    rows = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = line_re.match(line)
            if m:
                rows.append((float(m[1]), int(m[2]), kind(m[3].strip(), tids), float(m[5]),
                             float(m[6])))
    runs = collections.defaultdict(list)  # cpu -> [(start, end, kind)], in end order
    for end, cpu, k, _, run_ms in rows:
        runs[cpu].append((end - run_ms / 1000, end, k))
    ends = {cpu: [r[1] for r in v] for cpu, v in runs.items()}
    delays = []
    blame, blame_long = collections.Counter(), collections.Counter()
    for end, cpu, k, delay_ms, run_ms in rows:
        if k != 'server':
            continue
        delays.append(delay_ms)
        start = end - run_ms / 1000
        woke = start - delay_ms / 1000
        i = bisect.bisect_left(ends[cpu], woke)
        while i < len(runs[cpu]) and runs[cpu][i][0] < start:
            a, b, other = runs[cpu][i]
            overlap = min(b, start) - max(a, woke)
            if overlap > 0:
                blame[other] += overlap
                if delay_ms > 0.5:
                    blame_long[other] += overlap
            i += 1
    if not delays:
        sys.exit('sched_blame: no switch-ins of the given threads')
    delays.sort()

    def pct(v, p):
        return v[min(len(v) - 1, int(len(v) * p))]

    print(f'   connection threads switched in {len(delays)} times; scheduling delay p50 '
          f'{pct(delays, .5):.3f}, p99 {pct(delays, .99):.3f}, max {delays[-1]:.3f} ms')
    for label, counter in (('all waits', blame), ('waits over 0.5 ms', blame_long)):
        total = sum(counter.values()) or 1
        parts = ', '.join(f'{k} {v * 1000:.0f} ms ({v / total:.0%})'
                          for k, v in counter.most_common())
        print(f'   core held during {label}: {parts}')
    by_kind = collections.defaultdict(list)
    for _, _, k, _, run_ms in rows:
        by_kind[k].append(run_ms)
    for k in ('server', 'wrk', 'build', 'other'):
        v = sorted(by_kind.get(k, []))
        if v:
            print(f'   {k:6s} ran {len(v)} times: run time p50 {pct(v, .5):.3f}, p99 '
                  f'{pct(v, .99):.3f}, max {v[-1]:.3f} ms; {sum(v) / 1000:.2f} s in all')


if __name__ == '__main__':
    main()
