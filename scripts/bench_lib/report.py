"""The benchmark's figures as Markdown tables on stdout, ready to paste into the README."""

from __future__ import annotations

import re

from bench_lib.mixed import PROBLEM_KINDS
from bench_lib.scale import FIGURE_SECONDS, figure_names, step_label

LARGE_ROWS = (
    ("s3lite gateway", "s3lite, through the gateway (six nodes)"),
    ("s3lite one node", "one s3lite node, straight (baseline)"),
    ("raw GridFS (PyMongo async)", "raw GridFS, PyMongo async (database limit)"),
    ("bare Tornado handler", "bare Tornado handler (framework limit)"),
    ("loopback socket (one stream)", "loopback socket, one stream, 1 MiB sends"),
    ("moto", "moto server (peer)"),
    ("seaweedfs", "SeaweedFS (peer)"),
)
SMALL_CELL = re.compile(r"^small (.+?) (PUT|GET) (.+) x(\d+) ops/s$")  # "database floor": 2 words
FLOOR = "database floor"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    if digits == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def with_range(name: str, figures: dict[str, float], runs: list[dict[str, float]]) -> str:
    """The median, and the lowest and highest run's figure when there were several runs."""
    if name not in figures:
        return ""
    values = [run[name] for run in runs if name in run]
    if len(values) < 2:
        return number(figures[name])
    return f"{number(figures[name])} ({number(min(values))}-{number(max(values))})"


def large_table(figures: dict[str, float], runs: list[dict[str, float]]) -> str | None:
    rows = []
    for name, label in LARGE_ROWS:
        up, down = f"large {name} upload MB/s", f"large {name} download MB/s"
        if up not in figures and down not in figures:
            continue
        rss_text = number(figures.get(f"large {name} peak RSS MB"))
        if name == "s3lite gateway" and f"large {name} peak RSS MB" in figures:
            nodes = figures.get("large s3lite nodes peak RSS MB")
            rss_text += f" (nodes: {number(nodes)} at most)"
        rows.append(
            [label, with_range(up, figures, runs), with_range(down, figures, runs), rss_text]
        )
    if not rows:
        return None
    return table(["large object", "PUT MB/s", "GET MB/s", "peak RSS MB"], rows)


PARITY_ROWS = (
    ("the code, encoding (6 data x 1 MiB, one core)", "parity code encode MB/s", "data MB/s"),
    ("the code, decoding two lost data shards", "parity code decode MB/s", "data MB/s"),
    ("PUT, --parity-shards 0", "parity P=0 upload MB/s", "MB/s"),
    ("PUT, --parity-shards 2", "parity P=2 upload MB/s", "MB/s"),
    ("GET, written with P = 0", "parity P=0 download MB/s", "MB/s"),
    ("GET, P = 2, all nodes up", "parity P=2 download MB/s", "MB/s"),
    ("GET, P = 2, one node down", "parity P=2 download, 1 node(s) down MB/s", "MB/s"),
    ("GET, P = 2, two nodes down", "parity P=2 download, 2 node(s) down MB/s", "MB/s"),
    ("gateway peak RSS throughout", "parity gateway peak RSS MB", "MB"),
)


def parity_table(figures: dict[str, float], runs: list[dict[str, float]]) -> str | None:
    rows = [
        [label, with_range(name, figures, runs), unit]
        for label, name, unit in PARITY_ROWS
        if name in figures
    ]
    return table(["parity (eight nodes)", "median", "unit"], rows) if rows else None


def small_table(figures: dict[str, float]) -> str | None:
    cells = []  # (size, op, clients) in order of appearance
    targets = []
    for name in figures:
        match = SMALL_CELL.match(name)
        if match:
            target, op, size, clients = match.groups()
            if target not in targets:
                targets.append(target)
            if (size, op, clients) not in cells:
                cells.append((size, op, clients))
    if not cells:
        return None
    header = ["size", "op", "clients"]
    for target in targets:
        header += [f"{target} ops/s", f"{target} p50 / p99 ms"]
    header += ["s3lite CPU ms/op", "client CPU %"] if "s3lite" in targets else []
    header += [f"{FLOOR} CPU ms/op, database / client"] if FLOOR in targets else []
    rows = []

    def order(cell: tuple[str, str, str]) -> tuple:
        size, op, clients = cell
        amount, unit = size.split()
        return int(amount) * (1024 if unit == "KiB" else 1), op != "PUT", int(clients)

    for size, op, clients in sorted(cells, key=order):
        row = [size, op, clients]
        for target in targets:
            prefix = f"small {target} {op} {size} x{clients}"
            p50, p99 = figures.get(f"{prefix} p50 ms"), figures.get(f"{prefix} p99 ms")
            errors = figures.get(f"{prefix} errors", 0)
            row += [
                number(figures.get(f"{prefix} ops/s"), 0)
                + (f" ({errors:.0f} failed)" if errors else ""),
                f"{number(p50)} / {number(p99)}" if p50 is not None else "",
            ]
        if "s3lite" in targets:
            prefix = f"small s3lite {op} {size} x{clients}"
            row += [
                number(figures.get(f"{prefix} server CPU ms/op")),
                number(figures.get(f"{prefix} client CPU %"), 0),
            ]
        if FLOOR in targets:
            row.append(floor_cpu(figures, f"small {FLOOR} {op} {size} x{clients}"))
        rows.append(row)
    return table(header, rows)


def floor_cpu(figures: dict[str, float], prefix: str) -> str:
    """The floor's CPU per request, the database's and the benchmark client's apart: the bound
    is the database's, but on two cores the client's share is taken from it too."""
    database = figures.get(f"{prefix} database CPU ms/op")
    client = figures.get(f"{prefix} client CPU ms/op")
    return f"{number(database)} / {number(client)}" if database is not None else ""


def load_table(figures: dict[str, float]) -> str | None:
    names = [name for name in figures if name.startswith("load ") and name.endswith(" MB/s")]
    if not names:
        return None
    prefix = names[0].removesuffix(" MB/s")
    rows = []
    for op in ("all", "PUT", "GET", "DELETE"):
        key = prefix if op == "all" else f"{prefix} {op}"
        rows.append(
            [
                op,
                number(figures.get(f"{key} ops/s")),
                number(figures.get(f"{key} p50 ms")),
                number(figures.get(f"{key} p99 ms")),
            ]
        )
    text = table([prefix.removeprefix("load "), "ops/s", "p50 ms", "p99 ms"], rows)
    problems = ", ".join(f"{kind}: {figures[f'{prefix} {kind}']:.0f}" for kind in PROBLEM_KINDS)
    return f"{text}\n\n{number(figures[names[0]])} MB/s moved; {problems}"


def with_spread(figures: dict[str, float], name: str) -> str:
    """A scale figure's median over its repetitions, and their lowest and highest."""
    if name not in figures:
        return ""

    def short(value: float) -> str:
        return number(value, 2 if value < 10 else 1)

    low, high = figures.get(f"{name} min"), figures.get(f"{name} max")
    if low is None or high is None or low == high:
        return short(figures[name])
    return f"{short(figures[name])} ({short(low)}-{short(high)})"


def scale_table(figures: dict[str, float], settings: dict) -> str | None:
    listing = settings["scale_listing_objects"]
    names = figure_names(listing)
    steps = [
        gib
        for gib in settings["scale_steps_gib"]
        if f"scale {step_label(gib)} nodes hold GiB" in figures
    ]
    if not steps:
        return None
    header = ["data stored (nodes report)"]
    header += [f"{name} {unit}" for name, unit, _ in names]
    header.append(f"fill MB/s ({settings['scale_fill_mib']} MiB PUTs)")
    header.append("load average")
    rows = []
    for gib in steps:
        step = f"scale {step_label(gib)}"
        held = figures[f"{step} nodes hold GiB"]
        row = [f"{step_label(gib)} ({held:.2f} GiB)"]
        row += [with_spread(figures, f"{step} {name} {unit}") for name, unit, _ in names]
        row.append(number(figures.get(f"{step} fill MB/s")))
        row.append(number(figures.get(f"{step} load average")))
        rows.append(row)
    if len(steps) >= 2:
        ratios = [figures.get(f"scale {name} last/first") for name, _, _ in names]
        row = [f"last / first ({step_label(steps[-1])} / {step_label(steps[0])})"]
        row += [f"{ratio:.2f}" if ratio is not None else "" for ratio in ratios]
        rows.append([*row, "", ""])
    counts = {
        f"{step_label(gib)} {name}": figures.get(f"scale {step_label(gib)} {name} repetitions")
        for gib in steps
        for name, _, _ in names
    }
    cut = "; ".join(
        f"{what}: {count:.0f}"
        for what, count in counts.items()
        if count is not None and count < settings["scale_repeats"]
    )
    cut = f"; fewer where they passed {FIGURE_SECONDS:g} s: {cut}" if cut else ""
    inserted = figures.get("scale listing records inserted straight into the metadata")
    seconds = figures.get("scale listing records insert s")
    note = (
        f"Medians of {settings['scale_repeats']} repetitions (lowest-highest{cut}), each"
        " on objects written just before it, the newest. The listing bucket's"
        f" {number(inserted, 0)} zero-byte objects are records inserted straight into the"
        f" gateway's metadata database (in {number(seconds)} s), not PUT through the gateway;"
        " the page is ListObjectsV2, max-keys=1000, start-after a key in the middle."
        " Load average: the 1-minute figure at the start and end of the step's measuring,"
        " averaged; on a shared machine it moves the figures as much as the fill can."
        " Goal: every last / first ratio at most 1.3."
    )
    return f"{table(header, rows)}\n\n{note}"


def rebalance_table(figures: dict[str, float]) -> str | None:
    if "rebalance move MB/s" not in figures:
        return None
    reached = figures.get("rebalance join to spread 2 % s")
    header = ["stored before the joins MB", "moved MB", "shards moved", "move MB/s"]
    moves = table(
        [*header, "join to 2 % s", "spread reached"],
        [
            [
                number(figures["rebalance stored MB"]),
                number(figures["rebalance moved MB"]),
                number(figures["rebalance shards moved"], 0),
                number(figures["rebalance move MB/s"]),
                number(reached) if reached is not None else "not reached",
                f"{figures['rebalance spread reached']:.2%}",
            ]
        ],
    )
    rows = []
    for phase, label in (("quiet", "without a rebalance"), ("during", "during a rebalance")):
        rows.append(
            [
                label,
                number(figures[f"rebalance {phase} PUT ops/s"]),
                number(figures[f"rebalance {phase} GET ops/s"]),
                number(figures[f"rebalance {phase} wrong or failed requests"], 0),
            ]
        )
    foreground = table(["4 clients, 256 KiB", "PUT ops/s", "GET ops/s", "wrong or failed"], rows)
    if figures.get("rebalance during: still running at the end"):
        note = "The rebalance was still running when the foreground load ended."
    else:
        note = "The rebalance ended before the foreground load: partly quiet figures."
    return f"{moves}\n\n{foreground}\n\n{note}"


def print_report(figures, about, settings, versions, failures, runs) -> None:
    """Medians in ``figures``; with several ``runs``, large-object rows also show their range."""
    count = len(runs)
    print(f"# s3lite benchmark: {f'median of {count} runs' if count > 1 else '1 run'}")
    print()
    print(table(["machine", ""], [[name, value] for name, value in about.items()]))
    large = f"Large objects ({settings['size_mib']} MiB; peers {settings['peer_size_mib']} MiB)"
    small = f"Small objects ({settings['small_seconds']:g} s per cell)"
    load = (
        f"Mixed load ({settings['load_clients']} clients, {settings['load_seconds']:g} s,"
        f" 0 to {settings['load_max_mib']} MiB)"
    )
    scale = f"Scale (six nodes, filled with {settings['scale_fill_mib']} MiB objects)"
    rebalance = f"Rebalance (six nodes hold {settings['rebalance_fill_mib']} MiB; 3 join, 3 more)"
    sections = [
        (large, large_table(figures, runs)),
        (small, small_table(figures)),
        (load, load_table(figures)),
        (f"Parity ({settings['size_mib']} MiB objects)", parity_table(figures, runs)),
        (scale, scale_table(figures, settings)),
        (rebalance, rebalance_table(figures)),
    ]
    for title, text in sections:
        if text is not None:
            print(f"\n## {title}\n\n{text}")
    if versions or failures:
        print("\n## Peers and failures\n")
        for name, version in versions.items():
            print(f"- {name}: {version}")
        for name, reason in failures.items():
            print(f"- {name}: {reason}")
