//! The runtime every binary runs on: jemalloc as the process's allocator, then a
//! multi-threaded tokio runtime, as `#[tokio::main]` builds it.
//!
//! Records are allocated on librdkafka's threads and freed on tokio's, and the other
//! way round; glibc's per-thread caches cannot absorb that, and its arena locks were a
//! quarter of the CPU at 100-byte records (issue 17). jemalloc takes librdkafka's
//! allocations too (unprefixed `malloc` on Linux), so both sides share one allocator.

use std::future::Future;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation (the `malloc_conf` global of
/// jemalloc(3); `MALLOC_CONF` in the environment still overrides them). Measured on the
/// bench at 100-byte records, 8 workers, against jemalloc's defaults (issue 17):
/// - `narenas:2`: two arenas, as the process has two cores' worth of work; the default
///   of four per core held 15 MiB more at peak.
/// - `dirty_decay_ms:200,muzzy_decay_ms:0`: freed pages go back to the system within
///   0.2 s, not 10 s; at 0 (at once) each free's `madvise` cost 60 % more CPU.
/// - `lg_tcache_nslots_mul:-2`: per-thread caches a quarter of the default size; a
///   worker's clients run many threads, each with its own cache.
/// - `tcache_max:1024`: those caches keep allocations up to 1 KiB only (default 32 KiB):
///   2-4 MiB less at peak at 20 slots and at 100-byte records, with the same CPU per
///   record; without any cache (`tcache:false`) 100-byte records cost twice the CPU.
#[cfg(target_os = "linux")]
#[unsafe(no_mangle)]
#[used]
#[allow(non_upper_case_globals)]
static malloc_conf: &[u8; 86] =
    b"narenas:2,dirty_decay_ms:200,muzzy_decay_ms:0,lg_tcache_nslots_mul:-2,tcache_max:1024\0";

/// Runs `future` to completion on a new tokio runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime")
        .block_on(future)
}
