// Times basso's WebAssembly build (the npm package in pkg/) under Node, with
// the same timing loop as benches/peers and benches/jexl.
//
//   node benches/node/bench.mjs expressions WORKLOAD SAMPLES BATCH_MILLIS WARMUP_MILLIS
//   node benches/node/bench.mjs pipeline FILE STEPS SAMPLES
//
// Prints one JSON line per measurement to stdout, in the format that
// scripts/bench-report.py reads. A measurement the package cannot make yet
// is printed as {"kind": "unavailable", "what", "reason"}, so that the
// report shows the gap. Exits 1 when a result differs from the workload's
// expected value, and 2 for a usage error.

import { readFileSync } from "node:fs";

import * as basso from "../../pkg/node.js";
import { initSync } from "../../pkg/web/basso.js";

const USAGE = `usage: node benches/node/bench.mjs expressions WORKLOAD SAMPLES BATCH_MILLIS WARMUP_MILLIS
       node benches/node/bench.mjs pipeline FILE STEPS SAMPLES`;

// Batch length of the pipeline timings, as in benches/peers. The warm-up is
// longer than the native 20 ms because V8 runs each wasm function as baseline
// (Liftoff) code first and replaces it with optimized (TurboFan) code once
// the function is hot. With Node 20.20.2 the 10-step pipeline took 5 to 10
// times its steady time during the first 100 to 300 ms.
const WHOLE_FILE_BATCH_MILLIS = 5;
const WHOLE_FILE_WARMUP_MILLIS = 2000;

function main(args) {
  const [command, ...rest] = args;
  if (command === "expressions" && rest.length === 4) {
    return expressions(rest[0], count(rest[1]), millis(rest[2]), millis(rest[3]));
  }
  if (command === "pipeline" && rest.length === 3) {
    return pipeline(rest[0], count(rest[1]), count(rest[2]));
  }
  usage(`unknown command or wrong number of arguments`);
}

function usage(message) {
  console.error(`bench.mjs: ${message}\n${USAGE}`);
  process.exit(2);
}

function count(text) {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) usage(`expected a positive integer, got \`${text}\``);
  return value;
}

function millis(text) {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) usage(`expected a positive number of milliseconds, got \`${text}\``);
  return value;
}

/**
 * Returns the per-iteration nanoseconds of `samples` batches, sorted, and
 * the process's CPU nanoseconds per iteration over those batches.
 */
function measure(body, samples, batchMillis, warmupMillis) {
  const start = process.hrtime.bigint();
  const warmupEnd = start + BigInt(Math.round(warmupMillis * 1e6));
  let iterations = 0;
  let sink;
  do {
    sink = body();
    iterations++;
  } while (process.hrtime.bigint() < warmupEnd);
  const nanosPerIteration = Number(process.hrtime.bigint() - start) / iterations;
  const batch = Math.max(1, Math.floor((batchMillis * 1e6) / nanosPerIteration));

  const perIteration = [];
  const cpuBegin = process.cpuUsage();
  for (let sample = 0; sample < samples; sample++) {
    const begin = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) sink = body();
    perIteration.push(Number(process.hrtime.bigint() - begin) / batch);
  }
  const cpu = process.cpuUsage(cpuBegin);
  globalThis.benchSink = sink;
  return {
    sorted: perIteration.sort((a, b) => a - b),
    cpuNanosPerIteration: ((cpu.user + cpu.system) * 1000) / (samples * batch),
  };
}

/** Median and interquartile range, with the quartile indexes of the other harnesses. */
function summarize(sorted) {
  const n = sorted.length;
  const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const q1 = sorted[Math.floor((n - 1) / 4)];
  const q3 = sorted[Math.floor((3 * (n - 1)) / 4)];
  return {
    median_ns: Math.round(median * 10) / 10,
    iqr_ns: Math.round((q3 - q1) * 10) / 10,
    samples: n,
  };
}

function text(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function expressions(path, samples, batchMillis, warmupMillis) {
  const workload = JSON.parse(readFileSync(path, "utf8"));
  const context = workload.context;
  let failed = false;

  for (const testCase of workload.cases) {
    const run = testCase.op === "render" ? basso.render : basso.evaluate;
    const call = () => run(testCase.basso, context, {});

    const outcome = call();
    const expected = text(testCase.expect);
    if (outcome.error !== undefined || text(outcome.value) !== expected) {
      const actual = outcome.error !== undefined ? `error ${outcome.error.message}` : `\`${text(outcome.value)}\``;
      console.error(`basso-wasm: case ${testCase.id} returned ${actual}, expected \`${expected}\``);
      failed = true;
      continue;
    }

    // Each call writes the context as JSON text, parses it in wasm, parses
    // the template and evaluates it, because the package has no handle to a
    // parsed context or template.
    // `cpu_ns` is the whole Node process's CPU time per call, which a
    // loaded machine inflates less than the wall time.
    const { sorted, cpuNanosPerIteration } = measure(call, samples, batchMillis, warmupMillis);
    const line = {
      engine: "basso-wasm",
      mode: "parse_evaluate",
      case: testCase.id,
      ...summarize(sorted),
      cpu_ns: Math.round(cpuNanosPerIteration),
    };
    console.log(JSON.stringify(line));
  }

  console.log(
    JSON.stringify({
      kind: "unavailable",
      what: "basso-wasm, evaluate a parsed expression",
      reason: "the npm package parses the template on every call to `render` and `evaluate`",
    }),
  );
  return failed ? 1 : 0;
}

function pipeline(path, steps, samples) {
  if (typeof basso.resolve !== "function") {
    console.log(
      JSON.stringify({
        kind: "unavailable",
        what: `wasm pipeline resolution, ${steps} steps`,
        reason: "the npm package exports no `resolve`",
      }),
    );
    return 0;
  }

  const source = readFileSync(path, "utf8");
  const context = {
    pipeline: { sequenceId: 4127, executionId: "Yx9kQ2LmT0aZ7Wc1bN3e8A" },
    codebase: { branch: "release/Payments-2.4", shortCommitSha: "9f2c1e7", build: { type: "branch" } },
  };
  const call = () => basso.resolve(source, { file: path, context });
  // The first call of the process runs on code V8 compiles lazily, so it
  // shows what a caller that resolves once per process waits for.
  const firstCallStart = process.hrtime.bigint();
  call();
  const firstCallNanos = Number(process.hrtime.bigint() - firstCallStart);
  const { sorted, cpuNanosPerIteration } = measure(call, samples, WHOLE_FILE_BATCH_MILLIS, WHOLE_FILE_WARMUP_MILLIS);

  // Linear memory only grows, so its size after the runs is its peak. The
  // module is already instantiated by pkg/node.js, and wasm-bindgen's
  // initSync then returns its exports without reading the argument.
  const memory = initSync({ module: new Uint8Array() }).memory;
  const line = {
    kind: "pipeline",
    runtime: "wasm",
    steps,
    ...summarize(sorted),
    cpu_ns: Math.round(cpuNanosPerIteration),
    first_call_ns: firstCallNanos,
    wasm_memory_kib: Math.round(memory.buffer.byteLength / 1024),
  };
  console.log(JSON.stringify(line));
  return 0;
}

process.exitCode = main(process.argv.slice(2));
