// A module worker for the package's browser tests. It loads the package,
// then replies to each `{ depth }` message with the outcome of `render` with a
// context value nested `depth` levels deep below its root key `x`.
import init, { render } from "/pkg/basso.js";

const loaded = init();

self.addEventListener("message", async (event) => {
  await loaded;
  let value = 1;
  for (let level = 0; level < event.data.depth; level++) value = { a: value };
  try {
    const outcome = render("<+x>", { x: value });
    self.postMessage({ ok: `value of ${outcome.value?.length} characters` });
  } catch (error) {
    self.postMessage({ error: `${error.constructor.name}: ${error.message}` });
  }
});
