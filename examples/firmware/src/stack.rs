//! Peak stack measurement by painting: fill the free stack below the current stack pointer with
//! a pattern, run the code, and find the lowest word that changed.

use core::ptr::{read_volatile, write_volatile};

const PATTERN: u32 = 0xCCCC_CCCC;
/// Words left unpainted just below the stack pointer (the painting loop's own frame).
const GUARD_BYTES: usize = 64;

unsafe extern "C" {
    /// End of .bss / start of the (unused) heap region: the stack may grow down to here.
    static __sheap: u32;
}

fn heap_start() -> usize {
    core::ptr::addr_of!(__sheap) as usize
}

/// Bytes between the end of static data and the current stack pointer.
pub fn available() -> usize {
    cortex_m::register::msp::read() as usize - heap_start()
}

/// Runs `f` and returns the deepest stack it used, in bytes below the caller's stack pointer.
#[inline(never)]
pub fn peak<R>(f: impl FnOnce() -> R) -> usize {
    let top = cortex_m::register::msp::read() as usize - GUARD_BYTES;
    let bottom = (heap_start() + 3) & !3;
    let mut address = bottom;
    while address < top {
        // SAFETY: [bottom, top) lies between the end of static data and the live stack frames,
        // memory nothing else uses while this function runs.
        unsafe { write_volatile(address as *mut u32, PATTERN) };
        address += 4;
    }
    core::hint::black_box(f());
    let mut lowest = bottom;
    // SAFETY: as above; reading back the words written.
    while lowest < top && unsafe { read_volatile(lowest as *const u32) } == PATTERN {
        lowest += 4;
    }
    top + GUARD_BYTES - lowest
}
