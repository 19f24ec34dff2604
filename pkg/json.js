// Writes the JSON text of the object arguments (contexts and options) that
// the wasm module reads with serde_json.
//
// The rules are those the package applied when it converted JavaScript
// values with serde-wasm-bindgen 0.6, so that callers see the same results:
//
// - `undefined` is `null`, in object properties too: `{ a: undefined }`
//   keeps the key `a`, which `JSON.stringify` would drop.
// - Numbers that are safe integers are integers. Other finite numbers are
//   floats, even integral ones beyond 2^53 such as 1e18, so that arithmetic
//   on them stays in floats. NaN and the infinities are `null`. `-0` is the
//   float -0.0, which is how serde_json reads `-0` and `-0.0` in the JSON
//   files of the command line.
// - A BigInt is an exact integer and must lie in -2^63 to 2^63 - 1, the
//   range of basso's integers (i64). A larger one would become a float.
// - A Map is an object, and its keys must be strings.
// - Other objects contribute their own enumerable string-keyed properties,
//   and `toJSON` is never called: a Date is `{}`.
// - Functions, symbols, Sets, typed arrays, ArrayBuffers and other iterable
//   objects have no JSON value and throw an `Error`.
//
// Cycles and values nested deeper than MAX_DEPTH throw an `Error` too.
// Before the package passed JSON text, it crashed on both.

/**
 * Levels of nesting an argument may have. The package handled 1,000 levels
 * when it read JavaScript values directly and overflowed the stack at 2,000.
 * The wasm module parses arguments without a depth limit of its own and
 * relies on this one, because in Node 20 it exhausts the stack at about
 * 1,470 levels.
 */
const MAX_DEPTH = 1000;

const MIN_I64 = -(2n ** 63n);
const MAX_I64 = 2n ** 63n - 1n;

/**
 * Returns the JSON text of `value` for the wasm module. `argument` names the
 * argument ("context", "options") in the messages of the errors it throws.
 */
export function toJsonText(value, argument) {
  // Most arguments are plain JSON data, which JSON.stringify writes by the
  // rules above. It escapes a lone surrogate as `\udXXX`, which serde_json
  // rejects, so such text (and text that merely contains `\ud`, a rare false
  // positive) goes to the writer below, which replaces lone surrogates with
  // U+FFFD as the package did before.
  if (isPlainJson(value, 0)) {
    const text = JSON.stringify(value);
    if (!text.includes("\\ud")) return text;
  }
  return new JsonWriter(argument).write(value);
}

/**
 * Returns whether `JSON.stringify` writes `value` by the package's rules: it
 * contains only null, booleans, strings, safe integers other than -0,
 * non-integral finite numbers, arrays without holes and objects whose prototype is
 * `Object.prototype` or null, none with an own or inherited `toJSON`
 * (which `JSON.stringify` would call) or a getter, at most MAX_DEPTH levels
 * deep.
 */
function isPlainJson(value, depth) {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      // JSON.stringify writes -0 as `0`, an integer.
      if (Object.is(value, -0)) return false;
      return Number.isSafeInteger(value) || (Number.isFinite(value) && !Number.isInteger(value));
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth >= MAX_DEPTH) return false;
  // `in` also finds a non-enumerable toJSON and one on Array.prototype or
  // Object.prototype, without calling a getter.
  if ("toJSON" in value) return false;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      if (!isPlainJson(value[index], depth + 1)) return false;
    }
    return true;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  for (const key in value) {
    // A getter goes to the writer, so that it runs once.
    const property = Object.getOwnPropertyDescriptor(value, key);
    if (property === undefined || !("value" in property)) return false;
    if (!isPlainJson(property.value, depth + 1)) return false;
  }
  return true;
}

/**
 * Writes any value by the package's rules, with the path of each value for
 * error messages. It keeps the objects being written on an explicit stack:
 * a recursive writer overflowed the stack of a Chromium module worker near
 * MAX_DEPTH levels, before the depth check could throw.
 */
class JsonWriter {
  constructor(argument) {
    this.argument = argument;
    // The keys from the argument to the value being written.
    this.path = [];
  }

  write(root) {
    // One frame per object or array being written, outermost first.
    const frames = [];
    let value = root;
    for (;;) {
      let text;
      if (typeof value === "object" && value !== null) {
        frames.push(this.open(value, frames));
      } else {
        text = this.scalar(value);
      }
      // Append each finished text to its parent, closing every parent whose
      // members are all written, until a member remains to be written.
      for (;;) {
        const frame = frames.at(-1);
        if (frame === undefined) return text;
        if (text !== undefined) {
          const key = this.path.pop();
          frame.members.push(frame.isArray ? text : `${JSON.stringify(key.toWellFormed())}:${text}`);
          text = undefined;
        }
        if (frame.next < frame.keys.length) {
          const key = frame.keys[frame.next++];
          this.path.push(key);
          value = frame.valueOf(key);
          break;
        }
        frames.pop();
        text = frame.isArray ? `[${frame.members.join(",")}]` : `{${frame.members.join(",")}}`;
      }
    }
  }

  scalar(value) {
    switch (typeof value) {
      case "undefined":
        return "null";
      case "boolean":
        return value ? "true" : "false";
      case "number":
        return numberText(value);
      case "bigint":
        if (value < MIN_I64 || value > MAX_I64) {
          throw this.invalid(
            `is the BigInt ${value}, outside -2^63 to 2^63 - 1, the range of exact integers; ` +
              "pass a Number to use a float",
          );
        }
        return String(value);
      case "string":
        // NOTE: toWellFormed needs Node 20, Chrome 111, Firefox 119 or
        // Safari 16.4; older browsers throw a TypeError on this path.
        return JSON.stringify(value.toWellFormed());
      case "function":
        throw this.invalid("is a function, which has no JSON value");
      case "symbol":
        throw this.invalid("is a symbol, which has no JSON value");
      default:
        return "null";
    }
  }

  /**
   * Returns the frame that writes `object`'s members, or throws for a cycle,
   * a value nested more than MAX_DEPTH levels and a type without JSON value.
   */
  open(object, frames) {
    if (frames.some((frame) => frame.object === object)) {
      throw this.invalid("contains itself (a reference cycle), which JSON cannot represent");
    }
    if (frames.length >= MAX_DEPTH) {
      throw this.invalid(`is nested more than ${MAX_DEPTH} levels deep`);
    }
    const frame = { object, isArray: false, keys: [], valueOf: undefined, next: 0, members: [] };
    if (Array.isArray(object)) {
      frame.isArray = true;
      frame.keys = Array.from({ length: object.length }, (_, index) => index);
      frame.valueOf = (index) => object[index];
    } else if (object instanceof Map) {
      for (const key of object.keys()) {
        if (typeof key !== "string") {
          throw this.invalid(`is a Map with the key ${String(key)}, which is not a string`);
        }
      }
      frame.keys = [...object.keys()];
      frame.valueOf = (key) => object.get(key);
    } else if (
      object instanceof Number ||
      object instanceof Boolean ||
      object instanceof String ||
      object instanceof BigInt ||
      object instanceof Symbol
    ) {
      const type = object.constructor.name;
      throw this.invalid(`is of type ${type}, a boxed primitive; pass the primitive value itself`);
    } else if (object instanceof ArrayBuffer || Symbol.iterator in object) {
      const type = object.constructor?.name ?? "iterable object";
      throw this.invalid(`is of type ${type}, which has no JSON value; pass an array or a plain object`);
    } else {
      frame.keys = Object.keys(object);
      frame.valueOf = (key) => object[key];
    }
    return frame;
  }

  /** Returns the `Error` for the value being written, named by its path. */
  invalid(problem) {
    const location = this.path.length === 0 ? "the value" : `\`${pathText(this.path)}\``;
    return new Error(`invalid ${this.argument}: ${location} ${problem}`);
  }
}

/** Returns the JSON text of a number that serde_json reads back as the same integer or f64. */
function numberText(number) {
  if (Object.is(number, -0)) return "-0.0";
  if (Number.isSafeInteger(number)) return String(number);
  if (!Number.isFinite(number)) return "null";
  // Integral numbers beyond 2^53 print without a fraction (1e18 prints as
  // 1000000000000000000), which serde_json would read as an integer.
  const text = String(number);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

/** Returns a path such as `pipeline.stages[0].name`. */
function pathText(path) {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") {
      text += `[${key}]`;
    } else if (text === "") {
      text = key;
    } else {
      text += `.${key}`;
    }
  }
  return text;
}
