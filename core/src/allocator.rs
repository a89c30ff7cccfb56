//! The server's global allocator: mimalloc, entered through its plain
//! `malloc` family whenever the layout asks for no more alignment than
//! `malloc` gives anyway.
//!
//! The `mimalloc` crate's allocator calls `mi_malloc_aligned` for every
//! allocation. In mimalloc 3 that entry serves blocks above 1 KiB through
//! an over-allocating slow path whatever the alignment, a 1.5 KB
//! `Vec<u8>` (alignment 1) included: read buffers, header tables and
//! futures took it about ten times per proxied request, and the blocks it
//! hands out are slower to free. std's `System` allocator makes the same
//! choice on top of glibc.
//!
//! With the `override` feature of `libmimalloc-sys` the process's own
//! `malloc` and `free` are mimalloc's as well, so the plugins (which call
//! `malloc`) share these heaps.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

/// The alignment every `malloc` block has when it is at least this large:
/// mimalloc, like glibc, aligns to `max_align_t` (16 bytes on 64-bit
/// targets; an 8-byte block is 8-aligned, hence the size condition).
const MALLOC_ALIGN: usize = if cfg!(target_pointer_width = "64") {
    16
} else {
    8
};

/// mimalloc as the global allocator (see the module comment).
pub struct Mimalloc;

/// True when `malloc(size)` already returns memory aligned for `align`.
#[inline]
fn malloc_aligns(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

// SAFETY: every method forwards to the mimalloc function for the same job;
// blocks from any of them may be freed or resized by any other (mimalloc
// finds a block's start from an aligned pointer itself), and the plain
// calls are used only where `malloc_aligns` holds for the new size.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if malloc_aligns(layout.align(), layout.size()) {
            mi_malloc(layout.size())
        } else {
            mi_malloc_aligned(layout.size(), layout.align())
        };
        p.cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if malloc_aligns(layout.align(), layout.size()) {
            mi_zalloc(layout.size())
        } else {
            mi_zalloc_aligned(layout.size(), layout.align())
        };
        p.cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = if malloc_aligns(layout.align(), new_size) {
            mi_realloc(ptr.cast::<c_void>(), new_size)
        } else {
            mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align())
        };
        p.cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aligned(p: *mut u8, align: usize) -> bool {
        !p.is_null() && (p as usize).is_multiple_of(align)
    }

    #[test]
    fn every_block_is_aligned_as_asked() {
        let a = Mimalloc;
        // Sizes on both sides of mimalloc's 1 KiB small-block limit and of
        // its size classes, with the alignments Rust types use, and larger
        // ones that must take the aligned entry.
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in (align..=9000).step_by(align.max(24)) {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // SAFETY: non-zero size; freed below with the same layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(aligned(p, align), "alloc {size} / {align}: {p:p}");
                    p.write_bytes(0xA5, size);
                    let z = a.alloc_zeroed(layout);
                    assert!(aligned(z, align), "alloc_zeroed {size} / {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|b| *b == 0));
                    a.dealloc(z, layout);
                    a.dealloc(p, layout);
                }
            }
        }
    }

    #[test]
    fn realloc_keeps_the_bytes_and_the_alignment() {
        let a = Mimalloc;
        for align in [1, 8, 16, 64] {
            let layout = Layout::from_size_align(align.max(16), align).expect("layout");
            // SAFETY: each step resizes the block it got from the previous
            // one, with the layout it had, and frees the last one.
            unsafe {
                let mut p = a.alloc(layout);
                let mut size = layout.size();
                for i in 0..size {
                    *p.add(i) = i as u8;
                }
                for new_size in [40, 1000, 1100, 5000, 300, 70_000, 24] {
                    let new_size = new_size.max(align);
                    let old = Layout::from_size_align(size, align).expect("layout");
                    p = a.realloc(p, old, new_size);
                    assert!(aligned(p, align), "realloc to {new_size} / {align}");
                    let kept = size.min(new_size);
                    for i in 0..kept {
                        assert_eq!(*p.add(i), i as u8, "byte {i} after realloc to {new_size}");
                    }
                    for i in kept..new_size {
                        *p.add(i) = i as u8;
                    }
                    size = new_size;
                }
                a.dealloc(p, Layout::from_size_align(size, align).expect("layout"));
            }
        }
    }
}
