//! The process's allocator: mimalloc, also serving librdkafka's C allocations (the
//! `override` feature replaces `malloc` and `free`). At 100-byte records glibc's malloc
//! and free took about 30 % of the process's CPU, and twenty workers' threads left its
//! arenas fragmented (issue 17; figures in bench/REPORT.md).

use libmimalloc_sys::{mi_option_set, mi_option_t};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's option numbers (`mi_option_e` in its `mimalloc.h`), which its Rust
/// bindings do not name; the test below checks them against the linked library.
const ARENA_EAGER_COMMIT: mi_option_t = 4;
const PURGE_DELAY: mi_option_t = 15;

/// Gives memory back to the OS as soon as it is free, and commits arenas as they are
/// used. mimalloc's defaults (a 1 s purge delay, eager commit) doubled peak RSS at the
/// same throughput; with these the memory follows the records in flight.
pub fn tune() {
    // SAFETY: setting an option is safe at any time; both are read where they apply.
    unsafe {
        mi_option_set(PURGE_DELAY, 0);
        mi_option_set(ARENA_EAGER_COMMIT, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    #[test]
    fn the_option_numbers_are_those_of_the_linked_mimalloc() {
        // Their documented defaults tell the two options apart from their neighbours.
        // SAFETY: reading an option is safe at any time.
        let (eager, delay) = unsafe {
            (
                mi_option_get(ARENA_EAGER_COMMIT),
                mi_option_get(PURGE_DELAY),
            )
        };
        assert_eq!(
            (eager, delay),
            (2, 1000),
            "tune() must not have run in this test binary"
        );
    }
}
