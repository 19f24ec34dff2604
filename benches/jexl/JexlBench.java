// Times Apache Commons JEXL 3 on the shared workload (benches/workload.json).
//
// Usage: java -cp JEXL_JAR:LOGGING_JAR:CLASSES JexlBench WORKLOAD SAMPLES BATCH_MILLIS WARMUP_MILLIS
//
// Prints one JSON object per line for each case and mode, in the format that
// scripts/bench-report.py reads. Exits 1 when a result differs from the
// workload's expected value, so a smoke run catches a broken spelling.

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.apache.commons.jexl3.JexlBuilder;
import org.apache.commons.jexl3.JexlContext;
import org.apache.commons.jexl3.JexlEngine;
import org.apache.commons.jexl3.JexlExpression;
import org.apache.commons.jexl3.MapContext;

public final class JexlBench {
    private static volatile Object sink;

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: JexlBench WORKLOAD SAMPLES BATCH_MILLIS WARMUP_MILLIS");
            System.exit(2);
        }
        String text = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
        int samples = Integer.parseInt(args[1]);
        double batchMillis = Double.parseDouble(args[2]);
        double warmupMillis = Double.parseDouble(args[3]);

        // A JSON document without empty objects is a valid JEXL map literal,
        // which spares the harness a JSON library.
        JexlEngine reader = new JexlBuilder().cache(0).create();
        @SuppressWarnings("unchecked")
        Map<String, Object> workload =
                (Map<String, Object>) reader.createExpression(text).evaluate(new MapContext());
        @SuppressWarnings("unchecked")
        Map<String, Object> roots = (Map<String, Object>) workload.get("context");
        JexlContext context = new MapContext(roots);

        // Evaluate-only reuses parsed expressions, so its engine keeps the
        // expression cache on; parse-and-evaluate must parse every time.
        JexlEngine cached = new JexlBuilder().cache(512).debug(false).create();
        JexlEngine uncached = new JexlBuilder().cache(0).debug(false).create();

        boolean failed = false;
        for (Object item : (Object[]) workload.get("cases")) {
            @SuppressWarnings("unchecked")
            Map<String, Object> testCase = (Map<String, Object>) item;
            String id = (String) testCase.get("id");
            Object spelling = testCase.get("jexl");
            if (!(spelling instanceof String)) {
                continue;
            }
            String source = (String) spelling;
            String expected = String.valueOf(testCase.get("expect"));

            String actual = String.valueOf(uncached.createExpression(source).evaluate(context));
            if (!expected.equals(actual)) {
                System.err.printf("jexl: case %s returned `%s`, expected `%s`%n", id, actual, expected);
                failed = true;
                continue;
            }

            JexlExpression parsed = cached.createExpression(source);
            Runnable evaluate = () -> sink = parsed.evaluate(context);
            Runnable parseAndEvaluate = () -> sink = uncached.createExpression(source).evaluate(context);
            report(id, "evaluate", measure(evaluate, samples, batchMillis, warmupMillis));
            report(id, "parse_evaluate", measure(parseAndEvaluate, samples, batchMillis, warmupMillis));
        }
        System.exit(failed ? 1 : 0);
    }

    /** Returns per-iteration nanoseconds of each sample, sorted. */
    private static double[] measure(Runnable body, int samples, double batchMillis, double warmupMillis) {
        // Warm-up runs until the JIT has compiled the hot path, then sizes the
        // batch so that one sample takes about batchMillis.
        long warmupEnd = System.nanoTime() + (long) (warmupMillis * 1e6);
        long iterations = 0;
        long start = System.nanoTime();
        do {
            body.run();
            iterations++;
        } while (System.nanoTime() < warmupEnd);
        double nanosPerIteration = (double) (System.nanoTime() - start) / iterations;
        long batch = Math.max(1, (long) (batchMillis * 1e6 / nanosPerIteration));

        double[] perIteration = new double[samples];
        for (int sample = 0; sample < samples; sample++) {
            long begin = System.nanoTime();
            for (long i = 0; i < batch; i++) {
                body.run();
            }
            perIteration[sample] = (double) (System.nanoTime() - begin) / batch;
        }
        Arrays.sort(perIteration);
        return perIteration;
    }

    private static void report(String id, String mode, double[] sorted) {
        int n = sorted.length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        double q1 = sorted[(n - 1) / 4];
        double q3 = sorted[(3 * (n - 1)) / 4];
        System.out.printf(
                "{\"engine\":\"jexl\",\"mode\":\"%s\",\"case\":\"%s\",\"median_ns\":%.1f,"
                        + "\"iqr_ns\":%.1f,\"samples\":%d}%n",
                mode, id, median, q3 - q1, n);
    }
}
