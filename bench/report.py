"""Turn a benchmark results file into OUT_DIR/REPORT.md and OUT_DIR/report.png.

Usage: python bench/report.py RESULTS_JSON OUT_DIR
"""

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # renders without a display, e.g. on a headless bench host
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)
from matplotlib.ticker import FuncFormatter  # noqa: E402

TOOLS = {"kafka-sync": "kafka-sync", "kafka-sync-dynamodb": "kafka-sync (DynamoDB)", "mirrormaker2": "MirrorMaker 2"}
KAFKA_SYNC = [k for k in TOOLS if k.startswith("kafka-sync")]
COLORS = {"kafka-sync": "tab:blue", "kafka-sync-dynamodb": "tab:green", "mirrormaker2": "tab:orange",
          "pipe": "tab:gray"}
# Issue 17's goals: share of the pipe limit per workload (the others have none), ratio to
# MirrorMaker 2 and peak RSS on every workload, first record, a new topic's first record.
GOAL_OF_PIPE = {"1k": 0.80, "100b": 0.70}
GOAL_VS_MM2, GOAL_RSS_MIB, GOAL_FIRST_S, GOAL_NEW_TOPIC_S = 2.0, 64.0, 0.5, 10.0


class Obj(dict):
    """A JSON object that knows where it sits, so a missing key fails naming both."""

    def __init__(self, items, path):
        super().__init__(items)
        self.path = path

    def __missing__(self, key):
        sys.exit(f"error: results file lacks key {key!r} in {self.path or 'the top level'}")


def wrap(value, path=""):
    if isinstance(value, dict):
        return Obj({k: wrap(v, f"{path}.{k}" if path else k) for k, v in value.items()}, path)
    if isinstance(value, list):
        return [wrap(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def num(x, digits=1):
    return "—" if x is None else f"{x:,.{digits}f}"


def cell(text):
    # Error text comes from tool output: keep it from breaking the table row.
    return " ".join(str(text).split()).replace("|", "\\|")


def rate(tool):
    return None if "error" in tool else tool["records_per_s"]


def pipe_limit(w):
    # The slower of the two plain-client legs bounds any replicator.
    return min(w["pipe"]["consume"]["records_per_s"], w["pipe"]["produce"]["records_per_s"])


def workload(results, wid):
    for w in results["workloads"]:
        if w["id"] == wid:
            return w
    sys.exit(f"error: results file lacks a workload with id {wid!r} in workloads")


def throughput_rows(w):
    mm2 = rate(w["tools"]["mirrormaker2"])
    for key, label in TOOLS.items():
        t = w["tools"][key]
        if "error" in t:
            yield [w["id"], label, f"failed: {cell(t['error'])}"] + ["—"] * 10
            continue
        if not w["offsets"]:
            synced = "off"
        elif t["offsets_synced_after_s"] is None:
            synced = "never"
        else:
            synced = num(t["offsets_synced_after_s"])
            if t["offsets_reread"] is not None:
                synced += f"; re-reads {num(t['offsets_reread'], 0)}"
        vs_mm2 = f"{t['records_per_s'] / mm2:.2f}×" if mm2 else "—"
        yield [w["id"], label, num(t["records_per_s"], 0), num(t["steady_records_per_s"], 0), num(t["mb_per_s"]), vs_mm2,
               f"{t['records_per_s'] / pipe_limit(w):.1%}", num(t["peak_rss_mib"]), num(t["cpu_seconds"]),
               num(t["cpu_seconds_per_million"], 2), num(t["first_record_s"], 2),
               num(t["store_writes_per_million"], 0), synced]


def table(header, rows):
    return ["| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows]]


def goal(subject, shown, target, ok):
    return f"- {subject}: {shown} (goal {target}) — **{'met' if ok else 'not met'}**"


def verdicts(results):
    """Every goal, per workload and per kafka-sync store; a failed run is a goal not met."""
    out = []
    for w in results["workloads"]:
        mm2 = w["tools"]["mirrormaker2"]
        for key in KAFKA_SYNC:
            t, subject = w["tools"][key], f"`{w['id']}` {TOOLS[key]}"
            if "error" in t:
                out.append(f"- {subject}: failed ({cell(t['error'])}) — **not met**")
                continue
            if "error" in mm2:
                out.append(f"- {subject} ÷ MirrorMaker 2: MirrorMaker 2 failed ({cell(mm2['error'])}) — **not judged**")
            else:
                vs = t["records_per_s"] / mm2["records_per_s"]
                out.append(goal(f"{subject} ÷ MirrorMaker 2", f"{vs:.2f}×", f"≥ {GOAL_VS_MM2:.0f}×", vs >= GOAL_VS_MM2))
            if w["id"] in GOAL_OF_PIPE:
                share, want = t["records_per_s"] / pipe_limit(w), GOAL_OF_PIPE[w["id"]]
                out.append(goal(f"{subject} ÷ pipe limit", f"{share:.1%}", f"≥ {want:.0%}", share >= want))
            first = t["first_record_s"]
            out.append(goal(f"{subject} first record after the create call", f"{first:.2f} s",
                            f"< {GOAL_FIRST_S} s", first < GOAL_FIRST_S))
            rss = t["peak_rss_mib"]
            out.append(goal(f"{subject} ({w['slots']} slots) peak RSS", f"{rss:.1f} MiB",
                            f"≤ {GOAL_RSS_MIB:.0f} MiB", rss <= GOAL_RSS_MIB))
    for key, t in (results.get("new_topic") or {"tools": {}})["tools"].items():
        subject = f"{TOOLS[key]}: a new topic's first record on the target"
        if "error" in t:
            out.append(f"- {subject}: failed ({cell(t['error'])}) — **not met**")
        else:
            out.append(goal(subject, f"{t['seconds']:.1f} s", f"≤ {GOAL_NEW_TOPIC_S:.0f} s",
                            t["seconds"] <= GOAL_NEW_TOPIC_S))
    return out


def markdown(r):
    lat = r["latency"]
    md = ["# kafka-sync vs MirrorMaker 2", "",
          f"Generated {r['generated_at']} on {r['machine']}, Kafka {r['kafka_version']}. "
          f"Regenerate with `{r['command']}`.", "",
          "Throughput counts records from the moment the tool is started (so startup is included) "
          "until the target holds every record. The pipe limit is the lower of the plain consume "
          "and plain produce rates, measured with the same client settings and the same number of "
          "clients as the tools use. Latency runs from the produce timestamp to the target's append "
          "time (LogAppendTime) at a steady rate. Peak RSS is the VmHWM of the tool's process; "
          "CPU is its user + system seconds. The steady rate is taken between 10 % and 90 % of the "
          "records on the target, without startup. With offset sync on, the offsets column gives "
          "the seconds from the target holding every record until the group's committed offsets "
          "were there, and how many records the group would read again after failing over. "
          "CPU per million records is CPU seconds ÷ records × 10⁶. The first record is timed from "
          "kafka-sync's create call (MirrorMaker 2: from its start, its configuration being its "
          "command line) to the first record seen on the target, sampled every 10 ms. Store writes "
          "are kafka-sync's write requests to its task store (`kafka_sync_store_writes_total` on "
          "`/metrics`: checkpoint commits, lease renewals, progress) per million records copied.",
          "", "## Throughput", ""]
    md += table(["Workload", "Tool", "records/s", "steady records/s", "MB/s", "× MirrorMaker 2", "% of pipe limit",
                 "peak RSS MiB", "CPU s", "CPU s / M records", "first record s", "store writes / M records",
                 "offsets synced after (s)"],
                [row for w in r["workloads"] for row in throughput_rows(w)])
    md.append("")
    for w in r["workloads"]:
        c, p = w["pipe"]["consume"], w["pipe"]["produce"]
        md.append(f"- `{w['id']}`: {w['title']}; {w['slots']} slots; offset sync {'on' if w['offsets'] else 'off'}. "
                  f"Pipe limit {num(pipe_limit(w), 0)} records/s (consume {num(c['records_per_s'], 0)} records/s, "
                  f"{num(c['mb_per_s'])} MB/s; produce {num(p['records_per_s'], 0)} records/s, {num(p['mb_per_s'])} MB/s).")
    md += ["", "## Latency", "",
           f"{num(lat['rate_per_s'], 0)} records/s for {lat['seconds']} s over {lat['partitions']} partitions.", ""]
    rows = []
    for key, label in TOOLS.items():
        t = lat["tools"].get(key, {"error": "not run"})
        if "error" in t:
            rows.append([label, f"failed: {cell(t['error'])}"] + ["—"] * 5)
        else:
            rows.append([label, num(t["p50_ms"]), num(t["p99_ms"]), num(t["max_ms"]), num(t["samples"], 0),
                         num(t["peak_rss_mib"]), num(t["cpu_seconds"])])
    md += table(["Tool", "p50 ms", "p99 ms", "max ms", "samples", "peak RSS MiB", "CPU s"], rows)
    new_topic = r.get("new_topic")
    if new_topic:
        md += ["", "## A topic created while the task runs", "",
               "A task copying `^prefix-[0-9]+$` has copied its first topic; then a second topic matching it is "
               "created on the source with one record. Seconds from its creation to that record on the target:", ""]
        md += table(["Tool", "seconds"], [[TOOLS[k], f"failed: {cell(t['error'])}" if "error" in t else num(t["seconds"], 2)]
                                          for k, t in new_topic["tools"].items()])
    md += ["", "## Verdict", "", *verdicts(r), "", "![throughput and latency](report.png)", ""]
    return "\n".join(md)


def bars(ax, xs, values, width, key, label):
    """One series of bars; a failed (None) value gets a "failed" mark instead of a silent gap."""
    ax.bar(xs, [math.nan if v is None else v for v in values], width, color=COLORS[key], label=label)
    for x in (x for x, v in zip(xs, values) if v is None):
        ax.text(x, 0, " failed", rotation=90, ha="center", va="bottom", fontsize=8, color=COLORS[key])


def figure(r):
    # Bar panels get fixed x-limits so "failed" marks stay in view (NaN bars do not count for
    # autoscaling), and headroom above the tallest bar so the legend does not cover it.
    fig, (tput, series, lat) = plt.subplots(1, 3, figsize=(14, 5), dpi=100)
    ws, width = r["workloads"], 0.2
    legs = [(key, label, [rate(w["tools"][key]) for w in ws]) for key, label in TOOLS.items()]
    for i, (key, label, values) in enumerate(legs + [("pipe", "pipe limit", [pipe_limit(w) for w in ws])]):
        bars(tput, [j + (i - 1.5) * width for j in range(len(ws))], values, width, key, label)
    tput.set(title="Throughput", xlabel="workload", ylabel="records/s", xlim=(-0.5, len(ws) - 0.5), ymargin=0.2)
    tput.set_xticks(range(len(ws)), [w["id"] for w in ws])

    one_k = workload(r, "1k")
    for key, label in TOOLS.items():
        t = one_k["tools"][key]
        points, failed = ([], " (failed)") if "error" in t else (t["series"], "")
        series.plot([p[0] for p in points], [p[1] for p in points], color=COLORS[key], label=label + failed)
    series.axhline(one_k["records"], color=COLORS["pipe"], ls=":", label="all records")
    series.set(title="Records on target, workload 1k", xlabel="seconds since start", ylabel="records on target")

    for i, (key, label) in enumerate(TOOLS.items()):
        t = r["latency"]["tools"].get(key, {"error": "not run"})
        values = [None, None] if "error" in t else [t["p50_ms"], t["p99_ms"]]
        bars(lat, [j + (i - 1) * 0.27 for j in range(2)], values, 0.27, key, label)
    lat.set(title=f"Latency at {num(r['latency']['rate_per_s'], 0)} records/s", xlabel="percentile", ylabel="ms",
            xlim=(-0.5, 1.5), ymargin=0.2)
    lat.set_xticks(range(2), ["p50", "p99"])

    for ax in (tput, series):
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    for ax in (tput, series, lat):
        ax.legend()
    fig.tight_layout()
    return fig


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/report.py RESULTS_JSON OUT_DIR")
    results = wrap(json.loads(Path(sys.argv[1]).read_text()))
    # Both outputs are built before anything is written, so bad input leaves no partial report.
    report, fig = markdown(results), figure(results)
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "report.png")
    (out / "REPORT.md").write_text(report)


if __name__ == "__main__":
    main()
