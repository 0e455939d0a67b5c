//! Mini-batches prepared one step ahead: while the training step runs on
//! the batch it was given, a helper thread gathers and converts the next one
//! (indices → f32 pixels on the host), so the step never waits for its
//! input. The training thread turns them into tensors (on the CPU a move, on
//! a GPU the upload), so only it touches the device.
//!
//! Order and contents are exactly those of preparing each batch in turn:
//! batches are built in order by one thread and handed over through a
//! channel of capacity one, so results do not depend on timing.

use std::sync::mpsc;

use crate::error::Result;

/// Calls `step(index, chunk, prepared)` for every chunk of `order` of
/// `batch` indices (the last may be shorter), in order, where `prepared` is
/// `prepare(chunk)` built on a helper thread at most two batches ahead. The
/// first error, of `prepare` or of `step`, ends the loop and is returned;
/// the helper stops with it.
pub fn for_each_batch<T: Send>(
    order: &[usize],
    batch: usize,
    prepare: impl Fn(&[usize]) -> Result<T> + Sync,
    mut step: impl FnMut(usize, &[usize], T) -> Result<()>,
) -> Result<()> {
    let batch = batch.max(1);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Result<T>>(1);
        let prepare = &prepare;
        s.spawn(move || {
            for chunk in order.chunks(batch) {
                let item = prepare(chunk);
                let failed = item.is_err();
                // A closed channel: the loop below has stopped.
                if tx.send(item).is_err() || failed {
                    return;
                }
            }
        });
        for (i, chunk) in order.chunks(batch).enumerate() {
            // The helper sends one item per chunk unless it failed (then
            // the error is the last item) or the receiver left.
            let item = rx.recv().expect("batch loader stopped early")?;
            step(i, chunk, item)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn same_batches_in_order() {
        let order: Vec<usize> = (0..103).rev().collect();
        let mut seen = Vec::new();
        for_each_batch(
            &order,
            10,
            |c| Ok(c.iter().map(|&i| i * 2).collect::<Vec<_>>()),
            |i, chunk, doubled| {
                assert_eq!(chunk, &order[i * 10..(i * 10 + 10).min(103)]);
                assert_eq!(doubled, chunk.iter().map(|&i| i * 2).collect::<Vec<_>>());
                seen.push(i);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..11).collect::<Vec<_>>());
    }

    #[test]
    fn errors_stop_the_loop_and_the_helper() {
        let order: Vec<usize> = (0..100).collect();
        // A failing prepare: its error is returned, later batches are not built.
        let built = AtomicUsize::new(0);
        let mut steps = 0;
        let r = for_each_batch(
            &order,
            10,
            |c| {
                built.fetch_add(1, Ordering::SeqCst);
                if c[0] == 30 {
                    Err(Error::Invalid("bad batch".into()))
                } else {
                    Ok(())
                }
            },
            |_, _, ()| {
                steps += 1;
                Ok(())
            },
        );
        assert!(matches!(r, Err(Error::Invalid(m)) if m == "bad batch"));
        assert_eq!((steps, built.load(Ordering::SeqCst)), (3, 4));
        // A failing step: returned; the helper gets at most two batches further.
        let built = AtomicUsize::new(0);
        let r = for_each_batch(
            &order,
            10,
            |_| {
                built.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
            |i, _, ()| if i == 2 { Err(Error::Invalid("bad step".into())) } else { Ok(()) },
        );
        assert!(matches!(r, Err(Error::Invalid(m)) if m == "bad step"));
        assert!(built.load(Ordering::SeqCst) <= 5);
    }
}
