//! Fixed-bucket histograms the driver keeps on its hot path: how many
//! ports each write batch carries, and how long from the kernel's
//! notification being received to the write that publishes it being
//! acknowledged.
//!
//! It decides the buckets and counts observations; it does not export
//! anything (the daemon's metrics endpoint reads them), allocate, or read a
//! clock.

/// Upper bounds of [`DriverMetrics::write_batch_ops`]: writes per batch.
pub const BATCH_BOUNDS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// Upper bounds of [`DriverMetrics::event_to_write_ms`], in milliseconds
/// (the driver's clock counts milliseconds: 0 is "within the same one").
pub const LATENCY_BOUNDS_MS: [u64; 13] = [0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000];

/// A histogram with `N` fixed upper bounds and one more bucket above them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram<const N: usize> {
    bounds: [u64; N],
    /// Observations per bucket (not cumulative); `counts[i]` ≤ `bounds[i]`.
    counts: [u64; N],
    above: u64,
    sum: u64,
}

impl<const N: usize> Histogram<N> {
    /// Empty, with these upper bounds (ascending).
    pub const fn new(bounds: [u64; N]) -> Self {
        Self { bounds, counts: [0; N], above: 0, sum: 0 }
    }

    /// One observation.
    pub fn observe(&mut self, value: u64) {
        self.sum = self.sum.saturating_add(value);
        match self.bounds.iter().position(|&b| value <= b) {
            Some(i) => self.counts[i] = self.counts[i].saturating_add(1),
            None => self.above = self.above.saturating_add(1),
        }
    }

    /// `(upper bound, observations at or below it)` per bucket, cumulative
    /// as Prometheus counts them (`+Inf` is [`count`](Self::count)).
    pub fn cumulative(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut running = 0u64;
        self.bounds.iter().zip(self.counts.iter()).map(move |(&b, &c)| {
            running = running.saturating_add(c);
            (b, running)
        })
    }

    /// `(upper bound, observations in this bucket alone)` per bucket.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.bounds.iter().copied().zip(self.counts.iter().copied())
    }

    /// Observations above the highest bound.
    pub const fn above(&self) -> u64 {
        self.above
    }

    /// All observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(self.above, |a, &c| a.saturating_add(c))
    }

    /// Their sum.
    pub const fn sum(&self) -> u64 {
        self.sum
    }
}

/// What the driver measures as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverMetrics {
    /// Writes per batch sent (decided writes: ports, markers).
    pub write_batch_ops: Histogram<11>,
    /// From receiving the first notification of a batch to the write that
    /// publishes it being acknowledged (kept by an unreachable backend
    /// counts as acknowledged: it is the driver's work that is measured).
    pub event_to_write_ms: Histogram<13>,
}

impl Default for DriverMetrics {
    fn default() -> Self {
        Self::NEW
    }
}

impl DriverMetrics {
    /// Nothing observed, in a `const`.
    pub const NEW: Self = Self {
        write_batch_ops: Histogram::new(BATCH_BOUNDS),
        event_to_write_ms: Histogram::new(LATENCY_BOUNDS_MS),
    };
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn observations_fall_in_their_bucket_and_accumulate() {
        let mut h = Histogram::new([1, 10, 100]);
        for v in [0, 1, 5, 10, 50, 1000] {
            h.observe(v);
        }
        let cumulative: [(u64, u64); 3] = {
            let mut it = h.cumulative();
            [it.next().unwrap(), it.next().unwrap(), it.next().unwrap()]
        };
        assert_eq!(cumulative, [(1, 2), (10, 4), (100, 5)]);
        assert_eq!((h.count(), h.sum()), (6, 1066));
    }
}
