//! [`HandlerFuture`]: the future of one async handler call, in memory each thread
//! recycles.
//!
//! Every call of an async handler makes one future (the wrapper the macro generates:
//! the extractions, the user's function, its outcome). In a `Box`, each cost the global
//! allocator a `malloc` and a `free`. Most calls end on the thread they began on
//! (inline, see `dispatch`), so each thread keeps the blocks of the futures dropped on
//! it, by size class, and the next future of that class takes one: a thread-local pop
//! and push. Measured with callgrind (bench `child-framework`, 10 calls per message,
//! glibc's allocator): 17,770 instructions per message with `Box`, 17,020 with this,
//! 4 % less.
//!
//! Bounds: blocks of 64 bytes to 4 KiB (a larger or more aligned future, or a
//! zero-sized one, is an ordinary `Box`), at most [`KEEP`] blocks per class and thread
//! (the rest go back to the global allocator), all freed when the thread ends.
//!
//! `unsafe`: what a `Box<dyn Future>` does for us, done here over blocks we keep: write
//! the future into its block, poll it pinned there, drop it once, free the block with
//! the layout it was allocated with. Each `unsafe` block says why it holds.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use crate::handler::Outcome;

type Dyn = dyn Future<Output = Outcome> + Send + 'static;

/// Size classes: blocks of `SMALLEST << class` bytes.
const CLASSES: usize = 7;
const SMALLEST: usize = 64;
/// The alignment of every block: enough for any future without an over-aligned field.
const ALIGN: usize = 16;
/// Blocks kept per class and thread.
const KEEP: usize = 32;

/// The future a generated async wrapper returns (see the module docs).
pub struct HandlerFuture(Inner);

enum Inner {
    /// In a block of size class `class`, owned by this value.
    Pooled {
        future: NonNull<Dyn>,
        class: usize,
    },
    Boxed(Pin<Box<Dyn>>),
}

// SAFETY: the future in the block is `Send` (a bound of `new`), and only this value
// reaches it: moving the value to another thread moves the future with it, as a `Box`
// does. (Not `Sync`, like `Box<dyn Future + Send>`.)
unsafe impl Send for HandlerFuture {}

impl HandlerFuture {
    /// `future`, in a recycled block when one of its size is free on this thread.
    pub fn new<F: Future<Output = Outcome> + Send + 'static>(future: F) -> HandlerFuture {
        let class = const { class_of(Layout::new::<F>()) };
        let Some(block) = take(class) else {
            return HandlerFuture(Inner::Boxed(Box::pin(future)));
        };
        let place = block.cast::<F>();
        // SAFETY: the block is unused, `block_layout(class)` fits `F` (`class_of`), and
        // nothing else points into it.
        unsafe { place.as_ptr().write(future) };
        let future: NonNull<Dyn> = place;
        HandlerFuture(Inner::Pooled { future, class })
    }
}

impl Future for HandlerFuture {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match &mut self.0 {
            // SAFETY: the future stays in its block, which does not move, until `drop`;
            // `&mut self` makes this the only reference to it.
            Inner::Pooled { future, .. } => unsafe { Pin::new_unchecked(future.as_mut()) }.poll(cx),
            Inner::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

impl Drop for HandlerFuture {
    fn drop(&mut self) {
        if let Inner::Pooled { future, class } = self.0 {
            /// Gives the block back even when the future's own drop panics.
            struct Release(NonNull<u8>, usize);
            impl Drop for Release {
                fn drop(&mut self) {
                    release(self.0, self.1);
                }
            }
            let _release = Release(future.cast::<u8>(), class);
            // SAFETY: `new` wrote the future into the block; it is dropped once, here.
            unsafe { std::ptr::drop_in_place(future.as_ptr()) };
        }
    }
}

impl std::fmt::Debug for HandlerFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandlerFuture")
    }
}

/// The class whose blocks fit `layout`, if any ([`CLASSES`]: none).
const fn class_of(layout: Layout) -> usize {
    if layout.size() == 0 || layout.align() > ALIGN {
        return CLASSES;
    }
    let mut class = 0;
    while class < CLASSES && SMALLEST << class < layout.size() {
        class += 1;
    }
    class
}

fn block_layout(class: usize) -> Option<Layout> {
    Layout::from_size_align(SMALLEST << class, ALIGN).ok()
}

/// The free blocks of this thread: per class, a list linked through the blocks' first
/// word, and its length.
struct Pool {
    heads: [Cell<Option<NonNull<u8>>>; CLASSES],
    lens: [Cell<usize>; CLASSES],
}

impl Pool {
    #[inline]
    fn pop(&self, class: usize) -> Option<NonNull<u8>> {
        let (head, len) = (self.heads.get(class)?, self.lens.get(class)?);
        let block = head.get()?;
        // SAFETY: a free block's first word links the next one (`push`); every block is
        // at least 64 bytes and 16-aligned.
        head.set(unsafe { block.cast::<Option<NonNull<u8>>>().as_ptr().read() });
        len.set(len.get().saturating_sub(1));
        Some(block)
    }

    /// Keeps `block`; `false` when its class has [`KEEP`] blocks already.
    #[inline]
    fn push(&self, class: usize, block: NonNull<u8>) -> bool {
        let (Some(head), Some(len)) = (self.heads.get(class), self.lens.get(class)) else {
            return false;
        };
        if len.get() >= KEEP {
            return false;
        }
        // SAFETY: the block is free (its future was dropped) and only this list holds it:
        // its first word can link the list.
        unsafe {
            block
                .cast::<Option<NonNull<u8>>>()
                .as_ptr()
                .write(head.get())
        };
        head.set(Some(block));
        len.set(len.get() + 1);
        true
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for class in 0..CLASSES {
            while let Some(block) = self.pop(class) {
                free(block, class);
            }
        }
    }
}

thread_local! {
    static POOL: Pool = const {
        Pool {
            heads: [const { Cell::new(None) }; CLASSES],
            lens: [const { Cell::new(0) }; CLASSES],
        }
    };
}

/// A block of `class` for a new future: a free one of this thread's, else a new one;
/// `None` for no class.
#[inline]
fn take(class: usize) -> Option<NonNull<u8>> {
    if class >= CLASSES {
        return None;
    }
    match POOL.try_with(|pool| pool.pop(class)) {
        Ok(Some(block)) => Some(block),
        // SAFETY: the layout has a non-zero size.
        _ => NonNull::new(unsafe { alloc::alloc(block_layout(class)?) }),
    }
}

/// Keeps the block of a dropped future for the next one, or frees it.
#[inline]
fn release(block: NonNull<u8>, class: usize) {
    if !POOL
        .try_with(|pool| pool.push(class, block))
        .unwrap_or(false)
    {
        free(block, class);
    }
}

fn free(block: NonNull<u8>, class: usize) {
    if let Some(layout) = block_layout(class) {
        // SAFETY: `take` allocated the block with this layout, and nothing uses it now.
        unsafe { alloc::dealloc(block.as_ptr(), layout) };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::handler::HandlerError;

    fn poll_once(f: &mut HandlerFuture) -> Poll<Outcome> {
        Pin::new(f).poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
    }

    fn pooled(f: &HandlerFuture) -> Option<(*const u8, usize)> {
        match &f.0 {
            Inner::Pooled { future, class } => Some((future.cast::<u8>().as_ptr(), *class)),
            Inner::Boxed(_) => None,
        }
    }

    /// Counts its drops; holds `N` bytes.
    struct Held<const N: usize>([u8; N], Arc<AtomicUsize>);
    impl<const N: usize> Drop for Held<N> {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A future of the size of `held` that drops it and ends.
    fn ending<const N: usize>(held: Held<N>) -> HandlerFuture {
        HandlerFuture::new(async move {
            drop(held);
            Ok(None)
        })
    }

    #[test]
    fn a_dropped_futures_block_is_taken_by_the_next_future_of_its_class() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut first = ending(Held([7u8; 100], Arc::clone(&drops)));
        let (block, class) = pooled(&first).expect("a 100-byte future is pooled");
        assert!(matches!(poll_once(&mut first), Poll::Ready(Ok(None))));
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped by the future");
        drop(first);
        let second = ending(Held([8u8; 100], Arc::clone(&drops)));
        assert_eq!(
            pooled(&second),
            Some((block, class)),
            "the block was reused"
        );
        drop(second);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "dropped with the future");
    }

    #[test]
    fn the_future_is_dropped_once_whether_it_ended_or_not() {
        let drops = Arc::new(AtomicUsize::new(0));
        let held = Held([0u8; 300], Arc::clone(&drops));
        let waiting = HandlerFuture::new(async move {
            let _held = held;
            futures::future::pending::<()>().await;
            Ok(None)
        });
        assert!(pooled(&waiting).is_some());
        drop(waiting);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn large_zero_sized_and_over_aligned_futures_are_boxed() {
        let big = [1u8; 8192];
        let mut large =
            HandlerFuture::new(async move { Err(HandlerError::Failed(format!("{}", big.len()))) });
        assert!(pooled(&large).is_none());
        assert!(
            matches!(poll_once(&mut large), Poll::Ready(Err(HandlerError::Failed(n))) if n == "8192")
        );
        struct Zero;
        impl Future for Zero {
            type Output = Outcome;
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Outcome> {
                Poll::Ready(Ok(None))
            }
        }
        let mut zero = HandlerFuture::new(Zero);
        assert!(pooled(&zero).is_none());
        assert!(matches!(poll_once(&mut zero), Poll::Ready(Ok(None))));
        #[repr(align(64))]
        struct Aligned(u8);
        let a = Aligned(3);
        let mut aligned = HandlerFuture::new(async move {
            let a = a;
            Err(HandlerError::Failed(a.0.to_string()))
        });
        assert!(pooled(&aligned).is_none());
        assert!(
            matches!(poll_once(&mut aligned), Poll::Ready(Err(HandlerError::Failed(n))) if n == "3")
        );
    }

    #[test]
    fn a_future_made_on_one_thread_is_polled_and_dropped_on_another() {
        let drops = Arc::new(AtomicUsize::new(0));
        let held = Held([1u8; 200], Arc::clone(&drops));
        let mut f = HandlerFuture::new(async move {
            let _held = held;
            Err(HandlerError::Failed("there".into()))
        });
        assert!(pooled(&f).is_some());
        let polled = std::thread::spawn(move || {
            let polled = poll_once(&mut f);
            drop(f);
            polled
        })
        .join()
        .expect("the thread");
        assert!(matches!(polled, Poll::Ready(Err(HandlerError::Failed(s))) if s == "there"));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_class_is_the_smallest_block_that_fits() {
        let class = |size, align| Layout::from_size_align(size, align).map(class_of);
        assert_eq!(class(0, 1), Ok(CLASSES), "zero-sized: boxed");
        assert_eq!(class(1, 1), Ok(0));
        assert_eq!(class(64, 16), Ok(0));
        assert_eq!(class(65, 8), Ok(1));
        assert_eq!(class(4096, 16), Ok(CLASSES - 1));
        assert_eq!(class(4097, 16), Ok(CLASSES), "too large: boxed");
        assert_eq!(class(64, 32), Ok(CLASSES), "over-aligned: boxed");
        assert_eq!(SMALLEST << (CLASSES - 1), 4096, "the module docs say 4 KiB");
    }

    #[test]
    fn a_thread_keeps_at_most_keep_blocks_per_class() {
        let many: Vec<HandlerFuture> = (0..KEEP + 10)
            .map(|i| HandlerFuture::new(async move { Err(HandlerError::Failed(i.to_string())) }))
            .collect();
        drop(many);
        let kept = POOL.with(|p| p.lens.iter().map(Cell::get).max().unwrap_or(0));
        assert_eq!(kept, KEEP);
    }

    #[test]
    fn a_panic_while_polling_leaves_the_future_droppable() {
        let drops = Arc::new(AtomicUsize::new(0));
        let held = Held([0u8; 64], Arc::clone(&drops));
        fn boom() -> Outcome {
            panic!("told to")
        }
        let mut f = HandlerFuture::new(async move {
            let _held = held;
            boom()
        });
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut f)));
        assert!(caught.is_err());
        drop(f);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
