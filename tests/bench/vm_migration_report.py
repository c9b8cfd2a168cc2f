#!/usr/bin/python3
"""Table (Markdown) and plot (PNG) of tests/bench/vm-migration-bench.sh's results.

    vm_migration_report.py RESULTS.jsonl TABLE.md PLOT.png
"""
import json
import sys

MIB = 1 << 20
NAMES = {"dlsm": "DLSM", "mirror-background": "mirror (background)",
         "mirror-write-blocking": "mirror (write-blocking)",
         "shared": "shared storage (memory only; downtime baseline)"}


def fmt(v, spec="%.1f", none="—"):
    return none if v is None else spec % v


def rate_key(r):
    return int(r["rate_target"]) if str(r["rate_target"]).isdigit() else 999


def spread(vals, spec="%.1f"):
    """median (min–max) of the values that were measured."""
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return "—"
    med = vals[len(vals) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2
    if len(vals) == 1:
        return spec % med
    return "%s (%s–%s)" % (spec % med, spec % vals[0], spec % vals[-1])


def pause_table(runs, order):
    """Every run: how long the guest was paused and what storage did meanwhile, per cell."""
    out = ["| guest writes | method | runs | QEMU downtime ms | guest paused ms (source STOP to "
           "destination RESUME) | source drain + flush ms | storage busy in the pause ms | NBD "
           "requests in the pause, source / destination | DLSM: guest I/O proxied after its resume ms "
           "(until the sink is active) |",
           "|---|---|---|---|---|---|---|---|---|"]
    cells = {}
    for r in runs:
        if r.get("converged"):
            cells.setdefault((rate_key(r), order.index(r["method"])), []).append(r)
    for key in sorted(cells):
        rs = cells[key]
        src_n = sorted({r.get("src_nbd_requests_in_pause") for r in rs} - {None})
        dst_n = sorted({r.get("dst_nbd_requests_in_pause") for r in rs} - {None})
        out.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
            "idle" if key[0] == 0 else key[0], NAMES[order[key[1]]].split(" (memory")[0], len(rs),
            spread([r.get("downtime_ms") for r in rs], "%.0f"),
            spread([r.get("guest_paused_ms") for r in rs], "%.0f"),
            spread([r.get("src_drain_flush_ms") for r in rs]),
            spread([r.get("storage_busy_in_pause_ms") for r in rs]),
            "%s / %s" % (",".join(map(str, src_n)) or "—", ",".join(map(str, dst_n)) or "—"),
            spread([r.get("proxied_after_resume_ms") for r in rs], "%.0f")))
    return "\n".join(out) + "\n"


def goals_table(rows):
    """DLSM against each alternative, per guest write rate: the issue's goals as ratios."""
    by = {(rate_key(r), r["method"]): r for r in rows}
    out = ["| guest writes | DLSM total / mirror (background) | DLSM total / mirror (write-blocking) "
           "| storage busy in the pause ms (goal <= 5) | DLSM wire / data (goal <= 1.01) "
           "| guest during / before (goal >= 0.9) |",
           "|---|---|---|---|---|---|"]

    def ratio(d, m):
        if m is None or d is None or not d.get("converged"):
            return "—"
        if not m.get("converged"):
            return "%.1f s / never (> %.0f s)" % (d["total_s"], m.get("migration_window_s") or 0)
        x = d["total_s"] / m["total_s"]
        return "%.1f / %.1f s = %.2fx" % (d["total_s"], m["total_s"], x)

    for rate in sorted({k[0] for k in by}):
        d = by.get((rate, "dlsm"))
        if d is None:
            continue
        before, during = d.get("guest_mbps_before"), d.get("guest_mbps_during")
        wire = d.get("storage_wire_bytes")
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            "idle" if rate == 0 else rate,
            ratio(d, by.get((rate, "mirror-background"))),
            ratio(d, by.get((rate, "mirror-write-blocking"))),
            fmt(d.get("storage_busy_in_pause_ms")),
            "—" if wire is None else "%.2f" % (wire / (d["data_mib"] * MIB)),
            "%.2f" % (during / before) if before and during is not None and before > 0.5 else "—"))
    return "\n".join(out) + "\n"


def main(src, table_path, plot_path):
    runs = [json.loads(line) for line in open(src) if line.strip()]
    rows = [r for r in runs if r.get("run", 1) == 1]
    order = list(NAMES)
    rows.sort(key=lambda r: (rate_key(r), order.index(r["method"])))
    link = rows[0]["link_mbit"] if rows else "?"
    out = []
    qemus = sorted({r.get("qemu", "?") for r in runs})
    out.append("QEMU %s, accelerator %s, link %s Mbit/s\n" % (
        ", ".join(qemus), ", ".join(sorted({r.get("accel", "?") for r in runs})), link))
    out.append("| guest write target MB/s | method | guest MB/s before | guest MB/s during migration (x before) "
               "| guest MB/s until / after the move | VM on destination after s | downtime ms | total migration s | storage on the wire MiB "
               "(x data) | memory on the wire MiB | converged | data verified |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        data = r["data_mib"] * MIB
        wire = r.get("storage_wire_bytes")
        conv = r.get("converged")
        before, during = r.get("guest_mbps_before"), r.get("guest_mbps_during")
        ratio = " (%.2f)" % (during / before) if before and during is not None and before > 0.5 else ""
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            "idle" if str(r["rate_target"]) == "0" else r["rate_target"],
            NAMES.get(r["method"], r["method"]),
            fmt(before), fmt(during) + ratio,
            "%s / %s" % (fmt(r.get("guest_mbps_until_move")), fmt(r.get("guest_mbps_after_move"))),
            fmt(r.get("vm_on_destination_s")) if conv else "never",
            fmt(r.get("downtime_ms"), "%d") if conv else "—",
            fmt(r.get("total_s")) if conv else "> limit",
            "—" if wire is None else "%.0f (%.2fx)" % (wire / MIB, wire / data),
            fmt((r.get("ram_transferred") or 0) / MIB, "%.0f") if conv else "—",
            "yes" if conv else "**no**",
            "yes" if r.get("ok") else "**NO**" + (" (guest kernel BUG: its memory is corrupt)"
                                                   if r.get("guest_kernel_bug") else "")))
    text = "\n".join(out) + "\n"
    text += ("\nWhile the guest is paused (from QEMU's trace of its NBD client and its STOP/RESUME "
             "events; the mirror's source disk is a file, so only its pause is shown):\n\n")
    text += pause_table(runs, order)
    text += "\nDLSM against the alternatives (first run of each cell):\n\n" + goals_table(rows)
    open(table_path, "w").write(text)
    print(text)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"dlsm": ("o-", "tab:green"), "mirror-background": ("s-", "tab:red"),
              "mirror-write-blocking": ("^-", "tab:blue"), "shared": ("d--", "tab:gray")}
    for method in order:
        rs = [r for r in rows if r["method"] == method]
        if not rs:
            continue
        style, color = styles[method]
        # x: the write rate the guest actually reached before the migration (0 when idle)
        xs = [r.get("guest_mbps_before") or 0.0 if str(r["rate_target"]) != "0" else 0.0 for r in rs]
        ts = [r["total_s"] if r.get("converged") else None for r in rs]
        vs = [r["vm_on_destination_s"] if r.get("converged") else None for r in rs]
        ws = [(r.get("storage_wire_bytes") or 0) / MIB for r in rs]
        ax1.plot([x for x, t in zip(xs, ts) if t is not None], [t for t in ts if t is not None],
                 style, color=color, label=NAMES[method] + ": total")
        if method == "dlsm":
            ax1.plot([x for x, v in zip(xs, vs) if v is not None], [v for v in vs if v is not None],
                     "o--", color=color, alpha=0.6, label="DLSM: VM on destination")
        for x, r in zip(xs, rs):
            if not r.get("converged"):
                ax1.plot([x], [r.get("migration_window_s") or 0], "x", color=color, markersize=12,
                         mew=3)
        ax2.plot(xs, ws, style, color=color, label=NAMES[method])
    ax1.set_xlabel("guest write rate reached before migration (MB/s)")
    ax1.set_ylabel("seconds")
    ax1.set_title("migration time (x = did not converge, at the limit)")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.set_xlabel("guest write rate reached before migration (MB/s)")
    ax2.set_ylabel("MiB")
    ax2.set_title("storage bytes on the wire (data: %d MiB)" % (rows[0]["data_mib"] if rows else 0))
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle("VM live migration with its disk, QEMU TCG guest, %s Mbit/s link" % link)
    fig.tight_layout()
    fig.savefig(plot_path, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:4])
