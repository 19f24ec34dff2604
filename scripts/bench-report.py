#!/usr/bin/env python3
"""Turn the JSON lines of one scripts/bench.sh run into Markdown tables.

Usage: bench-report.py RESULTS WORKLOAD MACHINE OUTPUT [--check-only]

RESULTS contains one JSON object per line, written by the harnesses:
  expression timings  {"engine", "mode", "case", "median_ns", "iqr_ns", "samples"},
                      and "cpu_ns" from the Node harness, which no table shows
  pipeline timings    {"kind": "pipeline", "runtime", "steps", "median_ns", "iqr_ns",
                       "samples", "max_rss_kib", "cpu_ns"}
  corpus timings      {"kind": "corpus", "runtime", "files", "median_ns", "iqr_ns", "samples"}
MACHINE is a JSON object describing the machine and the tool versions.

The script first checks that every harness produced a timing for every case
its engine can express, and exits 1 naming what is missing. Then it replaces
each block between `<!-- bench.sh:begin NAME -->` and `<!-- bench.sh:end NAME -->`
in OUTPUT, leaving all other text as it is. With --check-only it writes
nothing, which is what the smoke run in scripts/test.sh uses.
"""

import json
import math
import re
import statistics
import sys

RUST_PEERS = ["cel", "evalexpr", "minijinja"]
PEERS = ["jexl"] + RUST_PEERS
ENGINES = ["basso", "basso-wasm"] + PEERS
MODES = {
    "evaluate": "evaluate a parsed expression",
    "parse_evaluate": "parse and evaluate",
}
PIPELINE_STEPS = [10, 100, 1000, 10000]
# The goals the project set for the resolver, checked against each run.
JEXL_SPEEDUP_GOAL = 5.0
PIPELINE_1000_GOAL_MS = 10.0
WASM_SLOWDOWN_GOAL = 2.0
# A log-log slope of time over steps up to this counts as linear.
LINEAR_SLOPE_LIMIT = 1.15


def main(argv):
    if len(argv) not in (5, 6) or (len(argv) == 6 and argv[5] != "--check-only"):
        sys.exit(__doc__)
    results_path, workload_path, machine_path, output_path = argv[1:5]
    check_only = len(argv) == 6

    with open(workload_path, encoding="utf-8") as file:
        workload = json.load(file)
    with open(machine_path, encoding="utf-8") as file:
        machine = json.load(file)
    expressions, pipelines, corpus, unavailable, instructions = read_results(results_path)

    missing = find_missing(workload, expressions, pipelines, corpus, unavailable, machine)
    for case_id in expressible(workload, "basso"):
        for mode in MODES:
            if (mode, case_id) not in instructions:
                missing.append(f"instruction count of basso {mode} {case_id}")
    if missing:
        for line in missing:
            print(f"bench-report: missing {line}", file=sys.stderr)
        sys.exit(1)
    if check_only:
        print(f"bench-report: {len(expressions)} expression timings, "
              f"{len(pipelines)} pipeline timings, {len(corpus)} corpus timings, "
              f"{len(unavailable)} measurements unavailable, none missing")
        return

    blocks = {
        "machine": machine_block(machine),
        "expressions": expression_block(workload, expressions, unavailable),
        "cases": case_block(workload, expressions),
        "cannot": cannot_block(workload),
        "pipelines": pipeline_block(pipelines, corpus, unavailable),
        "instructions": instruction_block(workload, instructions),
        "goals": goal_block(workload, expressions, pipelines),
    }
    with open(output_path, encoding="utf-8") as file:
        text = file.read()
    for name, body in blocks.items():
        text = replace_block(text, name, body)
    with open(output_path, "w", encoding="utf-8") as file:
        file.write(text)
    print(f"bench-report: rewrote {', '.join(blocks)} in {output_path}")


def read_results(path):
    expressions, pipelines, corpus, unavailable, instructions = {}, {}, [], [], {}
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                sys.exit(f"bench-report: {path}:{number}: invalid JSON line: {error}")
            kind = record.get("kind", "expression")
            if kind == "expression":
                expressions[(record["engine"], record["mode"], record["case"])] = record
            elif kind == "pipeline":
                pipelines[(record["runtime"], record["steps"])] = record
            elif kind == "corpus":
                corpus.append(record)
            elif kind == "unavailable":
                unavailable.append(record)
            elif kind == "instructions":
                instructions[(record["mode"], record["case"])] = record["per_iteration"]
    return expressions, pipelines, corpus, unavailable, instructions


def expressible(workload, engine):
    """Return the ids of the cases the engine has a spelling for."""
    key = "basso" if engine.startswith("basso") else engine
    return [case["id"] for case in workload["cases"] if isinstance(case.get(key), str)]


def unavailable_reason(unavailable, what):
    """Return why a harness could not make the measurement `what`, or None."""
    for record in unavailable:
        if record["what"] == what:
            return record["reason"]
    return None


def mode_label(engine, mode):
    return f"{engine}, {MODES[mode]}"


def find_missing(workload, expressions, pipelines, corpus, unavailable, machine):
    missing = []
    for engine in ENGINES:
        for mode in MODES:
            if unavailable_reason(unavailable, mode_label(engine, mode)):
                continue
            for case_id in expressible(workload, engine):
                if (engine, mode, case_id) not in expressions:
                    missing.append(f"timing of {engine} {mode} {case_id}")
    for runtime in ("native", "native-json", "wasm"):
        measured = [size for (kind, size) in pipelines if kind == runtime]
        explained = [record for record in unavailable if record["what"].startswith(f"{runtime} pipeline")]
        if not measured and not explained:
            missing.append(f"{runtime} pipeline timings")
    if not any(record["runtime"] == "native" for record in corpus):
        missing.append("native corpus timing")
    for key in ("date", "cpu"):
        if key not in machine:
            missing.append(f"machine field {key}")
    return missing


def median_of(records):
    return statistics.median(record["median_ns"] for record in records)


def noise_of(records):
    """Median relative interquartile range of the samples, in percent."""
    return 100 * statistics.median(record["iqr_ns"] / record["median_ns"] for record in records)


def ratio_to_basso(workload, expressions, engine, mode):
    """Geometric mean over the shared cases of engine time / basso time.

    Returns (ratio, shared case count, noise of the ratio in percent).
    """
    shared = [case for case in expressible(workload, engine) if case in expressible(workload, "basso")]
    logs, noises = [], []
    for case_id in shared:
        mine = expressions.get((engine, mode, case_id))
        basso = expressions.get(("basso", mode, case_id))
        if mine is None or basso is None:
            continue
        logs.append(math.log(mine["median_ns"] / basso["median_ns"]))
        noises.append(math.hypot(mine["iqr_ns"] / mine["median_ns"], basso["iqr_ns"] / basso["median_ns"]))
    if not logs:
        return None, 0, None
    return math.exp(statistics.fmean(logs)), len(logs), 100 * statistics.median(noises)


def format_ns(nanos):
    if nanos >= 1e6:
        return f"{nanos / 1e6:.2f} ms"
    if nanos >= 1e4:
        return f"{nanos / 1e3:.1f} µs"
    if nanos >= 1e3:
        return f"{nanos / 1e3:.2f} µs"
    return f"{nanos:.0f} ns"


def machine_block(machine):
    rows = ["| what | value |", "|---|---|"]
    for key in ("date", "cpu", "cores", "memory", "kernel", "rustc", "java", "jexl", "node", "command"):
        if key in machine:
            rows.append(f"| {key} | {machine[key]} |")
    return "\n".join(rows)


def expression_block(workload, expressions, unavailable):
    rows = [
        "| engine | mode | cases | median time per expression | ratio to basso "
        "(geometric mean over shared cases) | noise |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for mode, title in MODES.items():
        for engine in ENGINES:
            reason = unavailable_reason(unavailable, mode_label(engine, mode))
            if reason:
                rows.append(f"| {engine} | {title} | 0 | not measured: {reason} | | |")
                continue
            records = [expressions[(engine, mode, case)] for case in expressible(workload, engine)]
            ratio, shared, ratio_noise = ratio_to_basso(workload, expressions, engine, mode)
            ratio_text = "1" if engine == "basso" else f"{ratio:.2f} ({shared} shared, ±{ratio_noise:.1f}%)"
            rows.append(
                f"| {engine} | {title} | {len(records)} | {format_ns(median_of(records))} "
                f"| {ratio_text} | ±{noise_of(records):.1f}% |"
            )
    return "\n".join(rows)


def case_block(workload, expressions):
    rows = []
    for mode, title in MODES.items():
        rows.append(f"{title}, median time per case:\n")
        rows.append("| case | " + " | ".join(ENGINES) + " |")
        rows.append("|---|" + "---:|" * len(ENGINES))
        for case in workload["cases"]:
            cells = []
            for engine in ENGINES:
                record = expressions.get((engine, mode, case["id"]))
                if record:
                    cells.append(format_ns(record["median_ns"]))
                elif case["id"] in expressible(workload, engine):
                    cells.append("not measured")
                else:
                    cells.append("cannot")
            rows.append(f"| `{case['id']}` | " + " | ".join(cells) + " |")
        rows.append("")
    return "\n".join(rows).rstrip()


def instruction_block(workload, instructions):
    rows = ["| case | " + " | ".join(MODES.values()) + " |", "|---|" + "---:|" * len(MODES)]
    for case_id in expressible(workload, "basso"):
        cells = [f"{instructions[(mode, case_id)]:,}" for mode in MODES]
        rows.append(f"| `{case_id}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def cannot_block(workload):
    rows = ["| case | engine | why it cannot express the case |", "|---|---|---|"]
    for case in workload["cases"]:
        for engine in PEERS:
            spelling = case.get(engine)
            if isinstance(spelling, dict):
                rows.append(f"| `{case['id']}` | {engine} | {spelling['cannot']} |")
    return "\n".join(rows)


def pipeline_block(pipelines, corpus, unavailable):
    rows = [
        "| runtime | steps | median time | time per step | noise | peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for runtime, steps in sorted(pipelines, key=lambda key: (key[0], key[1])):
        record = pipelines[(runtime, steps)]
        if "max_rss_kib" in record:
            rss_text = f"{record['max_rss_kib'] / 1024:.1f} MiB (max RSS)"
        elif "wasm_memory_kib" in record:
            rss_text = f"{record['wasm_memory_kib'] / 1024:.1f} MiB (linear memory)"
        else:
            rss_text = "not measured"
        rows.append(
            f"| {runtime} | {steps} | {format_ns(record['median_ns'])} "
            f"| {format_ns(record['median_ns'] / steps)} "
            f"| ±{100 * record['iqr_ns'] / record['median_ns']:.1f}% | {rss_text} |"
        )
    gaps = [record for record in unavailable if "pipeline" in record["what"]]
    if gaps:
        rows.append("")
        for record in gaps:
            rows.append(f"- Not measured: {record['what']}, because {record['reason']}.")
    rows.append("")
    rows.append("| runtime | corpus files checked | median time for all files | noise |")
    rows.append("|---|---:|---:|---:|")
    for record in corpus:
        rows.append(
            f"| {record['runtime']} | {record['files']} | {format_ns(record['median_ns'])} "
            f"| ±{100 * record['iqr_ns'] / record['median_ns']:.1f}% |"
        )
    return "\n".join(rows)


def slope(pipelines, runtime):
    """Log-log slope of time over steps from the smallest size above 10 to the largest."""
    sizes = sorted(steps for (kind, steps) in pipelines if kind == runtime and steps >= 100)
    if len(sizes) < 2:
        return None
    low, high = sizes[0], sizes[-1]
    low_ns = pipelines[(runtime, low)]["median_ns"]
    high_ns = pipelines[(runtime, high)]["median_ns"]
    return math.log(high_ns / low_ns) / math.log(high / low), low, high


def goal_block(workload, expressions, pipelines):
    rows = ["| goal | figure | met |", "|---|---|---|"]

    def add(goal, figure, met):
        rows.append(f"| {goal} | {figure} | {'yes' if met else '**no**'} |")

    jexl, shared, noise = ratio_to_basso(workload, expressions, "jexl", "evaluate")
    add(
        f"basso evaluates the workload at least {JEXL_SPEEDUP_GOAL:g}x faster than JEXL 3",
        f"JEXL / basso = {jexl:.2f} over {shared} cases (±{noise:.1f}%)",
        jexl >= JEXL_SPEEDUP_GOAL,
    )
    for peer in RUST_PEERS:
        ratio, shared, noise = ratio_to_basso(workload, expressions, peer, "evaluate")
        add(
            f"basso at least as fast as {peer} on the cases both express",
            f"{peer} / basso = {ratio:.2f} over {shared} cases (±{noise:.1f}%)",
            ratio >= 1.0,
        )

    native = pipelines.get(("native", 1000))
    if not native:
        rows.append(
            f"| 1,000-step pipeline resolved natively in under {PIPELINE_1000_GOAL_MS:g} ms "
            "| not measured | **no** |"
        )
    if native:
        millis = native["median_ns"] / 1e6
        add(
            f"1,000-step pipeline resolved natively in under {PIPELINE_1000_GOAL_MS:g} ms",
            f"{millis:.2f} ms",
            millis < PIPELINE_1000_GOAL_MS,
        )
    wasm = pipelines.get(("wasm", 1000))
    if native and wasm:
        ratio = wasm["median_ns"] / native["median_ns"]
        add(
            f"wasm within {WASM_SLOWDOWN_GOAL:g}x of native (1,000-step pipeline)",
            f"wasm / native = {ratio:.2f}",
            ratio <= WASM_SLOWDOWN_GOAL,
        )
    elif native:
        rows.append(f"| wasm within {WASM_SLOWDOWN_GOAL:g}x of native (1,000-step pipeline) | not measured | **no** |")
    native_json = pipelines.get(("native-json", 1000))
    json_goal = f"wasm within {WASM_SLOWDOWN_GOAL:g}x of native, both writing the JSON document (1,000-step pipeline)"
    if native_json and wasm:
        ratio = wasm["median_ns"] / native_json["median_ns"]
        add(json_goal, f"wasm / native = {ratio:.2f}", ratio <= WASM_SLOWDOWN_GOAL)
    else:
        rows.append(f"| {json_goal} | not measured | **no** |")
    for mode, title in MODES.items():
        wasm_ratio, shared, noise = ratio_to_basso(workload, expressions, "basso-wasm", mode)
        if wasm_ratio is None:
            rows.append(f"| wasm within {WASM_SLOWDOWN_GOAL:g}x of native (workload, {title}) | not measured | **no** |")
            continue
        add(
            f"wasm within {WASM_SLOWDOWN_GOAL:g}x of native (workload, {title})",
            f"wasm / native = {wasm_ratio:.2f} over {shared} cases (±{noise:.1f}%)",
            wasm_ratio <= WASM_SLOWDOWN_GOAL,
        )
    for runtime in ("native", "wasm"):
        fit = slope(pipelines, runtime)
        if fit:
            value, low, high = fit
            add(
                f"{runtime} time linear in the number of steps",
                f"log-log slope {value:.2f} from {low} to {high} steps (1.00 is linear; "
                f"at most {LINEAR_SLOPE_LIMIT} counts)",
                value <= LINEAR_SLOPE_LIMIT,
            )
    return "\n".join(rows)


def replace_block(text, name, body):
    pattern = re.compile(
        rf"(<!-- bench\.sh:begin {name} -->\n).*?(<!-- bench\.sh:end {name} -->)", re.DOTALL
    )
    if not pattern.search(text):
        sys.exit(f"bench-report: the markers of block `{name}` are missing from the output file")
    return pattern.sub(lambda match: f"{match.group(1)}{body}\n{match.group(2)}", text)


if __name__ == "__main__":
    main(sys.argv)
