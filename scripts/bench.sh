#!/usr/bin/env bash
# Runs every benchmark harness on the shared workload and on generated
# pipelines, then rewrites the tables in docs/benchmarks.md.
#
# Usage: scripts/bench.sh [--smoke]
#
# --smoke runs a few iterations of every harness and checks that each one
# builds, returns the expected results and produces a figure for every case.
# It checks nothing about speed and leaves docs/benchmarks.md unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "") smoke=false ;;
  --smoke) smoke=true ;;
  *)
    echo "usage: scripts/bench.sh [--smoke]" >&2
    exit 2
    ;;
esac

log() { printf 'bench: %s\n' "$*" >&2; }

# samples per case, milliseconds per batch, warm-up milliseconds (Rust and
# Node, then Java, whose JIT needs longer), pipeline sizes, pipeline and
# corpus samples, and iterations per case under callgrind
if $smoke; then
  samples=3 batch_ms=1 warmup_ms=2 java_warmup_ms=20
  pipeline_steps=(10 100) pipeline_samples=3 profile_iterations=5
else
  samples=21 batch_ms=20 warmup_ms=200 java_warmup_ms=1500
  pipeline_steps=(10 100 1000 10000) pipeline_samples=11 profile_iterations=500
fi
# Seconds one pipeline size may take in one runtime before it is reported as
# not measured, so that a resolver slower than linear cannot stall the run.
pipeline_timeout=300

out=target/bench
results=$out/results.jsonl
workload=benches/workload.json
corpus=../shared/corpus/harness
jexl_jar=/usr/share/java/commons-jexl3.jar
logging_jar=/usr/share/java/commons-logging.jar
mkdir -p "$out"
: >"$results"

for tool in java javac node python3 valgrind /usr/bin/time; do
  command -v "$tool" >/dev/null || { log "missing $tool: run scripts/setup.sh"; exit 2; }
done
for jar in "$jexl_jar" "$logging_jar"; do
  [[ -f $jar ]] || { log "missing $jar: run scripts/setup.sh"; exit 2; }
done
[[ -d $corpus ]] || { log "missing the corpus at $corpus"; exit 2; }

log "building the Rust harness"
cargo build --release --quiet --manifest-path benches/peers/Cargo.toml --target-dir target
peers=target/release/basso-bench-peers

# The wasm rows need the npm package. A checkout without its build script
# reports them as not measured, visibly, in the tables and in the log.
if [[ -x scripts/build-pkg.sh ]]; then
  log "building the wasm package"
  scripts/build-pkg.sh >&2
  wasm=true
else
  log "no scripts/build-pkg.sh in this checkout: the wasm rows are not measured"
  wasm=false
fi

# Prints a line that the report shows as a measurement that was not made.
unavailable() {
  python3 -c 'import json, sys; print(json.dumps({"kind": "unavailable", "what": sys.argv[1], "reason": sys.argv[2]}))' "$1" "$2"
}
no_package="this checkout has no scripts/build-pkg.sh to build the npm package"

log "expressions: basso, cel, evalexpr, minijinja"
"$peers" expressions "$workload" "$samples" "$batch_ms" "$warmup_ms" >>"$results"

log "expressions: JEXL $(dpkg-query -W -f='${Version}' libcommons-jexl3-java)"
rm -rf "$out/jexl"
javac -d "$out/jexl" -cp "$jexl_jar" benches/jexl/JexlBench.java
java -cp "$jexl_jar:$logging_jar:$out/jexl" JexlBench \
  "$workload" "$samples" "$batch_ms" "$java_warmup_ms" >>"$results"

if $wasm; then
  log "expressions: basso in wasm under Node"
  node benches/node/bench.mjs expressions "$workload" "$samples" "$batch_ms" "$warmup_ms" >>"$results"
else
  unavailable "basso-wasm, evaluate a parsed expression" "$no_package" >>"$results"
  unavailable "basso-wasm, parse and evaluate" "$no_package" >>"$results"
fi

# Each size runs in a process of its own, so that the maximum resident set
# size belongs to that size alone.
for steps in "${pipeline_steps[@]}"; do
  log "pipelines: $steps steps"
  yaml=$out/pipeline-$steps.yaml
  "$peers" pipeline-yaml "$steps" >"$yaml"

  status=0
  timeout "$pipeline_timeout" /usr/bin/time -v -o "$out/time-native-$steps.txt" \
    "$peers" pipeline "$yaml" "$steps" "$pipeline_samples" >"$out/native-$steps.json" || status=$?
  if ((status == 124)); then
    log "native pipelines: $steps steps took more than $pipeline_timeout s"
    unavailable "native pipeline resolution, $steps steps" \
      "$pipeline_samples resolutions and the warm-up took more than $pipeline_timeout s" >>"$results"
  elif ((status != 0)); then
    exit "$status"
  else
    rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/time-native-$steps.txt")
    python3 -c '
import json, sys
record = json.load(open(sys.argv[1]))
record["max_rss_kib"] = int(sys.argv[2])
print(json.dumps(record))
' "$out/native-$steps.json" "$rss_kib" >>"$results"
  fi

  # The same resolutions, each also written as JSON text: the output the
  # wasm timing below includes.
  status=0
  timeout "$pipeline_timeout" "$peers" pipeline-json "$yaml" "$steps" "$pipeline_samples" \
    >>"$results" || status=$?
  if ((status == 124)); then
    log "native pipelines with JSON text: $steps steps took more than $pipeline_timeout s"
    unavailable "native-json pipeline resolution, $steps steps" \
      "$pipeline_samples resolutions and the warm-up took more than $pipeline_timeout s" >>"$results"
  elif ((status != 0)); then
    exit "$status"
  fi

  if $wasm; then
    status=0
    timeout "$pipeline_timeout" node benches/node/bench.mjs pipeline "$yaml" "$steps" "$pipeline_samples" \
      >>"$results" || status=$?
    if ((status == 124)); then
      log "wasm pipelines: $steps steps took more than $pipeline_timeout s"
      unavailable "wasm pipeline resolution, $steps steps" \
        "$pipeline_samples resolutions and the warm-up took more than $pipeline_timeout s" >>"$results"
    elif ((status != 0)); then
      exit "$status"
    fi
  else
    unavailable "wasm pipeline resolution, $steps steps" "$no_package" >>"$results"
  fi
done

log "corpus: every pipeline in $corpus"
"$peers" corpus "$corpus" "$pipeline_samples" >>"$results"

# Instruction counts do not drift with the load of the machine. The release
# build keeps its symbols, which is all the dumps need. Each case
# runs one batch of one iteration and then one of $profile_iterations, and
# callgrind writes a dump after each batch, so every even-numbered dump
# contains the steady-state iterations of one case.
for mode in evaluate parse_evaluate; do
  log "callgrind: basso, $mode"
  dumps=$out/callgrind-$mode
  rm -rf "$dumps"
  mkdir -p "$dumps"
  valgrind --tool=callgrind --dump-after='*profile_batch*' \
    --callgrind-out-file="$dumps/callgrind.out" \
    "$peers" profile "$workload" "$profile_iterations" "$mode" \
    >"$dumps/cases.txt" 2>"$dumps/valgrind.log"
  python3 -c '
import json, re, sys
folder, mode, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases = open(f"{folder}/cases.txt").read().split()
for index, case in enumerate(cases):
    dump = open(f"{folder}/callgrind.out.{2 * index + 2}").read()
    total = int(re.search(r"^totals: (\d+)", dump, re.M).group(1))
    print(json.dumps({"kind": "instructions", "mode": mode, "case": case,
                      "per_iteration": round(total / iterations)}))
' "$dumps" "$mode" "$profile_iterations" >>"$results"
done

python3 -c '
import datetime, json, os, platform, re, subprocess, sys

def run(*command):
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return (done.stdout + done.stderr).strip()

cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
memory = re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read())
machine = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "cpu": cpu.group(1) if cpu else platform.machine(),
    "cores": str(os.cpu_count()),
    "memory": f"{int(memory.group(1)) / 1024 / 1024:.0f} GiB" if memory else "unknown",
    "kernel": platform.release(),
    "rustc": run("rustc", "--version"),
    "java": run("java", "-version").splitlines()[0],
    "jexl": "libcommons-jexl3-java " + run("dpkg-query", "-W", "-f=${Version}", "libcommons-jexl3-java"),
    "node": run("node", "--version"),
    "command": "scripts/bench.sh --smoke" if sys.argv[2] == "true" else "scripts/bench.sh",
}
json.dump(machine, open(sys.argv[1], "w"), indent=2)
' "$out/machine.json" "$smoke"

if $smoke; then
  python3 scripts/bench-report.py "$results" "$workload" "$out/machine.json" docs/benchmarks.md --check-only
else
  python3 scripts/bench-report.py "$results" "$workload" "$out/machine.json" docs/benchmarks.md
fi
