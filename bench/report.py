#!/usr/bin/env python3
"""report.py - turn the BENCH lines of tools/bench.sh's VM runs into CSV,
a Markdown summary (with the issue's targets checked) and gnuplot PNGs.

Usage:
  report.py --out DIR KVER=FILE [KVER=FILE ...]
      FILE holds the BENCH*, lines one boot printed (tools/bench-guest.sh).
      Writes DIR/raw-KVER.csv, DIR/summary.csv, DIR/README.md and
      DIR/table2-KVER.png, DIR/idle-KVER.png; prints the Markdown.
  report.py --short KVER=FILE
      Scenario 1 only, as the paper's Table 2 (stdout only).

Every time here comes from an emulated CPU (QEMU TCG): absolute values mean
little; ratios between mechanisms measured in the same boot are what carry
over.  Ratios are taken per repetition (the mechanisms of one repetition ran
back to back) and summarised by their median and range.
"""
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

PAPER = {  # Lemon 2001, Table 2: microseconds per call, all ready
    100: (48, 51), 500: (251, 250), 800: (401, 260), 1000: (527, 278),
}
T2_MECHS = ["select", "poll", "epoll", "epoll-et", "kqueue", "kqueue-clear"]
IDLE_MECHS = ["select", "poll", "epoll", "kqueue"]
REARM_MECHS = ["kqueue-oneshot", "kqueue-dispatch", "epoll-oneshot"]
REG_MECHS = ["kqueue", "kqueue-1each", "epoll"]


def load(path):
    rows, calls, info = [], {}, {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            i = line.find("BENCH")
            if i < 0:
                continue
            parts = line[i:].split(",")
            if parts[0] == "BENCH" and len(parts) == 8:
                try:
                    rows.append((parts[1], parts[2], int(parts[3]),
                                 int(parts[4]), int(parts[5]),
                                 float(parts[6]), parts[7]))
                except ValueError:
                    pass        # a line cut by a kernel message
            elif parts[0] == "BENCHCALLS" and len(parts) == 5:
                calls[(parts[1], int(parts[2]))] = (int(parts[3]),
                                                    int(parts[4]))
            elif parts[0] == "BENCHINFO" and len(parts) >= 3:
                info.setdefault(parts[1], []).append(",".join(parts[2:]))
    return rows, calls, info


def load_prof(path):
    """{(case, N): instructions per event} from a profile-KVER.csv."""
    prof = {}
    try:
        with open(path) as f:
            for row in csv.DictReader(f):
                prof[(row["case"], int(row["N"]))] = (
                    float(row["insns_per_call"]) / int(row["events"]),
                    float(row["kqueue_ko"]) / int(row["events"]))
    except OSError:
        pass
    return prof


def pratio(prof, a, b, n):
    if (a, n) in prof and (b, n) in prof and prof[(b, n)][0] > 0:
        return prof[(a, n)][0] / prof[(b, n)][0]
    return None


class Data:
    def __init__(self, rows):
        # (scenario, mech, N, k) -> {rep: value}
        self.v = defaultdict(dict)
        self.unit = {}
        for sc, m, n, k, rep, val, unit in rows:
            self.v[(sc, m, n, k)][rep] = val
            self.unit[sc] = unit

    def has(self, sc, m, n, k=0):
        return bool(self.v.get((sc, m, n, k)))

    def stats(self, sc, m, n, k=0):
        vals = list(self.v.get((sc, m, n, k), {}).values())
        if not vals:
            return None
        return statistics.median(vals), min(vals), max(vals), len(vals)

    def ratio(self, sc, a, b, n, k=0, sc_b=None):
        """a/b per repetition: (median, min, max) or None."""
        va = self.v.get((sc, a, n, k), {})
        vb = self.v.get((sc_b or sc, b, n, k), {})
        rs = [va[r] / vb[r] for r in va if r in vb and vb[r] > 0]
        if not rs:
            return None
        return statistics.median(rs), min(rs), max(rs)

    def ns(self, sc, k=None):
        return sorted({n for (s, m, n, kk) in self.v
                       if s == sc and (k is None or kk == k)})

    def ks(self, sc):
        return sorted({kk for (s, m, n, kk) in self.v if s == sc})


def fmt(x, digits=None):
    if x is None:
        return "–"
    if digits is None:
        digits = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
    return f"{x:,.{digits}f}"


def cell(st, digits=None):
    if not st:
        return "–"
    med, lo, hi = st[0], st[1], st[2]
    return f"{fmt(med, digits)} ({fmt(lo, digits)}–{fmt(hi, digits)})"


def rcell(r):
    if not r:
        return "–"
    return f"**{r[0]:.2f}** ({r[1]:.2f}–{r[2]:.2f})"


def verdict(ok):
    if ok is None:
        return "not measured"
    return "met" if ok else "**missed**"


# ----------------------------------------------------------------- tables

def table2_md(d, calls, out, rearm=True):
    ns = d.ns("table2")
    if not ns:
        return
    out.append("Mean µs per wait call (median over repetitions, range in "
               "brackets); every call returns all N events.  Edge modes "
               "(epoll-et, kqueue-clear): the wait call only; one byte is "
               "written to every pipe before each call, untimed.")
    out.append("")
    hdr = ["N", "calls"] + T2_MECHS + ["kqueue/poll", "kqueue/epoll",
                                       "kqueue-clear/epoll-et"]
    out.append("| " + " | ".join(hdr) + " |")
    out.append("|" + "---|" * len(hdr))
    for n in ns:
        c = calls.get(("table2", n))
        row = [f"{n:,}", f"{c[0]} ({c[1]})" if c else "–"]
        row += [cell(d.stats("table2", m, n)) for m in T2_MECHS]
        row += [rcell(d.ratio("table2", "kqueue", "poll", n)),
                rcell(d.ratio("table2", "kqueue", "epoll", n)),
                rcell(d.ratio("table2", "kqueue-clear", "epoll-et", n))]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("(calls: timed calls per trial, edge modes in brackets; "
               "fewer at large N to bound the run time.)")
    out.append("")
    if rearm and d.ns("table2-rearm"):
        out.append("Edge modes with the re-trigger included: µs per "
                   "(N one-byte writes + the wait call); the writes run "
                   "the wake-up callbacks (ep_poll_callback / "
                   "kn_activate).")
        out.append("")
        hdr = ["N", "epoll-et", "kqueue-clear", "kqueue-clear/epoll-et"]
        out.append("| " + " | ".join(hdr) + " |")
        out.append("|" + "---|" * len(hdr))
        for n in d.ns("table2-rearm"):
            out.append("| " + " | ".join([
                f"{n:,}",
                cell(d.stats("table2-rearm", "epoll-et", n)),
                cell(d.stats("table2-rearm", "kqueue-clear", n)),
                rcell(d.ratio("table2-rearm", "kqueue-clear", "epoll-et",
                              n))]) + " |")
        out.append("")


def paper_md(d, out):
    out.append("| N | paper poll | paper kqueue | paper kqueue/poll | poll |"
               " epoll | kqueue | kqueue/poll | kqueue/epoll |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for n in d.ns("table2"):
        p = PAPER.get(n)
        row = [f"{n:,}"]
        row += ([f"{p[0]}", f"{p[1]}", f"{p[1] / p[0]:.2f}"] if p
                else ["–", "–", "–"])
        for m in ("poll", "epoll", "kqueue"):
            st = d.stats("table2", m, n)
            row.append(fmt(st[0]) if st else "–")
        for b in ("poll", "epoll"):
            r = d.ratio("table2", "kqueue", b, n)
            row.append(f"{r[0]:.2f} ({r[1]:.2f}–{r[2]:.2f})" if r else "–")
        out.append("| " + " | ".join(row) + " |")


def idle_md(d, calls, out):
    if not d.ns("idle"):
        return
    out.append("Mean µs per wait call returning k events, N registered "
               "(median, range).  Growth: the mechanism's time at N over "
               "its time on a second instance holding 100 pipes (k of "
               "them ready), timed back to back in each repetition.")
    out.append("")
    hdr = ["k", "N", "calls (select/poll)"] + IDLE_MECHS + [
        "kqueue/epoll", "kqueue/poll", "growth, kqueue", "growth, epoll"]
    out.append("| " + " | ".join(hdr) + " |")
    out.append("|" + "---|" * len(hdr))
    for k in d.ks("idle"):
        ns = d.ns("idle", k)
        for n in ns:
            c = calls.get(("idle", n))
            row = [str(k), f"{n:,}", str(c[0]) if c else "–"]
            row += [cell(d.stats("idle", m, n, k)) for m in IDLE_MECHS]
            row += [rcell(d.ratio("idle", "kqueue", "epoll", n, k)),
                    rcell(d.ratio("idle", "kqueue", "poll", n, k))]
            for m in ("kqueue", "epoll"):
                row.append(rcell(d.ratio("idle", m, m + "@100", n, k)))
            out.append("| " + " | ".join(row) + " |")
    out.append("")


def churn_md(d, out):
    if d.ns("churn-rearm"):
        out.append("(a) One-shot re-arm loop: µs per event, B events per "
                   "cycle, all B re-armed every cycle (kqueue: one "
                   "kevent() call per cycle; epoll: epoll_wait + B "
                   "epoll_ctl(MOD)).  Speed-up = epoll time / kqueue time.")
        out.append("")
        hdr = ["B"] + REARM_MECHS + ["speed-up, dispatch",
                                     "speed-up, oneshot"]
        out.append("| " + " | ".join(hdr) + " |")
        out.append("|" + "---|" * len(hdr))
        for b in d.ns("churn-rearm"):
            row = [str(b)]
            row += [cell(d.stats("churn-rearm", m, b, b)) for m in REARM_MECHS]
            row += [rcell(d.ratio("churn-rearm", "epoll-oneshot",
                                  "kqueue-dispatch", b, b)),
                    rcell(d.ratio("churn-rearm", "epoll-oneshot",
                                  "kqueue-oneshot", b, b))]
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    for sc, what in (("churn-register", "registering"),
                     ("churn-delete", "deleting")):
        if not d.ns(sc):
            continue
        out.append(f"(b) {what.capitalize()} N idle pipes: µs per "
                   "descriptor (kqueue: one kevent() with N changes; "
                   "kqueue-1each: N kevent() calls; epoll: N epoll_ctl()). "
                   "Speed-up = epoll / kqueue.")
        out.append("")
        hdr = ["N"] + REG_MECHS + ["speed-up", "speed-up, 1each"]
        out.append("| " + " | ".join(hdr) + " |")
        out.append("|" + "---|" * len(hdr))
        for n in d.ns(sc):
            row = [f"{n:,}"]
            row += [cell(d.stats(sc, m, n)) for m in REG_MECHS]
            row += [rcell(d.ratio(sc, "epoll", "kqueue", n)),
                    rcell(d.ratio(sc, "epoll", "kqueue-1each", n))]
            out.append("| " + " | ".join(row) + " |")
        out.append("")


def memory_md(d, out):
    ns = d.ns("memory-slab")
    if not ns:
        return
    n = ns[0]
    out.append(f"Kernel memory per registered descriptor, N = {n:,} "
               "(bytes; median, range).  Slab is /proc/meminfo's Slab "
               "delta (it includes a kqueue's hash table, a large "
               "kmalloc); objects is the growth of allocated slab objects "
               "in /proc/slabinfo.  \"pipe\" is one pipe's own cost, for "
               "scale (not part of the others).")
    out.append("")
    out.append("| mechanism | Slab | SUnreclaim | slab objects | "
               "Slab vs epoll |")
    out.append("|---|---|---|---|---|")
    for m in ("epoll", "kqueue", "pipe"):
        row = [m] + [cell(d.stats(sc, m, n), 0) for sc in
                     ("memory-slab", "memory-sunreclaim", "memory-objects")]
        row.append(rcell(d.ratio("memory-slab", m, "epoll", n)))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    parts = []
    for m in ("epoll", "kqueue"):
        items = []
        for (sc, mm, nn, k) in sorted(d.v):
            if sc != "memory-cache" or nn != n or not mm.startswith(m + ":"):
                continue
            st = d.stats(sc, mm, nn, k)
            if st[3] * 2 > d.stats("memory-slab", m, n)[3] and st[0] >= 4:
                items.append(f"{mm.split(':', 1)[1]} {st[0]:.0f}")
        parts.append(f"{m}: " + ", ".join(items))
    out.append("Slab caches that grew (cache/object size: bytes per "
               "descriptor; merged caches carry another cache's name): "
               + "; ".join(parts) + ".")
    out.append("")


PROF_ROWS = [
    ("All ready, N = 1,000, level", 1000,
     ["t2-poll", "t2-epoll", "t2-kqueue"], [("t2-kqueue", "t2-epoll"),
                                          ("t2-kqueue", "t2-poll")]),
    ("All ready, N = 1,000, edge", 1000,
     ["t2-epoll-et", "t2-kqueue-clear", "t2-kqueue-clear-noring"],
     [("t2-kqueue-clear", "t2-epoll-et"),
      ("t2-kqueue-clear-noring", "t2-epoll-et")]),
    ("All ready, N = 100, level", 100, ["t2-epoll", "t2-kqueue"],
     [("t2-kqueue", "t2-epoll")]),
    ("10 ready of 10,000", 10000, ["idle-epoll", "idle-kqueue",
                                   "idle-kqueue-noring"],
     [("idle-kqueue", "idle-epoll"), ("idle-kqueue-noring", "idle-epoll")]),
    ("Re-arm loop, B = 1", 1, ["rearm-epoll", "rearm-kqueue-dispatch",
                               "rearm-kqueue-dispatch-noring",
                               "rearm-kqueue-oneshot"],
     [("rearm-epoll", "rearm-kqueue-dispatch"),
      ("rearm-epoll", "rearm-kqueue-dispatch-noring"),
      ("rearm-epoll", "rearm-kqueue-oneshot")]),
    ("Re-arm loop, B = 100", 100, ["rearm-epoll", "rearm-kqueue-dispatch",
                                   "rearm-kqueue-oneshot"],
     [("rearm-epoll", "rearm-kqueue-dispatch"),
      ("rearm-epoll", "rearm-kqueue-oneshot")]),
    ("Registering 1,000", 1000, ["reg-epoll", "reg-kqueue"],
     [("reg-epoll", "reg-kqueue")]),
]


def prof_md(prof, kver, out):
    if not prof:
        return
    out.append("Guest instructions per event (per descriptor for "
               "registering), counted by the tbprof QEMU plugin over the "
               "same kind of calls (tools/bench-profile.sh; functions in "
               f"[profile-{kver}.md](profile-{kver}.md)).  Unlike the times "
               "these do not depend on the host's load; they do not weigh "
               "cache misses or atomics either.")
    out.append("")
    out.append("| case | instructions per event (kqueue.ko's share) | "
               "ratios |")
    out.append("|---|---|---|")
    for title, n, cases, pairs in PROF_ROWS:
        vals = []
        for c in cases:
            if (c, n) in prof:
                v, mod = prof[(c, n)]
                name = c.split("-", 1)[1]
                vals.append(f"{name} {v:,.0f}" +
                            (f" ({mod:,.0f})" if mod else ""))
        rats = []
        for a, b in pairs:
            x = pratio(prof, a, b, n)
            if x:
                rats.append(f"{a.split('-', 1)[1]}/{b.split('-', 1)[1]} "
                            f"{x:.2f}")
        if vals:
            out.append(f"| {title} | {', '.join(vals)} | "
                       f"{', '.join(rats)} |")
    out.append("")


# ---------------------------------------------------------------- targets

def ins(prof, a, b, n):
    x = pratio(prof, a, b, n)
    return f"; instructions: {x:.2f}" if x else ""


def targets(d, prof):
    """[(target, value text, ok)]"""
    res = []
    r = d.ratio("table2", "kqueue", "poll", 1000)
    res.append(("All ready, N = 1,000: kqueue ≤ 0.5 × poll",
                f"kqueue/poll = {r[0]:.2f} ({r[1]:.2f}–{r[2]:.2f})"
                + ins(prof, "t2-kqueue", "t2-poll", 1000)
                if r else "–", r[0] <= 0.5 if r else None))
    r = d.ratio("table2", "kqueue", "epoll", 1000)
    res.append(("All ready, N = 1,000: kqueue ≤ 1.1 × epoll",
                f"kqueue/epoll = {r[0]:.2f} ({r[1]:.2f}–{r[2]:.2f})"
                + ins(prof, "t2-kqueue", "t2-epoll", 1000)
                if r else "–", r[0] <= 1.1 if r else None))
    r = d.ratio("table2", "kqueue-clear", "epoll-et", 1000)
    res.append(("(same, edge-triggered: kqueue EV_CLEAR ≤ 1.1 × epoll ET)",
                f"kqueue-clear/epoll-et = {r[0]:.2f} "
                f"({r[1]:.2f}–{r[2]:.2f})"
                + ins(prof, "t2-kqueue-clear", "t2-epoll-et", 1000)
                if r else "–", r[0] <= 1.1 if r else None))
    r = d.ratio("idle", "kqueue", "kqueue@100", 100000, 10)
    res.append(("Idle, k = 10: kqueue at N = 100,000 ≤ 1.2 × at N = 100",
                f"kqueue(100,000)/kqueue(100) = {r[0]:.2f} "
                f"({r[1]:.2f}–{r[2]:.2f})" if r else "–",
                r[0] <= 1.2 if r else None))
    for b_ in d.ns("churn-rearm"):
        best = None
        for m in ("kqueue-dispatch", "kqueue-oneshot"):
            r = d.ratio("churn-rearm", "epoll-oneshot", m, b_, b_)
            if r and (not best or r[0] > best[1][0]):
                best = (m, r)
        res.append((f"Churn (a), B = {b_}: kqueue ≥ 1.5 × faster than epoll",
                    f"epoll/{best[0]} = {best[1][0]:.2f} "
                    f"({best[1][1]:.2f}–{best[1][2]:.2f})"
                    + ins(prof, "rearm-epoll", "rearm-" + best[0], b_)
                    if best else "–",
                    best[1][0] >= 1.5 if best else None))
    for n in d.ns("churn-register"):
        r = d.ratio("churn-register", "epoll", "kqueue", n)
        res.append((f"Churn (b), N = {n:,}: registering ≥ 3 × faster "
                    "than epoll",
                    f"epoll/kqueue = {r[0]:.2f} ({r[1]:.2f}–{r[2]:.2f})"
                    + ins(prof, "reg-epoll", "reg-kqueue", n)
                    if r else "–", r[0] >= 3 if r else None))
    ns = d.ns("memory-slab")
    if ns:
        a, b = (d.stats("memory-slab", "kqueue", ns[0]),
                d.stats("memory-slab", "epoll", ns[0]))
        res.append(("Memory per knote ≤ epoll's per registered fd",
                    f"kqueue {a[0]:.0f} B vs epoll {b[0]:.0f} B "
                    f"(Slab; ×{a[0] / b[0]:.2f})" if a and b else "–",
                    a[0] <= b[0] if a and b else None))
    return res


# ------------------------------------------------------------------ plots

def gnuplot(script):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True,
                       capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", "") or str(e)
        print(f"report: gnuplot failed: {err}", file=sys.stderr)
        return False


STYLE = {
    "select": "lc rgb '#999999' pt 4", "poll": "lc rgb '#1f77b4' pt 5",
    "epoll": "lc rgb '#2ca02c' pt 7", "epoll-et": "lc rgb '#2ca02c' pt 6 dt 2",
    "kqueue": "lc rgb '#d62728' pt 9", "kqueue-clear":
    "lc rgb '#d62728' pt 8 dt 2",
}


def plot_table2(d, kver, path, tmp):
    plots = []
    for m in T2_MECHS:
        rows = [(n,) + d.stats("table2", m, n)[:3]
                for n in d.ns("table2") if d.has("table2", m, n)]
        if not rows:
            continue
        f = os.path.join(tmp, f"t2-{m}.dat")
        with open(f, "w") as fh:
            for n, med, lo, hi in rows:
                fh.write(f"{n} {med} {lo} {hi}\n")
        plots.append(f"'{f}' using 1:2:3:4 with yerrorlines lw 2 "
                     f"{STYLE[m]} title '{m}'")
    if not plots:
        return False
    return gnuplot(f"""
set terminal pngcairo size 900,600 font 'sans,11'
set output '{path}'
set title "All N pipes ready: time per wait call (kernel {kver}, QEMU TCG)"
set xlabel 'N (descriptors, all ready)'
set ylabel 'µs per call (emulated CPU; compare lines, not values)'
set logscale xy
set grid
set key top left
plot {", ".join(plots)}
""")


def plot_idle(d, kver, path, tmp):
    ks = d.ks("idle")
    if not ks:
        return False
    lines = [f"""
set terminal pngcairo size {500 * len(ks)},520 font 'sans,10'
set output '{path}'
set multiplot layout 1,{len(ks)} title "k active among N registered: \
time per wait call (kernel {kver}, QEMU TCG)"
set logscale xy
set grid
set xlabel 'N (registered)'
set ylabel 'µs per call'
set key top left
"""]
    for k in ks:
        plots = []
        for m in IDLE_MECHS:
            rows = [(n,) + d.stats("idle", m, n, k)[:3]
                    for n in d.ns("idle", k) if d.has("idle", m, n, k)]
            if not rows:
                continue
            f = os.path.join(tmp, f"idle-{m}-{k}.dat")
            with open(f, "w") as fh:
                for n, med, lo, hi in rows:
                    fh.write(f"{n} {med} {lo} {hi}\n")
            plots.append(f"'{f}' using 1:2:3:4 with yerrorlines lw 2 "
                         f"{STYLE[m]} title '{m}'")
        lines.append(f"set title 'k = {k}'\nplot " + ", ".join(plots))
    lines.append("unset multiplot")
    return gnuplot("\n".join(lines))


# ------------------------------------------------------------------- main

def write_raw(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "mechanism", "N", "k", "rep", "value",
                    "unit"])
        for r in rows:
            w.writerow(r)


def trio(r):
    return [f"{x:.3f}" for x in r] if r else ["", "", ""]


def summary_rows(kver, d):
    out = []
    for (sc, m, n, k) in sorted(d.v):
        st = d.stats(sc, m, n, k)
        ref = {"kqueue-clear": "epoll-et"}.get(m, "epoll")
        if m.endswith("@100"):
            ref = "epoll@100"
        if sc == "churn-rearm":
            ref = "epoll-oneshot"
        re_ = d.ratio(sc, m, ref, n, k)
        rp = d.ratio(sc, m, "poll", n, k)
        out.append([kver, sc, m, n, k, st[3], f"{st[0]:.3f}", f"{st[1]:.3f}",
                    f"{st[2]:.3f}", d.unit.get(sc, ""), ref if re_ else "",
                    *trio(re_), *trio(rp)])
    return out


def main(argv):
    short = "--short" in argv
    argv = [a for a in argv if a != "--short"]
    outdir = None
    if "--out" in argv:
        i = argv.index("--out")
        outdir = argv[i + 1]
        del argv[i:i + 2]
    runs = []
    for a in argv:
        kver, _, path = a.partition("=")
        rows, calls, info = load(path)
        runs.append((kver, rows, calls, info))
    if not runs:
        print(__doc__, file=sys.stderr)
        return 2

    if short:
        for kver, rows, calls, info in runs:
            d = Data(rows)
            print(f"The paper's Table 2 on Linux {kver} (QEMU TCG, emulated "
                  "CPU): µs per wait call over N pipes, all readable, "
                  "median of the repetitions; the paper's figures are "
                  "from 2002 hardware; only ratios compare.")
            print()
            out = []
            paper_md(d, out)
            print("\n".join(out))
            print()
            out = []
            table2_md(d, calls, out, rearm=False)
            print("\n".join(out))
        return 0

    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        return full_report(outdir, runs, tmp)


def full_report(outdir, runs, tmp):
    md = ["# linux-kqueue benchmarks", "",
          "Produced by `make bench` (tools/bench.sh): one QEMU boot per "
          "kernel runs every scenario (tools/bench-guest.sh, drivers in "
          "bench/), each mechanism several times, interleaved.  **Every "
          "time below comes from an emulated CPU (QEMU TCG, 2 vCPUs) on a "
          "shared host: absolute microseconds mean little and differ from "
          "real hardware; only ratios measured in the same boot carry "
          "over, and even those weigh CPU work differently from a real "
          "CPU (memory accesses and atomics are relatively dearer).**  "
          "Ratios are per repetition, reported as median (min–max); each "
          "timed figure is itself the fastest of 5 batches of calls.  Raw "
          "data: raw-KVER.csv; medians and ratios: summary.csv.  Guest "
          "instruction counts of the same calls (tools/bench-profile.sh, "
          "independent of the host's load) are in the last section of each "
          "kernel and in profile-KVER.md.", "",
          "Reproduce: `make bench` (everything, both kernels); "
          "`tools/bench.sh --short` (the paper's Table 2 only, one kernel, "
          "under a minute); `tools/bench-profile.sh --kernel 6.1` "
          "(instruction counts only).", "",
          "What the module changed to meet the targets, and what limits the "
          "ones still missed: [analysis.md](analysis.md).", ""]
    summ = []
    tres = []
    profs = {kver: load_prof(os.path.join(outdir, f"profile-{kver}.csv"))
             for kver, _, _, _ in runs}
    for kver, rows, calls, info in runs:
        d = Data(rows)
        write_raw(os.path.join(outdir, f"raw-{kver}.csv"), rows)
        summ += summary_rows(kver, d)
        tres.append((kver, targets(d, profs[kver])))
    md += ["## Targets", ""]
    hdr = ["target"] + [k for k, _ in tres]
    md.append("| " + " | ".join(hdr) + " |")
    md.append("|" + "---|" * len(hdr))
    for i, (name, _, _) in enumerate(tres[0][1]):
        row = [name]
        for _, res in tres:
            if i < len(res):
                row.append(f"{verdict(res[i][2])}: {res[i][1]}")
            else:
                row.append("–")
        md.append("| " + " | ".join(row) + " |")
    md.append("")

    for kver, rows, calls, info in runs:
        d = Data(rows)
        md += [f"## Linux {kver}", ""]
        cpu = info.get("cpu", ["?"])[0]
        mem = info.get("memtotal_kb", ["?"])[0]
        ncpu = info.get("cpus", ["?"])[0]
        md += [f"Guest: {ncpu} vCPUs ({cpu}, QEMU TCG), MemTotal {mem} kB.",
               ""]
        md += ["### 1. The paper's Table 2: N pipes, all ready", ""]
        out = []
        paper_md(d, out)
        md += ["As the paper laid it out (its numbers: 2002 hardware, "
               "FreeBSD; ours: µs on an emulated CPU, so compare the "
               "ratio columns):", ""] + out + [""]
        out = []
        table2_md(d, calls, out)
        md += ["All mechanisms:", ""] + out
        png = f"table2-{kver}.png"
        if plot_table2(d, kver, os.path.join(outdir, png), tmp):
            md += [f"![time per call vs N, all ready, {kver}]({png})", ""]
        md += ["### 2. Few active among many idle", ""]
        out = []
        idle_md(d, calls, out)
        md += out
        png = f"idle-{kver}.png"
        if plot_idle(d, kver, os.path.join(outdir, png), tmp):
            md += [f"![time per call vs N registered, {kver}]({png})", ""]
        md += ["### 3. Churn", ""]
        out = []
        churn_md(d, out)
        md += out
        md += ["### 4. Memory", ""]
        out = []
        memory_md(d, out)
        md += out
        if profs[kver]:
            md += ["### Instruction counts", ""]
            out = []
            prof_md(profs[kver], kver, out)
            md += out
        secs = info.get("seconds", [])
        if secs:
            md += ["Run time in the guest: " + ", ".join(
                f"{s.split(',')[0]} {s.split(',')[1]} s" for s in secs)
                + ".", ""]

    with open(os.path.join(outdir, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kernel", "scenario", "mechanism", "N", "k", "reps",
                    "median", "min", "max", "unit", "ratio_ref",
                    "ratio_ref_median", "ratio_ref_min", "ratio_ref_max",
                    "ratio_poll_median", "ratio_poll_min", "ratio_poll_max"])
        w.writerows(summ)
    text = "\n".join(md)
    with open(os.path.join(outdir, "README.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
