#!/usr/bin/python3
"""Helper for nbd-server-bench.sh (stdlib only, run with /usr/bin/python3).

Sub-commands:
  parse FIO_JSON DIR        print "<bytes_per_second> <iops>" for direction DIR
                            (read|write) of the single job in a fio JSON output.
  table RESULTS NAME_A NAME_B
                            read the TSV of raw samples written by the bash
                            script and print the comparison table (medians,
                            ratios, targets, PASS/MISS) plus the raw samples.

The table never decides the exit code: a MISS is information, not a failure.
"""
import json
import statistics
import sys

# workload id -> (label, primary metric, target ratio A/B)
# Sequential targets are on MB/s, random on IOPS (same thing at a fixed
# block size, but IOPS is the number people quote for 4 KiB random).
WORKLOADS = [
    ("seqread", "seq read 1 MiB", "MB/s", 1.0),
    ("seqwrite", "seq write 1 MiB", "MB/s", 1.0),
    ("randread", "rand read 4 KiB QD16", "IOPS", 0.9),
]


def parse(path, direction):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # fio may print engine warnings before the JSON document; skip them.
    start = text.find("{")
    if start < 0:
        sys.exit(f"no JSON in fio output {path}")
    doc = json.loads(text[start:])
    job = doc["jobs"][0]
    if job.get("error"):
        sys.exit(f"fio job error {job['error']} in {path}")
    d = job[direction]
    if d["io_bytes"] <= 0:
        sys.exit(f"fio moved no data in {path}")
    print(f"{d['bw_bytes']:.0f} {d['iops']:.1f}")


def table(results, name_a, name_b):
    # samples[(workload, role)] = [(round, bytes_per_s, iops, cpu%), ...]; role is
    # "A" or "B" so a same-server sanity run (A == B) stays two columns.
    samples = {}
    with open(results, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            role, workload, rnd, bw, iops, cpu = line.split("\t")
            samples.setdefault((workload, role), []).append(
                (int(rnd), float(bw), float(iops), float(cpu)))

    def med(workload, server):
        s = samples.get((workload, server), [])
        if not s:
            return None, None, None
        return (statistics.median(x[1] for x in s) / 1e6,
                statistics.median(x[2] for x in s),
                statistics.median(x[3] for x in s))

    header = ["workload",
              f"{name_a} MB/s", f"{name_a} IOPS",
              f"{name_b} MB/s", f"{name_b} IOPS",
              "ratio", "target", "result",
              f"{name_a} CPU%", f"{name_b} CPU%"]
    rows = []
    for wid, label, metric, target in WORKLOADS:
        a_mb, a_iops, a_cpu = med(wid, "A")
        b_mb, b_iops, b_cpu = med(wid, "B")
        if a_mb is None or b_mb is None:
            rows.append([label, "-", "-", "-", "-", "-", f">= {target:.1f}x",
                         "N/A", "-", "-"])
            continue
        a, b = (a_mb, b_mb) if metric == "MB/s" else (a_iops, b_iops)
        ratio = a / b if b > 0 else float("inf")
        rows.append([label,
                     f"{a_mb:.1f}", f"{a_iops:.0f}",
                     f"{b_mb:.1f}", f"{b_iops:.0f}",
                     f"{ratio:.2f}x ({metric})", f">= {target:.1f}x",
                     "PASS" if ratio >= target else "MISS",
                     f"{a_cpu:.0f}", f"{b_cpu:.0f}"])

    widths = [max(len(r[i]) for r in [header] + rows)
              for i in range(len(header))]

    def fmt(r):
        # First column left-aligned (text), numbers right-aligned.
        cells = [r[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        return "  ".join(cells).rstrip()

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))
    print()
    print(f"medians over rounds; ratio = {name_a} / {name_b}; "
          "MB/s = 10^6 bytes/s;")
    print("CPU% = server process CPU time / wall time during the fio run "
          "(100 = one full core; fio shares the same cores)")
    print()
    print("raw samples (round: MB/s / IOPS / server CPU%):")
    for wid, label, _, _ in WORKLOADS:
        for role, server in (("A", name_a), ("B", name_b)):
            s = sorted(samples.get((wid, role), []))
            vals = ", ".join(f"r{r}: {bw / 1e6:.1f} / {io:.0f} / {c:.0f}"
                             for r, bw, io, c in s)
            print(f"  {label:<22} {server:<10} {vals}")


def main(argv):
    if len(argv) == 4 and argv[1] == "parse":
        parse(argv[2], argv[3])
    elif len(argv) == 5 and argv[1] == "table":
        table(argv[2], argv[3], argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
