"""report.py: the drill's figures, one line per failover and the table.

blackout  the longest time a live workload went without an answer (last
          answer before to first answer after), as its client saw it
detect    fault -> the leader's decision to move (a crash includes the grace)
control   decision -> label on the new node, less the Hetzner action
          (strip, assign request, label; a takeover or a wait for budget too)
hetzner   assign request accepted -> the provider routes the Floating IP
          to the new server (the action's run time)
agents    label -> first answer: the host agents' and workloads' routes
non-FIP   requests the internet saw from any address but the Floating IP
lost      requests of live workloads that got no answer
recovered within the drill's bound (grace + action + lease + 4.4 x retry
          + 15 s); LATE fails the drill
"""
import statistics


def fmt(v, width=6):
    return ("%*.2f" % (width, v)) if v is not None else "%*s" % (width, "-")


def line(row):
    parts = "  ".join("%s %s" % (k, fmt(row.get(k), 0))
                      for k in ("detect", "control", "hetzner", "agents"))
    return ("  round %-2d %-15s %s -> %s  blackout %5.2fs  (%s)  non-FIP %d  lost %d%s" %
            (row["round"], row["scenario"], row["from"], row["to"], row["blackout"], parts,
             row["non_fip"], row["lost"], "  NOT RECOVERED IN TIME" if row["late"] else ""))


def median(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def table(rows):
    head = ("scenario        runs  blackout p50    max  detect control hetzner agents"
            "  non-FIP  lost  goal (max)  met  recovered")
    out = [head, "-" * len(head)]
    names = []
    for r in rows:
        if r["scenario"] not in names:
            names.append(r["scenario"])
    for name in names:
        rs = [r for r in rows if r["scenario"] == name]
        worst = max(r["blackout"] for r in rs)
        goal = rs[0]["goal"]
        met = "-" if goal is None else ("yes" if worst <= goal else "no")
        late = sum(1 for r in rs if r["late"])
        out.append("%-15s %4d  %12s %6s  %s  %s  %s  %s  %7d %5d  %-10s  %-3s  %s" % (
            name, len(rs), fmt(median(rs, "blackout")), fmt(worst),
            fmt(median(rs, "detect")), fmt(median(rs, "control")),
            fmt(median(rs, "hetzner")), fmt(median(rs, "agents")),
            sum(r["non_fip"] for r in rs), sum(r["lost"] for r in rs),
            "-" if goal is None else "<= %.1fs" % goal, met,
            "yes" if not late else "LATE %d of %d" % (late, len(rs))))
    if not names:
        out.append("(no scenario completed)")
    return "\n".join(out)
