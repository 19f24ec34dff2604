//! Work that resolution may run on two cores at once. Natively, the two
//! halves of [`join`] run on basso's own pool of threads, which lives as
//! long as the process, so that no call pays for starting threads. In
//! WebAssembly, and on a machine with one core, they run one after the
//! other.

/// Stack of each pool thread: the size Linux gives a main thread, so that
/// nesting goes as deep on a pool thread as on the caller's.
#[cfg(not(target_arch = "wasm32"))]
const STACK_BYTES: usize = 8 * 1024 * 1024;

/// Runs `first` and `second`, at once on two threads when `parallel` and
/// the pool is available, else `first` and then `second` on this thread.
/// A panic in either is passed on to the caller.
pub fn join<A, B, RA, RB>(parallel: bool, first: A, second: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    #[cfg(not(target_arch = "wasm32"))]
    if parallel && let Some(pool) = pool() {
        return pool.join(first, second);
    }
    #[cfg(target_arch = "wasm32")]
    let _ = parallel;
    (first(), second())
}

/// Returns the pool of two threads, or `None` on a single core or when the
/// threads could not be started.
#[cfg(not(target_arch = "wasm32"))]
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if cores < 2 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .stack_size(STACK_BYTES)
            .thread_name(|index| format!("basso-resolve-{index}"))
            .build()
            .ok()
    })
    .as_ref()
}
