//! The library's unit tests' level request (included from
//! `src/lane/testing.rs` under `cfg(test)`): a per-thread choice, so parallel
//! tests do not see each other's, counted per level.

extern crate std;
use crate::lane::Level;
use core::cell::Cell;

std::thread_local! {
    static WANTED: Cell<Option<Level>> = const { Cell::new(None) };
    static RAN: Cell<[u64; 6]> = const { Cell::new([0; 6]) };
}

/// The hook: this thread's request (counted), or the default level.
fn choose(level: Level) -> Level {
    let Some(wanted) = WANTED.with(Cell::get) else {
        return level;
    };
    RAN.with(|r| {
        let mut counts = r.get();
        if let Some(c) = counts.get_mut(wanted as usize) {
            *c += 1;
        }
        r.set(counts);
    });
    wanted
}
static HOOK: crate::lane::testing::Hook = choose;

/// Runs `f` with every loss call on this thread at `level`.
pub(crate) fn with_level<R>(level: Level, f: impl FnOnce() -> R) -> R {
    crate::lane::testing::install(&HOOK);
    let before = WANTED.with(|w| w.replace(Some(level)));
    let out = f();
    WANTED.with(|w| w.set(before));
    out
}

/// How many calls this thread has run at `level` through [`with_level`].
pub(crate) fn runs(level: Level) -> u64 {
    RAN.with(Cell::get)
        .get(level as usize)
        .copied()
        .unwrap_or(0)
}
